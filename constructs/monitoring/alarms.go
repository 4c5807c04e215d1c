package monitoring

import (
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskinesis"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/secure-smart-city/platform/internal/propcheck"
)

// Period is the period of every alarm's and graph's metric.
const Period = 5 * time.Minute

// Defaults of the builders' options.
const (
	DefaultMaxIteratorAge   = 5 * time.Minute
	DefaultDurationFraction = 0.8
)

// spec is one alarm: what it watches and how it decides.
type spec struct {
	id          string // construct id, unique within the scope
	name        string // alarm name after the prefix
	description string
	metric      awscloudwatch.IMetric
	threshold   float64
	op          awscloudwatch.ComparisonOperator
	evaluations int // default 1
	datapoints  int // default evaluations
	missing     awscloudwatch.TreatMissingData
}

// newAlarm creates one alarm with action on ALARM and OK. A construct id already taken in
// scope gets a number.
func newAlarm(scope constructs.Construct, action awscloudwatch.IAlarmAction, prefix string, s spec) awscloudwatch.Alarm {
	var errs propcheck.Errors
	defer func() { errs.Attach(scope) }()
	if action == nil {
		errs.Addf("monitoring: alarm %q has no action: every alarm must notify someone", s.name)
	}
	if prefix == "" {
		errs.Addf("monitoring: alarm %q has no name prefix: alarm names are unique per account and region", s.name)
	}
	if s.metric == nil {
		errs.Addf("monitoring: alarm %q has no metric", s.name)
		s.metric = awscloudwatch.NewMetric(&awscloudwatch.MetricProps{Namespace: jsii.String("Invalid"), MetricName: jsii.String(s.name)})
	}
	id := s.id
	for n := 2; scope.Node().TryFindChild(jsii.String(id)) != nil; n++ {
		id = fmt.Sprintf("%s%d", s.id, n)
	}
	if s.evaluations == 0 {
		s.evaluations = 1
	}
	if s.datapoints == 0 {
		s.datapoints = s.evaluations
	}
	a := awscloudwatch.NewAlarm(scope, jsii.String(id), &awscloudwatch.AlarmProps{
		AlarmName:          jsii.String(alarmName(prefix, s.name)),
		AlarmDescription:   jsii.String(s.description),
		Metric:             s.metric,
		Threshold:          jsii.Number(s.threshold),
		ComparisonOperator: s.op,
		EvaluationPeriods:  jsii.Number(float64(s.evaluations)),
		DatapointsToAlarm:  jsii.Number(float64(s.datapoints)),
		TreatMissingData:   s.missing,
	})
	if action != nil {
		a.AddAlarmAction(action)
		a.AddOkAction(action)
	}
	return a
}

func period() awscdk.Duration {
	return awscdk.Duration_Seconds(jsii.Number(Period.Seconds()))
}

func sum() *awscloudwatch.MetricOptions {
	return &awscloudwatch.MetricOptions{Statistic: jsii.String("Sum"), Period: period()}
}

func maximum() *awscloudwatch.MetricOptions {
	return &awscloudwatch.MetricOptions{Statistic: jsii.String("Maximum"), Period: period()}
}

// Function is a Lambda function to alarm on and graph.
type Function struct {
	// Name is a short CamelCase label such as "TelemetryProcessor"; it starts the alarms'
	// construct ids and names. Required.
	Name string
	// Function is the function. Required.
	Function awslambda.IFunction
	// Timeout is the function's timeout (an IFunction does not tell it); the p99 duration
	// alarms at DurationFraction of it. Required.
	Timeout time.Duration
	// StreamConsumer marks a function fed by a Kinesis source: its iterator age is watched too.
	// Default: false.
	StreamConsumer bool
	// MaxIteratorAge is how far behind the stream the function may read. Default: 5 minutes.
	MaxIteratorAge *time.Duration
	// DurationFraction of Timeout above which the p99 duration alarms, between 0 and 1
	// (exclusive). Default: 0.8.
	DurationFraction *float64
	// Failures is the function's failure queue (on-failure destination of an asynchronous
	// function, failed batches of a stream consumer); it gets a QueueAlarm named
	// Name+"Failures". Default: - none.
	Failures awssqs.IQueue
}

