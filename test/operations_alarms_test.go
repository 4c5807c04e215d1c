package test

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/google/go-cmp/cmp"

	"github.com/secure-smart-city/platform/compliance"
	"github.com/secure-smart-city/platform/constructs/golambda"
	"github.com/secure-smart-city/platform/constructs/monitoring"
	"github.com/secure-smart-city/platform/fleetspec"
	"github.com/secure-smart-city/platform/lambdas/remediation/contract"
)

// alarmSig is what an alarm watches and how it decides.
type alarmSig struct {
	Metric     string // "namespace metric stat period [dims]" or "expr: <expression> [sub-metrics]"
	Threshold  float64
	Op         string
	Missing    string
	Evaluation [2]float64 // evaluation periods, datapoints to alarm
}

func dimsOf(v any) string {
	var parts []string
	for _, d := range compliance.List(v) {
		val, ok := compliance.Get(d, "Value").(string)
		if !ok {
			val = "<ref>"
		}
		parts = append(parts, fmt.Sprintf("%v=%s", compliance.Get(d, "Name"), val))
	}
	sort.Strings(parts)
	return "[" + strings.Join(parts, " ") + "]"
}

func signature(p map[string]any) alarmSig {
	sig := alarmSig{Op: fmt.Sprint(p["ComparisonOperator"]), Missing: fmt.Sprint(p["TreatMissingData"])}
	sig.Threshold, _ = p["Threshold"].(float64)
	sig.Evaluation[0], _ = p["EvaluationPeriods"].(float64)
	sig.Evaluation[1], _ = p["DatapointsToAlarm"].(float64)
	if name, ok := p["MetricName"].(string); ok {
		stat := p["Statistic"]
		if stat == nil {
			stat = p["ExtendedStatistic"]
		}
		sig.Metric = fmt.Sprintf("%v %s %v %v %s", p["Namespace"], name, stat, p["Period"], dimsOf(p["Dimensions"]))
		return sig
	}
	var expr string
	var subs []string
	for _, m := range compliance.List(p["Metrics"]) {
		if e, ok := compliance.Get(m, "Expression").(string); ok {
			expr = e
			continue
		}
		ms := compliance.Get(m, "MetricStat")
		subs = append(subs, fmt.Sprintf("%v=%v %v %v %v %s", compliance.Get(m, "Id"), compliance.Get(ms, "Metric", "Namespace"), compliance.Get(ms, "Metric", "MetricName"),
			compliance.Get(ms, "Stat"), compliance.Get(ms, "Period"), dimsOf(compliance.Get(ms, "Metric", "Dimensions"))))
	}
	sort.Strings(subs)
	sig.Metric = "expr: " + expr + " " + strings.Join(subs, "; ")
	return sig
}

