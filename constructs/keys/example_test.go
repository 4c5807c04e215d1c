package keys_test

import (
	"fmt"
	"sort"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/secure-smart-city/platform/constructs/keys"
)

// A key for a team's log groups: rotation on, RETAIN, an alias, and a key policy statement that
// lets this account's CloudWatch Logs use it.
func ExampleNew() {
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("Example"), nil)

	keys.New(stack, "LogsKey", &keys.Props{
		Alias:    jsii.String("alias/example/logs"),
		Services: []keys.Service{keys.ServiceLogs},
	})

	template := app.Synth(nil).GetStackByName(jsii.String("Example")).Template()
	var types []string
	for _, r := range template.(map[string]any)["Resources"].(map[string]any) {
		types = append(types, r.(map[string]any)["Type"].(string))
	}
	sort.Strings(types)
	fmt.Println(types)
	// Output: [AWS::KMS::Alias AWS::KMS::Key]
}

// A key created elsewhere, imported by its ARN: grants add IAM statements on it, and no key
// or alias resource is created.
func ExampleFromKeyArn() {
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("Consumer"), nil)
	key := keys.FromKeyArn(stack, "Platform", "arn:aws:kms:eu-central-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab")
	fmt.Println(*key.KeyID())
	fmt.Println(len(*key.Node().Validate()), "props errors")
	// Output:
	// 1234abcd-12ab-34cd-56ef-1234567890ab
	// 0 props errors
}
