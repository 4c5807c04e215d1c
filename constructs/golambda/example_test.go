package golambda_test

import (
	"fmt"
	"sort"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/jsii-runtime-go"

	"github.com/secure-smart-city/platform/constructs/golambda"
)

// A Go function built from one of this module's main packages, without Docker: an arm64
// binary, an encrypted environment and log group with a retention, a reserved concurrency.
func ExampleNew() {
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("Example"), nil)
	key := awskms.NewKey(stack, jsii.String("Key"), nil)

	golambda.New(stack, "Telemetry", &golambda.Props{Entry: "lambdas/telemetry", EncryptionKey: key})

	template := app.Synth(nil).GetStackByName(jsii.String("Example")).Template()
	var types []string
	for _, r := range template.(map[string]any)["Resources"].(map[string]any) {
		types = append(types, r.(map[string]any)["Type"].(string))
	}
	sort.Strings(types)
	fmt.Println(types)
	// Output: [AWS::IAM::Policy AWS::IAM::Role AWS::KMS::Key AWS::Lambda::Function AWS::Logs::LogGroup]
}