// FunctionAlarms alarms on a function's errors, throttles, p99 duration near its timeout,
// iterator age (stream consumers) and its failure queue, in that order.
func FunctionAlarms(scope constructs.Construct, action awscloudwatch.IAlarmAction, prefix string, f Function) []awscloudwatch.Alarm {
	var errs propcheck.Errors
	defer func() { errs.Attach(scope) }()
	name := f.Name
	if name == "" {
		errs.Addf("monitoring: FunctionAlarms needs a Name")
		name = "Function"
	}
	if f.Function == nil {
		errs.Addf("monitoring: FunctionAlarms(%q) needs a Function", name)
		return nil
	}
	if f.Timeout <= 0 {
		errs.Addf("monitoring: FunctionAlarms(%q) Timeout %s must be positive", name, f.Timeout)
		f.Timeout = 3 * time.Second
	}
	fraction := DefaultDurationFraction
	if f.DurationFraction != nil {
		fraction = *f.DurationFraction
	}
	if fraction <= 0 || fraction >= 1 {
		errs.Addf("monitoring: FunctionAlarms(%q) DurationFraction %v must be between 0 and 1", name, fraction)
		fraction = DefaultDurationFraction
	}
	maxAge := DefaultMaxIteratorAge
	if f.MaxIteratorAge != nil {
		maxAge = *f.MaxIteratorAge
	}
	if maxAge <= 0 {
		errs.Addf("monitoring: FunctionAlarms(%q) MaxIteratorAge %s must be positive", name, maxAge)
		maxAge = DefaultMaxIteratorAge
	}
	timeoutMs := float64(f.Timeout.Milliseconds())
	out := []awscloudwatch.Alarm{
		newAlarm(scope, action, prefix, spec{
			id: name + "Errors", name: name + "-Errors",
			description: fmt.Sprintf("%s: invocations ended in an error. Read the function's log group (level ERROR) for the failing "+
				"records; stream batches are retried, bisected and finally sent to its failure queue, async events to its on-failure destination.", name),
			metric: f.Function.MetricErrors(sum()), threshold: 0, op: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
			// No invocations means no errors.
			missing: awscloudwatch.TreatMissingData_NOT_BREACHING,
		}),
		newAlarm(scope, action, prefix, spec{
			id: name + "Throttles", name: name + "-Throttles",
			description: fmt.Sprintf("%s: invocations were throttled at its reserved concurrency. Events wait or are retried; "+
				"check the function's ConcurrentExecutions and raise ReservedConcurrency if the load is legitimate.", name),
			metric: f.Function.MetricThrottles(sum()), threshold: 0, op: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
			missing: awscloudwatch.TreatMissingData_NOT_BREACHING,
		}),
		newAlarm(scope, action, prefix, spec{
			id: name + "DurationNearTimeout", name: name + "-DurationNearTimeout",
			description: fmt.Sprintf("%s: p99 duration is above %.0f%% of its %.0f s timeout; invocations are about to time out and be retried. "+
				"Check downstream latency (DynamoDB, S3, KMS) in the function's X-Ray traces.", name, fraction*100, timeoutMs/1000),
			metric:    f.Function.MetricDuration(&awscloudwatch.MetricOptions{Statistic: jsii.String("p99"), Period: period()}),
			threshold: timeoutMs * fraction, op: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
			// Two of three periods: one slow cold start is not an incident.
			evaluations: 3, datapoints: 2,
			missing: awscloudwatch.TreatMissingData_NOT_BREACHING,
		}),
	}
	if f.StreamConsumer {
		out = append(out, newAlarm(scope, action, prefix, spec{
			id: name + "IteratorAge", name: name + "-IteratorAge",
			description: fmt.Sprintf("%s reads the stream more than %s behind: telemetry is delayed and records near the stream's "+
				"retention or the source's MaxRecordAge will go to the failure queue. Check the function's errors, duration and throttles.", name, maxAge),
			metric:    f.Function.Metric(jsii.String("IteratorAge"), maximum()),
			threshold: float64(maxAge.Milliseconds()), op: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
			evaluations: 2,
			// The metric exists only while the function is invoked; an idle stream has none.
			missing: awscloudwatch.TreatMissingData_NOT_BREACHING,
		}))
	}
	if f.Failures != nil {
		out = append(out, QueueAlarm(scope, action, prefix, Queue{Name: name + "Failures", Queue: f.Failures}))
	}
	return out
}

