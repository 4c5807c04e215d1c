package stacks

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Operations holds what watches and acts: alarms, the dashboard, Device Defender and the
// command API.
type Operations struct {
	awscdk.Stack
}

// NewOperations builds the Operations stack.
func NewOperations(scope constructs.Construct, cfg Config, f *Foundation, in *Ingestion) *Operations {
	stack := awscdk.NewStack(scope, jsii.String(cfg.StackName("Operations")),
		cfg.stackProps("Operations", "Smart city IoT platform: alarms, dashboard, Device Defender and command API"))
	alert := awscloudwatchactions.NewSnsAction(f.AlertTopic.Topic)
	alarm := func(id, description string, metric awscloudwatch.IMetric) {
		a := awscloudwatch.NewAlarm(stack, jsii.String(id), &awscloudwatch.AlarmProps{
			AlarmDescription:   jsii.String(description),
			Metric:             metric,
			Threshold:          jsii.Number(0),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
			EvaluationPeriods:  jsii.Number(1),
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
		a.AddAlarmAction(alert)
	}
	alarm("DeviceStateThrottles", "DynamoDB throttled requests on the device state table: processors are retrying and telemetry is delayed. Check the table's consumed capacity and the telemetry processor's errors.",
		f.DeviceState.MetricThrottledRequests(nil))
	alarm("RuleErrorsWaiting", "Topic rule actions failed and their messages are in the rule dead-letter queue: telemetry did not reach the stream. Read a message (it names the rule, topic, client and failure) and redrive it.",
		in.RuleErrors.MetricMessagesVisible(&awscloudwatch.MetricOptions{Statistic: jsii.String("Maximum"), Period: awscdk.Duration_Minutes(jsii.Number(5))}))
	return &Operations{Stack: stack}
}
