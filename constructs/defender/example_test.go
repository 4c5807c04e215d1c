package defender_test

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/secure-smart-city/platform/constructs/defender"
	"github.com/secure-smart-city/platform/constructs/monitoring"
	"github.com/secure-smart-city/platform/fleetspec"
)

// Device Defender for a fleet: the audit configuration and schedules, the mitigation actions,
// and the functions that remediate audit findings and quarantine misbehaving certificates.
// The alert topic, key, log group and budget table come from elsewhere (here, imported). The
// stack builds the security alarms the quarantine function acts on, one per detection, and the
// alarms on the Defender's functions and dead-letter queue.
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
	topic := awssns.Topic_FromTopicArn(stack, jsii.String("Alerts"), jsii.String("arn:aws:sns:eu-central-1:111111111111:alerts"))
	alarms := constructs.NewConstruct(stack, jsii.String("Alarms"))
	action := awscloudwatchactions.NewSnsAction(topic)

	props := &defender.Props{
		AlertTopic:            topic,
		EncryptionKey:         awskms.Key_FromKeyArn(stack, jsii.String("Key"), jsii.String("arn:aws:kms:eu-central-1:111111111111:key/11111111-2222-3333-4444-555555555555")),
		Fleet:                 fleet,
		NamePrefix:            "smartcity_dev",
		QuarantineGroupName:   "smartcity_dev_quarantine",
		QuarantineGroupArn:    "arn:aws:iot:eu-central-1:111111111111:thinggroup/smartcity_dev_quarantine",
		IoTLogs:               awslogs.LogGroup_FromLogGroupName(stack, jsii.String("IoTLogs"), jsii.String("AWSIotLogsV2")),
		QuarantineBudgetTable: awsdynamodb.Table_FromTableName(stack, jsii.String("Budget"), jsii.String("device-state")),
	}
	for _, det := range defender.Detections(props) {
		props.SecurityAlarms = append(props.SecurityAlarms, monitoring.ThresholdAlarm(alarms, action, "Example-dev", monitoring.Threshold{
			Name: "Security-" + det.ID, Description: det.Description, Metric: det.Metric, Threshold: det.Threshold,
		}))
	}
	d := defender.New(stack, "Defender", props)
	monitoring.QueueAlarm(alarms, action, "Example-dev", monitoring.Queue{Name: "RemediationDeadLetters", Queue: d.DeadLetters.Resource})

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
	// AWS::CloudWatch::Alarm 3
}

// The security alarms a Defender needs: one per detection, on a fleet total from the AWS IoT
// logs, at the device threshold.
func ExampleDetections() {
	threshold := 3
	for _, det := range defender.Detections(&defender.Props{DeviceThreshold: &threshold}) {
		m := det.Metric.(awscloudwatch.Metric)
		fmt.Println(det.ID, *m.Namespace(), *m.MetricName(), det.Threshold)
	}
	// Output:
	// AuthorizationFailures SmartCity/Security AuthorizationFailures 3
	// DuplicateClientIds SmartCity/Security DuplicateClientIds 3
}
