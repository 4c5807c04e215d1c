// Package parks shows a team outside the platform's module building its own Go handler with
// the platform's golambda construct: ModuleDir is this module, Entry its main package.
package parks

import (
	"fmt"
	"os"
	"sort"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/jsii-runtime-go"

	"github.com/secure-smart-city/platform/constructs/golambda"
)

// A Go function built from this module's handler package: the local toolchain compiles it
// for arm64 (no Docker), and the construct adds the platform's defaults (encrypted logs and
// environment, bounded concurrency, tracing).
func Example() {
	dir, err := os.Getwd() // go test runs in this module's root
	if err != nil {
		panic(err)
	}
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("Parks"), nil)
	key := awskms.Key_FromKeyArn(stack, jsii.String("Key"),
		jsii.String("arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"))

	fn := golambda.New(stack, "Irrigation", &golambda.Props{
		ModuleDir:     dir,
		Entry:         "handler",
		EncryptionKey: key,
		MemoryMiB:     128,
	})

	template := app.Synth(nil).GetStackByName(jsii.String("Parks")).Template().(map[string]any)
	var types []string
	for _, r := range template["Resources"].(map[string]any) {
		types = append(types, r.(map[string]any)["Type"].(string))
	}
	sort.Strings(types)
	fmt.Println(types)
	fmt.Println(*fn.Resource.Runtime().Name())
	// Output:
	// [AWS::IAM::Policy AWS::IAM::Role AWS::Lambda::Function AWS::Logs::LogGroup]
	// provided.al2023
}