// Queue is a dead-letter or failure queue to alarm on and graph.
type Queue struct {
	// Name is a short CamelCase label such as "RuleErrors". Required.
	Name string
	// Queue is the queue. Required.
	Queue awssqs.IQueue
}

// QueueAlarm alarms as soon as a dead-letter or failure queue holds a message: each one is
// work that did not happen.
func QueueAlarm(scope constructs.Construct, action awscloudwatch.IAlarmAction, prefix string, q Queue) awscloudwatch.Alarm {
	var errs propcheck.Errors
	defer func() { errs.Attach(scope) }()
	if q.Name == "" {
		errs.Addf("monitoring: QueueAlarm needs a Name")
		q.Name = "Queue"
	}
	var metric awscloudwatch.IMetric
	if q.Queue == nil {
		errs.Addf("monitoring: QueueAlarm(%q) needs a Queue", q.Name)
	} else {
		metric = q.Queue.MetricApproximateNumberOfMessagesVisible(maximum())
	}
	return newAlarm(scope, action, prefix, spec{
		id: q.Name + "Waiting", name: q.Name + "-MessagesWaiting",
		description: fmt.Sprintf("%s: messages are waiting in a dead-letter/failure queue, so work was lost on the way. "+
			"Read one message (it names the source, the record or event and the error), fix the cause, then redrive or delete it.", q.Name),
		metric:    metric,
		threshold: 0, op: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
		// SQS stops sending metrics for a queue idle for hours; an idle queue is an empty one.
		missing: awscloudwatch.TreatMissingData_NOT_BREACHING,
	})
}

// TableOperations are the DynamoDB operations whose throttled requests TableAlarm counts:
// every one the platform's functions use.
var TableOperations = []awsdynamodb.Operation{
	awsdynamodb.Operation_GET_ITEM, awsdynamodb.Operation_PUT_ITEM, awsdynamodb.Operation_UPDATE_ITEM,
	awsdynamodb.Operation_BATCH_WRITE_ITEM, awsdynamodb.Operation_BATCH_GET_ITEM, awsdynamodb.Operation_QUERY,
}

// TableAlarm alarms on any throttled DynamoDB request (TableOperations). name is a short
// CamelCase label such as "DeviceState".
func TableAlarm(scope constructs.Construct, action awscloudwatch.IAlarmAction, prefix, name string, table awsdynamodb.ITable) awscloudwatch.Alarm {
	var errs propcheck.Errors
	defer func() { errs.Attach(scope) }()
	if name == "" {
		errs.Addf("monitoring: TableAlarm needs a name")
		name = "Table"
	}
	var metric awscloudwatch.IMetric
	if table == nil {
		errs.Addf("monitoring: TableAlarm(%q) needs a table", name)
	} else {
		ops := append([]awsdynamodb.Operation(nil), TableOperations...)
		metric = table.MetricThrottledRequestsForOperations(&awsdynamodb.OperationsMetricOptions{Period: period(), Operations: &ops})
	}
	return newAlarm(scope, action, prefix, spec{
		id: name + "Throttles", name: name + "-Throttles",
		description: fmt.Sprintf("%s: DynamoDB throttled requests; writers retry and telemetry is delayed. Check the table's "+
			"consumed capacity and hot partition keys (CloudWatch Contributor Insights) and the processors' errors.", name),
		metric:    metric,
		threshold: 0, op: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
		missing: awscloudwatch.TreatMissingData_NOT_BREACHING,
	})
}

// Stream is a Kinesis stream to alarm on and graph.
type Stream struct {
	// Name is a short CamelCase label such as "TelemetryStream". Required.
	Name string
	// Stream is the stream. Required.
	Stream awskinesis.IStream
	// MaxIteratorAge is how old the last record read may be. Default: 5 minutes.
	MaxIteratorAge *time.Duration
}