// expectedAlarms is every alarm the Operations stack must have, by name.
func expectedAlarms(fleet *fleetspec.Fleet) map[string]alarmSig {
	const gt, gte, nb = "GreaterThanThreshold", "GreaterThanOrEqualToThreshold", "notBreaching"
	one := [2]float64{1, 1}
	want := map[string]alarmSig{}
	p := "SmartCity-dev-"
	throttled := "expr: getitem + putitem + updateitem + batchwriteitem + batchgetitem + query " +
		"batchgetitem=AWS/DynamoDB ThrottledRequests Sum 300 [Operation=BatchGetItem TableName=<ref>]; " +
		"batchwriteitem=AWS/DynamoDB ThrottledRequests Sum 300 [Operation=BatchWriteItem TableName=<ref>]; " +
		"getitem=AWS/DynamoDB ThrottledRequests Sum 300 [Operation=GetItem TableName=<ref>]; " +
		"putitem=AWS/DynamoDB ThrottledRequests Sum 300 [Operation=PutItem TableName=<ref>]; " +
		"query=AWS/DynamoDB ThrottledRequests Sum 300 [Operation=Query TableName=<ref>]; " +
		"updateitem=AWS/DynamoDB ThrottledRequests Sum 300 [Operation=UpdateItem TableName=<ref>]"
	for _, table := range []string{"DeviceState", "ProvisioningAllowlist", "CommandAudit"} {
		want[p+table+"-Throttles"] = alarmSig{throttled, 0, gt, nb, one}
	}
	queue := func(name string) {
		want[p+name+"-MessagesWaiting"] = alarmSig{"AWS/SQS ApproximateNumberOfMessagesVisible Maximum 300 [QueueName=<ref>]", 0, gt, nb, one}
	}
	function := func(name string, timeoutMs float64) {
		lambda := func(metric, stat string) string {
			return "AWS/Lambda " + metric + " " + stat + " 300 [FunctionName=<ref>]"
		}
		want[p+name+"-Errors"] = alarmSig{lambda("Errors", "Sum"), 0, gt, nb, one}
		want[p+name+"-Throttles"] = alarmSig{lambda("Throttles", "Sum"), 0, gt, nb, one}
		want[p+name+"-DurationNearTimeout"] = alarmSig{lambda("Duration", "p99"), 0.8 * timeoutMs, gt, nb, [2]float64{3, 2}}
	}
	queue("RuleErrors")
	function("TelemetryProcessor", 30000)
	want[p+"TelemetryProcessor-IteratorAge"] = alarmSig{"AWS/Lambda IteratorAge Maximum 300 [FunctionName=<ref>]", 300000, gt, nb, [2]float64{2, 2}}
	queue("TelemetryProcessorFailures")
	want[p+"TelemetryStream-IteratorAge"] = alarmSig{"AWS/Kinesis GetRecords.IteratorAgeMilliseconds Maximum 300 [StreamName=<ref>]", 300000, gt, "breaching", [2]float64{2, 2}}
	want[p+"TelemetryStream-WriteThrottles"] = alarmSig{"AWS/Kinesis WriteProvisionedThroughputExceeded Sum 300 [StreamName=<ref>]", 0, gt, nb, one}
	for _, c := range fleet.Classes {
		rule := fleet.RulePrefix("dev") + "_" + c.ID
		want[p+"Rule-"+rule+"-Throttled"] = alarmSig{"AWS/IoT RuleMessageThrottled Sum 300 [RuleName=" + rule + "]", 0, gt, nb, one}
		want[p+"Rule-"+rule+"-ParseErrors"] = alarmSig{"AWS/IoT ParseError Sum 300 [RuleName=" + rule + "]", 0, gt, nb, one}
		want[p+"Rule-"+rule+"-ActionFailures"] = alarmSig{`expr: SELECT SUM(Failure) FROM SCHEMA("AWS/IoT", ActionType, RuleName) WHERE RuleName = '` + rule + `' `, 0, gt, nb, one}
		want[p+"Rule-"+rule+"-ErrorActionFailures"] = alarmSig{`expr: SELECT SUM(ErrorActionFailure) FROM SCHEMA("AWS/IoT", ActionType, RuleName) WHERE RuleName = '` + rule + `' `, 0, gt, nb, one}
		want[p+"Telemetry-"+c.ID+"-RejectedRatio"] = alarmSig{"expr: 100 * num / den " +
			"den=SmartCity/Telemetry Received Sum 300 [Class=" + c.ID + "]; num=SmartCity/Telemetry Rejected Sum 300 [Class=" + c.ID + "]",
			5, gt, nb, [2]float64{3, 2}}
	}
	for name, metric := range map[string]string{"AuthenticationFailures": "Connection.AuthNError", "ConnectAuthorizationFailures": "Connect.AuthError",
		"PublishAuthorizationFailures": "PublishIn.AuthError", "SubscribeAuthorizationFailures": "Subscribe.AuthError"} {
		threshold := 5.0
		if name == "AuthenticationFailures" {
			threshold = 100
		}
		want[p+"IoT-"+name] = alarmSig{`expr: SELECT SUM("` + metric + `") FROM SCHEMA("AWS/IoT", Protocol) `, threshold, gte, nb, one}
	}
	for _, m := range []string{contract.MetricAuthorizationFailures, contract.MetricDuplicateClientIDs} {
		id := map[string]string{contract.MetricAuthorizationFailures: "AuthorizationFailures", contract.MetricDuplicateClientIDs: "DuplicateClientIds"}[m]
		want[p+"Security-"+id] = alarmSig{contract.MetricNamespace + " " + m + " Sum 300 []", 5, gte, nb, one}
	}
	function("AuditRemediation", 60000)
	queue("AuditRemediationFailures")
	function("Quarantine", 60000)
	queue("QuarantineFailures")
	queue("RemediationDeadLetters")
	function("CommandProcessor", 10000)
	want[p+"CommandApi-ServerErrors"] = alarmSig{"AWS/ApiGateway 5XXError Sum 300 [ApiName=<api> Stage=<ref>]", 1, gte, nb, one}
	want[p+"CommandApi-AuditIntentWriteFailed"] = alarmSig{"SmartCity/Commands AuditWriteFailed Sum 300 [Phase=intent]", 1, gte, nb, one}
	want[p+"CommandApi-AuditOutcomeWriteFailed"] = alarmSig{"SmartCity/Commands AuditWriteFailed Sum 300 [Phase=outcome]", 1, gte, nb, one}
	// Over-the-air updates (stacks/ota.go): job executions over every JobId.
	want[p+"Ota-FailedExecutions"] = alarmSig{`expr: SELECT SUM(FailedJobExecutionCount) FROM SCHEMA("AWS/IoT", JobId) `, 5, gte, nb, one}
	want[p+"Ota-RejectedExecutions"] = alarmSig{`expr: SELECT SUM(RejectedJobExecutionCount) FROM SCHEMA("AWS/IoT", JobId) `, 1, gte, nb, one}
	want[p+"Ota-CanceledExecutions"] = alarmSig{`expr: SELECT SUM(CanceledJobExecutionCount) FROM SCHEMA("AWS/IoT", JobId) `, 1, gte, nb, one}
	return want
}

