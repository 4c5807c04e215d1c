package monitoring_test

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/jsii-runtime-go"

	"github.com/secure-smart-city/platform/constructs/monitoring"
)

// An alarm on any metric: its name starts with the prefix, and it notifies the alert topic
// when it fires and when it recovers.
func ExampleNew() {
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("Example"), nil)
	topic := awssns.NewTopic(stack, jsii.String("Alerts"), nil)

	m := monitoring.New(stack, "Alarms", &monitoring.Props{AlertTopic: topic, Prefix: "Example-dev"})
	m.WatchMetric("ParkingRejects", "parking messages rejected", awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace:  jsii.String("Example"),
		MetricName: jsii.String("Rejected"),
	}), 1)

	template := app.Synth(nil).GetStackByName(jsii.String("Example")).Template()
	for _, r := range template.(map[string]any)["Resources"].(map[string]any) {
		res := r.(map[string]any)
		if res["Type"] == "AWS::CloudWatch::Alarm" {
			props := res["Properties"].(map[string]any)
			fmt.Println(props["AlarmName"], len(props["AlarmActions"].([]any)), len(props["OKActions"].([]any)))
		}
	}
	// Output: Example-dev-ParkingRejects 1 1
}