// StreamAlarms alarms on a Kinesis stream's read lag across all consumers and on throttled
// writes.
func StreamAlarms(scope constructs.Construct, action awscloudwatch.IAlarmAction, prefix string, s Stream) []awscloudwatch.Alarm {
	var errs propcheck.Errors
	defer func() { errs.Attach(scope) }()
	name := s.Name
	if name == "" {
		errs.Addf("monitoring: StreamAlarms needs a Name")
		name = "Stream"
	}
	if s.Stream == nil {
		errs.Addf("monitoring: StreamAlarms(%q) needs a Stream", name)
		return nil
	}
	maxAge := DefaultMaxIteratorAge
	if s.MaxIteratorAge != nil {
		maxAge = *s.MaxIteratorAge
	}
	if maxAge <= 0 {
		errs.Addf("monitoring: StreamAlarms(%q) MaxIteratorAge %s must be positive", name, maxAge)
		maxAge = DefaultMaxIteratorAge
	}
	return []awscloudwatch.Alarm{
		newAlarm(scope, action, prefix, spec{
			id: name + "IteratorAge", name: name + "-IteratorAge",
			description: fmt.Sprintf("%s: the oldest record read is more than %s old, or nobody reads the stream at all. "+
				"Check the consumer function's event source mapping (enabled?), errors and iterator age.", name, maxAge),
			metric:    s.Stream.MetricGetRecordsIteratorAgeMilliseconds(maximum()),
			threshold: float64(maxAge.Milliseconds()), op: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
			evaluations: 2,
			// The Lambda poller calls GetRecords every second even on an empty stream, so no
			// data means no consumer.
			missing: awscloudwatch.TreatMissingData_BREACHING,
		}),
		newAlarm(scope, action, prefix, spec{
			id: name + "WriteThrottles", name: name + "-WriteThrottles",
			description: fmt.Sprintf("%s: writes were throttled; topic rules retry and then send the messages to their error action "+
				"queue. Check IncomingRecords/IncomingBytes against the stream's capacity.", name),
			metric:    s.Stream.MetricWriteProvisionedThroughputExceeded(sum()),
			threshold: 0, op: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
			missing: awscloudwatch.TreatMissingData_NOT_BREACHING,
		}),
	}
}

// RuleAlarms alarms on a topic rule's throttled messages (RuleMessageThrottled), payloads
// that were not JSON (ParseError), failed actions (Failure, summed over every ActionType) and
// failed error actions (ErrorActionFailure: the message is gone). ruleName is the rule's name
// (may be a token).
func RuleAlarms(scope constructs.Construct, action awscloudwatch.IAlarmAction, prefix, ruleName string) []awscloudwatch.Alarm {
	if ruleName == "" {
		var errs propcheck.Errors
		errs.Addf("monitoring: RuleAlarms needs a rule name")
		errs.Attach(scope)
	}
	id := "Rule"
	if !propcheck.IsUnresolved(ruleName) {
		id = camel("Rule_" + ruleName)
	}
	byRule := map[string]string{DimensionRuleName: ruleName}
	perAction := []string{"ActionType", DimensionRuleName}
	rule := func(metric string) awscloudwatch.IMetric {
		return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace: jsii.String(IoTNamespace), MetricName: jsii.String(metric),
			DimensionsMap: &map[string]*string{DimensionRuleName: jsii.String(ruleName)},
			Statistic:     jsii.String("Sum"), Period: period(),
		})
	}
	return []awscloudwatch.Alarm{
		newAlarm(scope, action, prefix, spec{
			id: id + "Throttled", name: "Rule-" + ruleName + "-Throttled",
			description: "Topic rule " + ruleName + ": the rules engine throttled messages, which are dropped without reaching any action. " +
				"Check TopicMatch for a traffic spike (a misbehaving device?) against the account's rules-engine quota.",
			metric:    rule(MetricRuleMessageThrottled),
			threshold: 0, op: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
			missing: awscloudwatch.TreatMissingData_NOT_BREACHING,
		}),
		newAlarm(scope, action, prefix, spec{
			id: id + "ParseErrors", name: "Rule-" + ruleName + "-ParseErrors",
			description: "Topic rule " + ruleName + ": messages were not JSON, so the rule ran no action and no error action and they are lost. " +
				"A device firmware bug or a probe; find the client in AWSIotLogsV2 (eventType RuleExecution or Publish-In).",
			metric:    rule(MetricRuleParseError),
			threshold: 0, op: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
			missing: awscloudwatch.TreatMissingData_NOT_BREACHING,
		}),
		newAlarm(scope, action, prefix, spec{
			id: id + "ActionFailures", name: "Rule-" + ruleName + "-ActionFailures",
			description: "Topic rule " + ruleName + ": an action failed, so the message went to the rule's error action (dead-letter queue). " +
				"Read a dead letter: failures[].errorMessage names the cause (permissions, throttling, a missing resource).",
			metric:    insights("Rule "+ruleName+" action failures", insightsSum(IoTNamespace, MetricRuleActionFailure, perAction, byRule)),
			threshold: 0, op: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
			missing: awscloudwatch.TreatMissingData_NOT_BREACHING,
		}),
		newAlarm(scope, action, prefix, spec{
			id: id + "ErrorActionFailures", name: "Rule-" + ruleName + "-ErrorActionFailures",
			description: "Topic rule " + ruleName + ": the error action itself failed, so messages were lost for good. " +
				"Check the rule role's sqs:SendMessage and kms:GenerateDataKey on the dead-letter queue and its key.",
			metric:    insights("Rule "+ruleName+" error action failures", insightsSum(IoTNamespace, MetricRuleErrorActionFail, perAction, byRule)),
			threshold: 0, op: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
			missing: awscloudwatch.TreatMissingData_NOT_BREACHING,
		}),
	}
}

