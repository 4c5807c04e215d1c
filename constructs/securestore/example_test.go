package securestore_test

import (
	"fmt"
	"sort"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
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

// A stack that only references another stack's table imports it with its key: the grant on
// the import chains the key grant, as it does on a Table.
func ExampleTableFromAttributes() {
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("Consumer"), nil)
	key := awskms.Key_FromKeyArn(stack, jsii.String("Key"),
		jsii.String("arn:aws:kms:eu-central-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"))
	table := securestore.TableFromAttributes(stack, "State", &securestore.TableAttributes{
		TableArn:      jsii.String("arn:aws:dynamodb:eu-central-1:111111111111:table/state"),
		EncryptionKey: key,
	})
	reader := awsiam.NewRole(stack, jsii.String("Reader"), &awsiam.RoleProps{
		AssumedBy: awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
	})
	table.GrantReadData(reader)

	template := app.Synth(nil).GetStackByName(jsii.String("Consumer")).Template()
	for _, r := range template.(map[string]any)["Resources"].(map[string]any) {
		r := r.(map[string]any)
		if r["Type"] != "AWS::IAM::Policy" {
			continue
		}
		for _, st := range r["Properties"].(map[string]any)["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			st := st.(map[string]any)
			if st["Resource"] == *key.KeyArn() {
				fmt.Println(st["Action"])
			}
		}
	}
	// Output: [kms:Decrypt kms:DescribeKey]
}
