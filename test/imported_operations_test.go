package test

import (
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskinesis"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/secure-smart-city/platform/constructs/defender"
	"github.com/secure-smart-city/platform/constructs/monitoring"
)

// TestImportedOperations: Device Defender, every alarm builder and the Control Center in a bare
// stack whose every input is imported (topic, key, table, stream, queue, function, log group,
// role), as another team would use them: it synthesizes without errors, and the alarms and
// the dashboard are there.
func TestImportedOperations(t *testing.T) {
	app := newApp(t, nil)
	stack := awscdk.NewStack(app, jsii.String("ImportedOperations"), &awscdk.StackProps{
		Env: &awscdk.Environment{Account: jsii.String(testAccount), Region: jsii.String(testRegion)},
	})
	arn := func(service, resource string) *string {
		return jsii.String("arn:aws:" + service + ":" + testRegion + ":" + testAccount + ":" + resource)
	}
	topic := awssns.Topic_FromTopicArn(stack, jsii.String("Alerts"), arn("sns", "alerts"))
	key := awskms.Key_FromKeyArn(stack, jsii.String("Key"), arn("kms", "key/11111111-2222-3333-4444-555555555555"))
	table := awsdynamodb.Table_FromTableArn(stack, jsii.String("State"), arn("dynamodb", "table/device-state"))
	stream := awskinesis.Stream_FromStreamArn(stack, jsii.String("Stream"), arn("kinesis", "stream/telemetry"))
	dlq := awssqs.Queue_FromQueueArn(stack, jsii.String("RuleErrors"), arn("sqs", "rule-errors"))
	fn := awslambda.Function_FromFunctionArn(stack, jsii.String("Processor"), arn("lambda", "function:processor"))
	logs := awslogs.LogGroup_FromLogGroupName(stack, jsii.String("IoTLogs"), jsii.String("AWSIotLogsV2"))
	role := awsiam.Role_FromRoleArn(stack, jsii.String("LoggingRole"), jsii.String("arn:aws:iam::"+testAccount+":role/iot-logging"), nil)

	alarms := constructs.NewConstruct(stack, jsii.String("Alarms"))
	action := awscloudwatchactions.NewSnsAction(topic)
	const prefix = "Imported-dev"
	var all []awscloudwatch.IAlarm
	add := func(as ...awscloudwatch.Alarm) {
		for _, a := range as {
			all = append(all, a)
		}
	}
	processor := monitoring.Function{Name: "Processor", Function: fn, Timeout: 30 * time.Second, StreamConsumer: true, Failures: dlq}
	add(monitoring.TableAlarm(alarms, action, prefix, "DeviceState", table))
	add(monitoring.QueueAlarm(alarms, action, prefix, monitoring.Queue{Name: "RuleErrors", Queue: dlq}))
	add(monitoring.FunctionAlarms(alarms, action, prefix, processor)...)
	add(monitoring.StreamAlarms(alarms, action, prefix, monitoring.Stream{Name: "Telemetry", Stream: stream})...)
	add(monitoring.RuleAlarms(alarms, action, prefix, "imported_dev_parking")...)
	add(monitoring.BrokerAlarms(alarms, action, prefix, nil)...)
	count := awscloudwatch.NewMetric(&awscloudwatch.MetricProps{Namespace: jsii.String("Imported"), MetricName: jsii.String("Received"), Statistic: jsii.String("Sum")})
	add(monitoring.RatioAlarm(alarms, action, prefix, monitoring.Ratio{Name: "RejectedRatio", Description: "rejected", Numerator: count, Denominator: count, MaxPercent: 5}))

	props := &defender.Props{
		AlertTopic:            topic,
		EncryptionKey:         key,
		Fleet:                 fleetOf(t),
		NamePrefix:            "imported_dev",
		QuarantineGroupName:   "imported_dev_quarantine",
		QuarantineGroupArn:    *arn("iot", "thinggroup/imported_dev_quarantine"),
		IoTLogs:               logs,
		LoggingRole:           role,
		QuarantineBudgetTable: table,
	}
	for _, det := range defender.Detections(props) {
		a := monitoring.ThresholdAlarm(alarms, action, prefix, monitoring.Threshold{
			Name: "Security-" + det.ID, Description: det.Description, Metric: det.Metric, Threshold: det.Threshold,
		})
		props.SecurityAlarms = append(props.SecurityAlarms, a)
		add(a)
	}
	d := defender.New(stack, "Defender", props)
	add(monitoring.QueueAlarm(alarms, action, prefix, monitoring.Queue{Name: "RemediationDeadLetters", Queue: d.DeadLetters.Resource}))
	if err := validationErrors(d); err != "" {
		t.Errorf("defender with imported resources: %s", err)
	}

	monitoring.NewControlCenter(stack, "ControlCenter", &monitoring.ControlCenterProps{
		DashboardName: prefix + "-ControlCenter",
		Alarms:        all,
		Pipeline: monitoring.Pipeline{
			Functions:   []monitoring.Function{processor},
			Streams:     []monitoring.Stream{{Name: "Telemetry", Stream: stream}},
			DeadLetters: []monitoring.Queue{{Name: "RuleErrors", Queue: dlq}},
			Rules:       []string{"imported_dev_parking"},
		},
		IoTLogs:  logs,
		Security: d.SecurityMetrics(),
	})

	tmpl := templateOf(t, app, "ImportedOperations")
	if got := len(tmpl.Resources("AWS::CloudWatch::Alarm")); got != len(all) {
		t.Errorf("%d alarms, want %d", got, len(all))
	}
	for _, typ := range []string{"AWS::CloudWatch::Dashboard", "AWS::IoT::AccountAuditConfiguration"} {
		if n := len(tmpl.Resources(typ)); n != 1 {
			t.Errorf("%d %s, want 1", n, typ)
		}
	}
	if n := len(tmpl.Resources("AWS::Lambda::Function")); n != 2 {
		t.Errorf("%d functions, want the two remediation functions", n)
	}
	for _, a := range tmpl.Resources("AWS::CloudWatch::Alarm") {
		if name := fmt.Sprint(a.Properties["AlarmName"]); len(name) < len(prefix) || name[:len(prefix)] != prefix {
			t.Errorf("alarm %s does not start with %s", name, prefix)
		}
	}
}