// BrokerOptions sets the broker alarms' thresholds, each a count per period across
// protocols, at least 1.
type BrokerOptions struct {
	// AuthenticationFailures (Connection.AuthNError). It counts internet scanners too, so it is
	// a storm detector, not a per-device one. Default: 100.
	AuthenticationFailures *float64
	// ConnectAuthorizationFailures (Connect.AuthError). Default: 5.
	ConnectAuthorizationFailures *float64
	// PublishAuthorizationFailures (PublishIn.AuthError). Default: 5.
	PublishAuthorizationFailures *float64
	// SubscribeAuthorizationFailures (Subscribe.AuthError). Default: 5.
	SubscribeAuthorizationFailures *float64
}

// Default broker alarm thresholds.
const (
	DefaultAuthenticationFailures = 100
	DefaultAuthorizationFailures  = 5
)

// BrokerAlarms alarms on the AWS IoT message broker's authentication and authorization
// failures, summed over the Protocol dimension (MQTT and HTTP). Per-device detection and
// quarantine are the defender package's job; these alarms tell that something is failing.
func BrokerAlarms(scope constructs.Construct, action awscloudwatch.IAlarmAction, prefix string, opts *BrokerOptions) []awscloudwatch.Alarm {
	o := BrokerOptions{}
	if opts != nil {
		o = *opts
	}
	var errs propcheck.Errors
	defer func() { errs.Attach(scope) }()
	threshold := func(field string, v *float64, def float64) float64 {
		if v == nil {
			return def
		}
		if *v < 1 {
			errs.Addf("monitoring: BrokerOptions.%s %v must be at least 1", field, *v)
			return def
		}
		return *v
	}
	protocol := []string{DimensionProtocol}
	mk := func(id, name, metric string, threshold float64, description string) awscloudwatch.Alarm {
		return newAlarm(scope, action, prefix, spec{
			id: id, name: name, description: description,
			metric:    insights(metric, insightsSum(IoTNamespace, metric, protocol, nil)),
			threshold: threshold, op: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
			missing: awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
	}
	return []awscloudwatch.Alarm{
		mk("BrokerAuthenticationFailures", "IoT-AuthenticationFailures", MetricConnectionAuthNError,
			threshold("AuthenticationFailures", o.AuthenticationFailures, DefaultAuthenticationFailures),
			"AWS IoT rejected many TLS connections whose client certificate did not authenticate (Connection.AuthNError). "+
				"Expect some internet scanning; a jump means revoked or expired device certificates or a credential-stuffing attempt. "+
				"Check AWSIotLogsV2 and the Device Defender audit's certificate findings."),
		mk("BrokerConnectAuthorizationFailures", "IoT-ConnectAuthorizationFailures", MetricConnectAuthError,
			threshold("ConnectAuthorizationFailures", o.ConnectAuthorizationFailures, DefaultAuthorizationFailures),
			"AWS IoT refused CONNECTs that the device policy does not allow (Connect.AuthError): a client id that is not the thing's name, "+
				"a detached certificate or a quarantined device. Find the client ids in AWSIotLogsV2 (eventType Connect, status Failure)."),
		mk("BrokerPublishAuthorizationFailures", "IoT-PublishAuthorizationFailures", MetricPublishInAuthError,
			threshold("PublishAuthorizationFailures", o.PublishAuthorizationFailures, DefaultAuthorizationFailures),
			"AWS IoT refused PUBLISHes outside a device's own topics (PublishIn.AuthError): a misconfigured or compromised device. "+
				"The SmartCity/Security AuthorizationFailures metric names the device; repeated offenders are quarantined automatically."),
		mk("BrokerSubscribeAuthorizationFailures", "IoT-SubscribeAuthorizationFailures", MetricSubscribeAuthError,
			threshold("SubscribeAuthorizationFailures", o.SubscribeAuthorizationFailures, DefaultAuthorizationFailures),
			"AWS IoT refused SUBSCRIBEs outside a device's own command, shadow and job topics (Subscribe.AuthError): a device probing "+
				"other devices' topics. The SmartCity/Security AuthorizationFailures metric names the device."),
	}
}

// Ratio is an alarm on 100 * Numerator / Denominator, for example the processor's
// rejected-message ratio.
type Ratio struct {
	// Name is a short label; it is the alarm's construct id and name. Required.
	Name string
	// Description says what broke and where to look. Required.
	Description string
	// Numerator and Denominator are counts over the same period. Required.
	Numerator, Denominator awscloudwatch.IMetric
	// MaxPercent above which the alarm fires (in 2 of 3 periods), in (0, 100]. Required.
	MaxPercent float64
}

// RatioAlarm alarms when 100 * r.Numerator / r.Denominator exceeds r.MaxPercent in 2 of 3
// periods; periods without traffic have no datapoint.
func RatioAlarm(scope constructs.Construct, action awscloudwatch.IAlarmAction, prefix string, r Ratio) awscloudwatch.Alarm {
	var errs propcheck.Errors
	defer func() { errs.Attach(scope) }()
	if r.Name == "" {
		errs.Addf("monitoring: RatioAlarm needs a Name")
		r.Name = "Ratio"
	}
	if r.MaxPercent <= 0 || r.MaxPercent > 100 {
		errs.Addf("monitoring: RatioAlarm(%q) MaxPercent %v must be in (0, 100]", r.Name, r.MaxPercent)
	}
	var ratio awscloudwatch.IMetric
	if r.Numerator == nil || r.Denominator == nil {
		errs.Addf("monitoring: RatioAlarm(%q) needs a Numerator and a Denominator", r.Name)
	} else {
		ratio = awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
			// Periods without traffic have no denominator and so no datapoint.
			Expression:   jsii.String("100 * num / den"),
			UsingMetrics: &map[string]awscloudwatch.IMetric{"num": r.Numerator, "den": r.Denominator},
			Label:        jsii.String(r.Name + " (%)"),
			Period:       period(),
		})
	}
	return newAlarm(scope, action, prefix, spec{
		id: r.Name, name: r.Name, description: r.Description,
		metric: ratio, threshold: r.MaxPercent, op: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
		evaluations: 3, datapoints: 2,
		missing: awscloudwatch.TreatMissingData_NOT_BREACHING,
	})
}

