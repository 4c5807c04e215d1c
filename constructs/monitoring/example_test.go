package monitoring_test

import (
	"fmt"
	"sort"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/secure-smart-city/platform/constructs/monitoring"
)

// alarmNames prints the stack's alarms: name, and how many actions on ALARM and on OK.
func alarmNames(app awscdk.App, stack string) {
	template := app.Synth(nil).GetStackByName(jsii.String(stack)).Template()
	var out []string
	for _, r := range template.(map[string]any)["Resources"].(map[string]any) {
		res := r.(map[string]any)
		if res["Type"] == "AWS::CloudWatch::Alarm" {
			props := res["Properties"].(map[string]any)
			out = append(out, fmt.Sprint(props["AlarmName"], " ", len(props["AlarmActions"].([]any)), " ", len(props["OKActions"].([]any))))
		}
	}
	sort.Strings(out)
	for _, l := range out {
		fmt.Println(l)
	}
}

// An alarm on any metric: its name starts with the prefix, and it notifies the alert topic
// when it fires and when it recovers.
func ExampleThresholdAlarm() {
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("Example"), nil)
	topic := awssns.Topic_FromTopicArn(stack, jsii.String("Alerts"), jsii.String("arn:aws:sns:eu-central-1:111111111111:alerts"))
	alarms := constructs.NewConstruct(stack, jsii.String("Alarms"))

	monitoring.ThresholdAlarm(alarms, awscloudwatchactions.NewSnsAction(topic), "Example-dev", monitoring.Threshold{
		Name:        "ParkingRejects",
		Description: "parking messages rejected",
		Metric: awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace: jsii.String("Example"), MetricName: jsii.String("Rejected"), Statistic: jsii.String("Sum"),
		}),
		Threshold: 1,
	})

	alarmNames(app, "Example")
	// Output: Example-dev-ParkingRejects 1 1
}

// A function's alarms, from an imported function: errors, throttles, duration near the
// timeout, and its failure queue.
func ExampleFunctionAlarms() {
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("Example"), nil)
	topic := awssns.Topic_FromTopicArn(stack, jsii.String("Alerts"), jsii.String("arn:aws:sns:eu-central-1:111111111111:alerts"))
	alarms := constructs.NewConstruct(stack, jsii.String("Alarms"))
	fn := awslambda.Function_FromFunctionArn(stack, jsii.String("Fn"), jsii.String("arn:aws:lambda:eu-central-1:111111111111:function:parking"))
	failures := awssqs.Queue_FromQueueArn(stack, jsii.String("Failures"), jsii.String("arn:aws:sqs:eu-central-1:111111111111:parking-failures"))

	monitoring.FunctionAlarms(alarms, awscloudwatchactions.NewSnsAction(topic), "Example-dev", monitoring.Function{
		Name: "Parking", Function: fn, Timeout: 30 * time.Second, Failures: failures,
	})

	alarmNames(app, "Example")
	// Output:
	// Example-dev-Parking-DurationNearTimeout 1 1
	// Example-dev-Parking-Errors 1 1
	// Example-dev-Parking-Throttles 1 1
	// Example-dev-ParkingFailures-MessagesWaiting 1 1
}

// The Control Center takes every section explicitly; the alarm status widget shows the alarms
// given, in their order.
func ExampleNewControlCenter() {
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("Example"), nil)
	topic := awssns.Topic_FromTopicArn(stack, jsii.String("Alerts"), jsii.String("arn:aws:sns:eu-central-1:111111111111:alerts"))
	alarms := constructs.NewConstruct(stack, jsii.String("Alarms"))
	dlq := monitoring.Queue{Name: "RuleErrors", Queue: awssqs.Queue_FromQueueArn(stack, jsii.String("DLQ"), jsii.String("arn:aws:sqs:eu-central-1:111111111111:rule-errors"))}
	alarm := monitoring.QueueAlarm(alarms, awscloudwatchactions.NewSnsAction(topic), "Example-dev", dlq)

	cc := monitoring.NewControlCenter(stack, "ControlCenter", &monitoring.ControlCenterProps{
		DashboardName: "Example-dev-ControlCenter",
		Alarms:        []awscloudwatch.IAlarm{alarm},
		Pipeline:      monitoring.Pipeline{DeadLetters: []monitoring.Queue{dlq}},
	})

	fmt.Println(*cc.Node().Path(), len(*cc.Node().Validate()))
	// Output: Example/ControlCenter 0
}
