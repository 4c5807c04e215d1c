package defender_test

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/jsii-runtime-go"

	"github.com/secure-smart-city/platform/constructs/defender"
	"github.com/secure-smart-city/platform/constructs/keys"
	"github.com/secure-smart-city/platform/constructs/monitoring"
	"github.com/secure-smart-city/platform/fleetspec"
)

// Device Defender for a fleet: the audit configuration and schedules, the mitigation actions,
// and the functions that remediate audit findings and quarantine misbehaving certificates.
// The alert topic, log group and budget table come from elsewhere (here, imported by name).
func ExampleNew() {
	fleet, err := fleetspec.Load("../../config/fleet.dev.json")
	if err != nil {
		fmt.Println(err)
		return
	}
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("Example"), &awscdk.StackProps{
		Env: &awscdk.Environment{Account: jsii.String("111111111111"), Region: jsii.String("eu-central-1")},
	})
	key := keys.New(stack, "Key", &keys.Props{Alias: jsii.String("alias/example/defender"), Services: []keys.Service{keys.ServiceLogs}})
	topic := awssns.Topic_FromTopicArn(stack, jsii.String("Alerts"), jsii.String("arn:aws:sns:eu-central-1:111111111111:alerts"))

	defender.New(stack, "Defender", &defender.Props{
		AlertTopic:    topic,
		Monitoring:    monitoring.New(stack, "Alarms", &monitoring.Props{AlertTopic: topic, Prefix: "Example-dev"}),
		EncryptionKey: key.Key,
		Fleet:         fleet,
		NamePrefix:    "smartcity_dev",
		QuarantineGroup: defender.ThingGroup{
			Name: jsii.String("smartcity_dev_quarantine"),
			Arn:  jsii.String("arn:aws:iot:eu-central-1:111111111111:thinggroup/smartcity_dev_quarantine"),
		},
		IoTLogs:               awslogs.LogGroup_FromLogGroupName(stack, jsii.String("IoTLogs"), jsii.String("AWSIotLogsV2")),
		QuarantineBudgetTable: awsdynamodb.Table_FromTableName(stack, jsii.String("Budget"), jsii.String("device-state")),
	})

	template := app.Synth(nil).GetStackByName(jsii.String("Example")).Template()
	count := map[string]int{}
	for _, r := range template.(map[string]any)["Resources"].(map[string]any) {
		count[r.(map[string]any)["Type"].(string)]++
	}
	for _, t := range []string{"AWS::IoT::AccountAuditConfiguration", "AWS::IoT::ScheduledAudit", "AWS::IoT::MitigationAction", "AWS::Lambda::Function", "AWS::CloudWatch::Alarm"} {
		fmt.Println(t, count[t])
	}
	// Output:
	// AWS::IoT::AccountAuditConfiguration 1
	// AWS::IoT::ScheduledAudit 2
	// AWS::IoT::MitigationAction 4
	// AWS::Lambda::Function 2
	// AWS::CloudWatch::Alarm 11
}