// Threshold is an alarm on a count-like metric at or above a threshold.
type Threshold struct {
	// Name is a short label; it is the alarm's construct id and name. Required.
	Name string
	// Description says what broke and where to look. Required.
	Description string
	// Metric is what is counted, with its statistic and period. Required.
	Metric awscloudwatch.IMetric
	// Threshold at or above which the alarm fires (one period).
	Threshold float64
}

// ThresholdAlarm alarms when t.Metric reaches t.Threshold in one period; no data is not
// breaching. Use it for metrics the other builders do not cover.
func ThresholdAlarm(scope constructs.Construct, action awscloudwatch.IAlarmAction, prefix string, t Threshold) awscloudwatch.Alarm {
	if t.Name == "" {
		var errs propcheck.Errors
		errs.Addf("monitoring: ThresholdAlarm needs a Name")
		errs.Attach(scope)
		t.Name = "Threshold"
	}
	return newAlarm(scope, action, prefix, spec{
		id: t.Name, name: t.Name, description: t.Description, metric: t.Metric,
		threshold: t.Threshold, op: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
		missing: awscloudwatch.TreatMissingData_NOT_BREACHING,
	})
}

func insights(label, query string) awscloudwatch.MathExpression {
	return awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
		Expression: jsii.String(query),
		Label:      jsii.String(label),
		Period:     period(),
	})
}

// camel turns snake_case or kebab-case into CamelCase for construct ids.
func camel(name string) string {
	var b strings.Builder
	up := true
	for _, r := range name {
		switch {
		case r == '_' || r == '-':
			up = true
		case up:
			b.WriteString(strings.ToUpper(string(r)))
			up = false
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
