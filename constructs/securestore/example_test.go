package securestore_test

import (
	"fmt"
	"sort"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/secure-smart-city/platform/constructs/securestore"
)

// A table with only a partition key: it gets its own customer-managed key (with an alias), point-in-time
// recovery, on-demand billing and a RETAIN policy without asking.
func ExampleNewTable() {
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("Example"), nil)

	securestore.NewTable(stack, "Readings", &securestore.TableProps{PartitionKey: "deviceId"})

	template := app.Synth(nil).GetStackByName(jsii.String("Example")).Template()
	var types []string
	for _, r := range template.(map[string]any)["Resources"].(map[string]any) {
		types = append(types, r.(map[string]any)["Type"].(string))
	}
	sort.Strings(types)
	fmt.Println(types)
	// Output: [AWS::DynamoDB::Table AWS::KMS::Alias AWS::KMS::Key]
}
