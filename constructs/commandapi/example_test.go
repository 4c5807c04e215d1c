package commandapi_test

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/jsii-runtime-go"

	"github.com/secure-smart-city/platform/constructs/commandapi"
	"github.com/secure-smart-city/platform/constructs/keys"
	"github.com/secure-smart-city/platform/fleetspec"
	"github.com/secure-smart-city/platform/lambdas/command/contract"
)

// The command API over tables another stack owns: a REST API whose resource policy admits only
// the fleet file's operators, behind a web ACL, with encrypted access, execution and WAF logs.
func ExampleNew() {
	fleet, err := fleetspec.Load("../../config/fleet.dev.json")
	if err != nil {
		fmt.Println(err)
		return
	}
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("Example"), nil)
	key := keys.New(stack, "Key", &keys.Props{Alias: jsii.String("alias/example/api"), Services: []keys.Service{keys.ServiceLogs}})

	commandapi.New(stack, "CommandApi", &commandapi.Props{
		Fleet:           fleet,
		ThingTypePrefix: "smartcity_dev",
		EncryptionKey:   key.Resource,
		StateTable:      awsdynamodb.Table_FromTableName(stack, jsii.String("State"), jsii.String("device-state")),
		AuditTable:      awsdynamodb.Table_FromTableName(stack, jsii.String("Audit"), jsii.String("command-audit")),
	})

	template := app.Synth(nil).GetStackByName(jsii.String("Example")).Template()
	count := map[string]int{}
	for _, r := range template.(map[string]any)["Resources"].(map[string]any) {
		count[r.(map[string]any)["Type"].(string)]++
	}
	for _, t := range []string{"AWS::ApiGateway::RestApi", "AWS::WAFv2::WebACL", "AWS::WAFv2::WebACLAssociation", "AWS::Lambda::Function", "AWS::Logs::LogGroup"} {
		fmt.Println(t, count[t])
	}
	// Output:
	// AWS::ApiGateway::RestApi 1
	// AWS::WAFv2::WebACL 1
	// AWS::WAFv2::WebACLAssociation 1
	// AWS::Lambda::Function 1
	// AWS::Logs::LogGroup 4
}

// Alarms on the command function's audit trail are built from the API's metric methods; the
// phases and reasons come from lambdas/command/contract, which the function emits.
func ExampleAPI_MetricAuditWriteFailed() {
	fleet, err := fleetspec.Load("../../config/fleet.dev.json")
	if err != nil {
		fmt.Println(err)
		return
	}
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("Example"), nil)
	key := awskms.Key_FromKeyArn(stack, jsii.String("Key"), jsii.String("arn:aws:kms:eu-west-1:111122223333:key/11111111-2222-3333-4444-555555555555"))
	api := commandapi.New(stack, "CommandApi", &commandapi.Props{
		Fleet:           fleet,
		ThingTypePrefix: "smartcity_dev",
		EncryptionKey:   key,
		StateTable:      awsdynamodb.Table_FromTableName(stack, jsii.String("State"), jsii.String("device-state")),
		AuditTable:      awsdynamodb.Table_FromTableName(stack, jsii.String("Audit"), jsii.String("command-audit")),
	})

	m := api.MetricAuditWriteFailed(contract.KindIntent, nil)
	fmt.Println(*m.Namespace(), *m.MetricName(), (*m.Dimensions())[contract.DimensionPhase], *m.Statistic())
	// Output: SmartCity/Commands AuditWriteFailed intent Sum
}