// TestOperationsAlarms: every alarm of the Operations stack, what it watches, its threshold,
// comparison and missing-data treatment, and that it notifies the alert topic when it fires and
// when it recovers. The set is exact: an alarm without an expectation fails the test.
func TestOperationsAlarms(t *testing.T) {
	s, tmpl := operations(t)
	topic := alertTopicOutput(t, s)
	want := expectedAlarms(fleetOf(t))
	got := map[string]alarmSig{}
	for _, a := range tmpl.Resources("AWS::CloudWatch::Alarm") {
		name, _ := a.Properties["AlarmName"].(string)
		if _, dup := got[name]; dup {
			t.Errorf("alarm name %s twice", name)
		}
		sig := signature(a.Properties)
		// The API's name is generated.
		sig.Metric = apiName.ReplaceAllString(sig.Metric, "ApiName=<api>")
		got[name] = sig
		for _, key := range []string{"AlarmActions", "OKActions"} {
			actions := compliance.List(a.Properties[key])
			if len(actions) != 1 || !isAlertTopic(actions[0], topic) {
				t.Errorf("%s: %s = %v, want exactly the alert topic (%s)", name, key, actions, topic)
			}
		}
		if d, _ := a.Properties["AlarmDescription"].(string); len(d) < 80 {
			t.Errorf("%s: description %q does not say what broke and where to look", name, d)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Operations alarms (-want +got):\n%s", diff)
	}
}

func init() {
	weakenings = append(weakenings,
		weakening{"alarms-have-actions", func(s awscdk.Stack, w bool) {
			topic := awssns.NewTopic(s, jsii.String("Alerts"), nil)
			a := monitoring.ThresholdAlarm(constructs.NewConstruct(s, jsii.String("Alarms")), awscloudwatchactions.NewSnsAction(topic), "weaken", monitoring.Threshold{
				Name: "Anything", Description: "a test alarm",
				Metric: awslogs.NewMetricFilter(s, jsii.String("Filter"), &awslogs.MetricFilterProps{
					LogGroup:      awslogs.LogGroup_FromLogGroupName(s, jsii.String("Logs"), jsii.String("AWSIotLogsV2")),
					FilterPattern: awslogs.FilterPattern_AllEvents(), MetricNamespace: jsii.String("Test"), MetricName: jsii.String("Events"),
				}).Metric(nil),
				Threshold: 1,
			})
			deleteIf(w, cfn(a), "AlarmActions")
		}},
		weakening{"audit-all-checks", func(s awscdk.Stack, w bool) {
			root, err := golambda.ModuleRoot()
			if err != nil {
				panic(err)
			}
			fleet, err := fleetspec.Load(filepath.Join(root, "config", "fleet.dev.json"))
			if err != nil {
				panic(err)
			}
			d := defenderInto(s, fleet, nil)
			overrideIf(w, cfn(d), "AuditCheckConfigurations.LoggingDisabledCheck.Enabled", false)
		}},
	)
}
