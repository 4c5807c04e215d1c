package monitoring

import (
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskinesis"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/secure-smart-city/platform/constructs/golambda"
	"github.com/secure-smart-city/platform/constructs/securestore"
	"github.com/secure-smart-city/platform/internal/propcheck"
)

// Props configures a Monitoring.
type Props struct {
	// AlertTopic receives every alarm's ALARM and OK notifications. Required.
	AlertTopic awssns.ITopic
	// Prefix starts every alarm name (names are unique per account and region), for example
	// "SmartCity-dev". Required.
	Prefix string
	// Period of the alarms' metrics. Default: 5 minutes.
	Period time.Duration
}

// Monitoring creates alarms for what it is told to watch. Every alarm notifies the alert topic
// when it fires and when it recovers.
type Monitoring struct {
	constructs.Construct
	// Alarms are every alarm created so far, in creation order.
	Alarms []awscloudwatch.Alarm

	prefix string
	period awscdk.Duration
	action awscloudwatch.IAlarmAction
	seen   map[string]bool

	// What the Control Center graphs besides the alarms.
	functions []watchedFunction
	queues    []watchedQueue
	streams   []watchedStream
	rules     []string
}

type watchedFunction struct {
	name   string
	fn     *golambda.Function
	stream bool
}

type watchedQueue struct {
	name string
	q    *securestore.Queue
}

type watchedStream struct {
	name string
	s    awskinesis.IStream
}

// DefaultPeriod is the alarms' metric period.
const DefaultPeriod = 5 * time.Minute

// New creates the alarm factory. Props errors are reported at synth time with the construct's
// path.
func New(scope constructs.Construct, id string, props *Props) *Monitoring {
	this := constructs.NewConstruct(scope, jsii.String(id))
	p := Props{}
	if props != nil {
		p = *props
	}
	var errs propcheck.Errors
	defer func() { errs.Attach(this) }()
	if p.AlertTopic == nil {
		errs.Addf("monitoring: AlertTopic is required: every alarm must notify someone")
	}
	if p.Prefix == "" {
		errs.Addf("monitoring: Prefix is required: alarm names are unique per account and region")
	}
	if p.Period == 0 {
		p.Period = DefaultPeriod
	}
	if p.Period < time.Minute || p.Period%time.Minute != 0 {
		errs.Addf("monitoring: Period %s must be a whole number of minutes", p.Period)
		p.Period = DefaultPeriod
	}
	m := &Monitoring{
		Construct: this,
		prefix:    p.Prefix,
		period:    awscdk.Duration_Seconds(jsii.Number(p.Period.Seconds())),
		seen:      map[string]bool{},
	}
	if p.AlertTopic != nil {
		m.action = awscloudwatchactions.NewSnsAction(p.AlertTopic)
	}
	return m
}

// spec is one alarm: what it watches and how it decides.
type spec struct {
	id          string // construct id, unique within the Monitoring
	name        string // alarm name after the prefix
	description string
	metric      awscloudwatch.IMetric
	threshold   float64
	op          awscloudwatch.ComparisonOperator
	evaluations int // default 1
	datapoints  int // default evaluations
	missing     awscloudwatch.TreatMissingData
}

// alarm creates one alarm with the alert action on ALARM and OK.
func (m *Monitoring) alarm(s spec) awscloudwatch.Alarm {
	id := s.id
	for n := 2; m.seen[id]; n++ {
		id = fmt.Sprintf("%s%d", s.id, n)
	}
	m.seen[id] = true
	if s.evaluations == 0 {
		s.evaluations = 1
	}
	if s.datapoints == 0 {
		s.datapoints = s.evaluations
	}
	a := awscloudwatch.NewAlarm(m.Construct, jsii.String(id), &awscloudwatch.AlarmProps{
		AlarmName:          jsii.String(alarmName(m.prefix, s.name)),
		AlarmDescription:   jsii.String(s.description),
		Metric:             s.metric,
		Threshold:          jsii.Number(s.threshold),
		ComparisonOperator: s.op,
		EvaluationPeriods:  jsii.Number(float64(s.evaluations)),
		DatapointsToAlarm:  jsii.Number(float64(s.datapoints)),
		TreatMissingData:   s.missing,
	})
	if m.action != nil {
		a.AddAlarmAction(m.action)
		a.AddOkAction(m.action)
	}
	m.Alarms = append(m.Alarms, a)
	return a
}

func (m *Monitoring) sum() *awscloudwatch.MetricOptions {
	return &awscloudwatch.MetricOptions{Statistic: jsii.String("Sum"), Period: m.period}
}

func (m *Monitoring) max() *awscloudwatch.MetricOptions {
	return &awscloudwatch.MetricOptions{Statistic: jsii.String("Maximum"), Period: m.period}
}

// FunctionOptions tunes WatchFunction.
type FunctionOptions struct {
	// StreamConsumer marks a function fed by a Kinesis source: its iterator age is watched too.
	StreamConsumer bool
	// MaxIteratorAge is how far behind the stream the function may read. Default: 5 minutes.
	MaxIteratorAge time.Duration
	// DurationFraction of the timeout above which the p99 duration alarms. Default: 0.8.
	DurationFraction float64
}

// WatchFunction alarms on a Go function's errors, throttles, p99 duration near its timeout,
// iterator age (stream consumers) and its failure queue (asynchronous and stream functions).
// name is a short CamelCase label such as "TelemetryProcessor".
func (m *Monitoring) WatchFunction(name string, fn *golambda.Function, opts *FunctionOptions) []awscloudwatch.Alarm {
	o := FunctionOptions{}
	if opts != nil {
		o = *opts
	}
	if o.MaxIteratorAge == 0 {
		o.MaxIteratorAge = 5 * time.Minute
	}
	if o.DurationFraction == 0 {
		o.DurationFraction = 0.8
	}
	var errs propcheck.Errors
	defer func() { errs.Attach(m.Construct) }()
	if fn == nil || fn.Function == nil {
		errs.Addf("monitoring: WatchFunction(%q) needs a built function", name)
		return nil
	}
	if o.DurationFraction <= 0 || o.DurationFraction >= 1 {
		errs.Addf("monitoring: WatchFunction(%q) DurationFraction %v must be between 0 and 1", name, o.DurationFraction)
		o.DurationFraction = 0.8
	}
	m.functions = append(m.functions, watchedFunction{name: name, fn: fn, stream: o.StreamConsumer})
	timeoutMs := fn.TimeoutSeconds() * 1000
	out := []awscloudwatch.Alarm{
		m.alarm(spec{
			id: name + "Errors", name: name + "-Errors",
			description: fmt.Sprintf("%s: invocations ended in an error. Read the function's log group (level ERROR) for the failing "+
				"records; stream batches are retried, bisected and finally sent to its failure queue, async events to its on-failure destination.", name),
			metric: fn.MetricErrors(m.sum()), threshold: 0, op: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
			// No invocations means no errors.
			missing: awscloudwatch.TreatMissingData_NOT_BREACHING,
		}),
		m.alarm(spec{
			id: name + "Throttles", name: name + "-Throttles",
			description: fmt.Sprintf("%s: invocations were throttled at its reserved concurrency. Events wait or are retried; "+
				"check the function's ConcurrentExecutions and raise ReservedConcurrency if the load is legitimate.", name),
			metric: fn.MetricThrottles(m.sum()), threshold: 0, op: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
			missing: awscloudwatch.TreatMissingData_NOT_BREACHING,
		}),
		m.alarm(spec{
			id: name + "DurationNearTimeout", name: name + "-DurationNearTimeout",
			description: fmt.Sprintf("%s: p99 duration is above %.0f%% of its %.0f s timeout; invocations are about to time out and be retried. "+
				"Check downstream latency (DynamoDB, S3, KMS) in the function's X-Ray traces.", name, o.DurationFraction*100, timeoutMs/1000),
			metric:    fn.MetricDuration(&awscloudwatch.MetricOptions{Statistic: jsii.String("p99"), Period: m.period}),
			threshold: timeoutMs * o.DurationFraction, op: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
			// Two of three periods: one slow cold start is not an incident.
			evaluations: 3, datapoints: 2,
			missing: awscloudwatch.TreatMissingData_NOT_BREACHING,
		}),
	}
	if o.StreamConsumer {
		out = append(out, m.alarm(spec{
			id: name + "IteratorAge", name: name + "-IteratorAge",
			description: fmt.Sprintf("%s reads the stream more than %s behind: telemetry is delayed and records near the stream's "+
				"retention or the source's MaxRecordAge will go to the failure queue. Check the function's errors, duration and throttles.", name, o.MaxIteratorAge),
			metric:    fn.MetricIteratorAge(m.max()),
			threshold: float64(o.MaxIteratorAge.Milliseconds()), op: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
			evaluations: 2,
			// The metric exists only while the function is invoked; an idle stream has none.
			missing: awscloudwatch.TreatMissingData_NOT_BREACHING,
		}))
	}
	if fn.Failures != nil {
		out = append(out, m.WatchQueue(name+"Failures", fn.Failures))
	}
	return out
}

// WatchQueue alarms as soon as a dead-letter or failure queue holds a message: each one is
// work that did not happen. name is a short CamelCase label such as "RuleErrors".
func (m *Monitoring) WatchQueue(name string, q *securestore.Queue) awscloudwatch.Alarm {
	m.queues = append(m.queues, watchedQueue{name: name, q: q})
	return m.alarm(spec{
		id: name + "Waiting", name: name + "-MessagesWaiting",
		description: fmt.Sprintf("%s: messages are waiting in a dead-letter/failure queue, so work was lost on the way. "+
			"Read one message (it names the source, the record or event and the error), fix the cause, then redrive or delete it.", name),
		metric:    q.MetricMessagesVisible(m.max()),
		threshold: 0, op: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
		// SQS stops sending metrics for a queue idle for hours; an idle queue is an empty one.
		missing: awscloudwatch.TreatMissingData_NOT_BREACHING,
	})
}

// WatchTable alarms on any throttled DynamoDB request. name is a short CamelCase label such as
// "DeviceState".
func (m *Monitoring) WatchTable(name string, t *securestore.Table) awscloudwatch.Alarm {
	return m.alarm(spec{
		id: name + "Throttles", name: name + "-Throttles",
		description: fmt.Sprintf("%s: DynamoDB throttled requests; writers retry and telemetry is delayed. Check the table's "+
			"consumed capacity and hot partition keys (CloudWatch Contributor Insights) and the processors' errors.", name),
		metric:    t.MetricThrottledRequests(m.sum()),
		threshold: 0, op: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
		missing: awscloudwatch.TreatMissingData_NOT_BREACHING,
	})
}

// StreamOptions tunes WatchStream.
type StreamOptions struct {
	// MaxIteratorAge is how old the last record read may be. Default: 5 minutes.
	MaxIteratorAge time.Duration
}

// WatchStream alarms on a Kinesis stream's read lag across all consumers and on throttled
// writes. name is a short CamelCase label such as "TelemetryStream".
func (m *Monitoring) WatchStream(name string, s awskinesis.IStream, opts *StreamOptions) []awscloudwatch.Alarm {
	o := StreamOptions{}
	if opts != nil {
		o = *opts
	}
	if o.MaxIteratorAge == 0 {
		o.MaxIteratorAge = 5 * time.Minute
	}
	m.streams = append(m.streams, watchedStream{name: name, s: s})
	return []awscloudwatch.Alarm{
		m.alarm(spec{
			id: name + "IteratorAge", name: name + "-IteratorAge",
			description: fmt.Sprintf("%s: the oldest record read is more than %s old, or nobody reads the stream at all. "+
				"Check the consumer function's event source mapping (enabled?), errors and iterator age.", name, o.MaxIteratorAge),
			metric:    s.MetricGetRecordsIteratorAgeMilliseconds(m.max()),
			threshold: float64(o.MaxIteratorAge.Milliseconds()), op: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
			evaluations: 2,
			// The Lambda poller calls GetRecords every second even on an empty stream, so no
			// data means no consumer.
			missing: awscloudwatch.TreatMissingData_BREACHING,
		}),
		m.alarm(spec{
			id: name + "WriteThrottles", name: name + "-WriteThrottles",
			description: fmt.Sprintf("%s: writes were throttled; topic rules retry and then send the messages to their error action "+
				"queue. Check IncomingRecords/IncomingBytes against the stream's capacity.", name),
			metric:    s.MetricWriteProvisionedThroughputExceeded(m.sum()),
			threshold: 0, op: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
			missing: awscloudwatch.TreatMissingData_NOT_BREACHING,
		}),
	}
}

// WatchRule alarms on a topic rule's throttled messages (RuleMessageThrottled), payloads that
// were not JSON (ParseError), failed actions
// (Failure, summed over every ActionType) and failed error actions (ErrorActionFailure: the
// message is gone). ruleName is the rule's name (may be a token).
func (m *Monitoring) WatchRule(ruleName string) []awscloudwatch.Alarm {
	m.rules = append(m.rules, ruleName)
	id := "Rule"
	if !propcheck.IsUnresolved(ruleName) {
		id = camel("Rule_" + ruleName)
	}
	byRule := map[string]string{DimensionRuleName: ruleName}
	perAction := []string{"ActionType", DimensionRuleName}
	return []awscloudwatch.Alarm{
		m.alarm(spec{
			id: id + "Throttled", name: "Rule-" + ruleName + "-Throttled",
			description: "Topic rule " + ruleName + ": the rules engine throttled messages, which are dropped without reaching any action. " +
				"Check TopicMatch for a traffic spike (a misbehaving device?) against the account's rules-engine quota.",
			metric: awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
				Namespace: jsii.String(IoTNamespace), MetricName: jsii.String(MetricRuleMessageThrottled),
				DimensionsMap: &map[string]*string{DimensionRuleName: jsii.String(ruleName)},
				Statistic:     jsii.String("Sum"), Period: m.period,
			}),
			threshold: 0, op: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
			missing: awscloudwatch.TreatMissingData_NOT_BREACHING,
		}),
		m.alarm(spec{
			id: id + "ParseErrors", name: "Rule-" + ruleName + "-ParseErrors",
			description: "Topic rule " + ruleName + ": messages were not JSON, so the rule ran no action and no error action and they are lost. " +
				"A device firmware bug or a probe; find the client in AWSIotLogsV2 (eventType RuleExecution or Publish-In).",
			metric: awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
				Namespace: jsii.String(IoTNamespace), MetricName: jsii.String(MetricRuleParseError),
				DimensionsMap: &map[string]*string{DimensionRuleName: jsii.String(ruleName)},
				Statistic:     jsii.String("Sum"), Period: m.period,
			}),
			threshold: 0, op: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
			missing: awscloudwatch.TreatMissingData_NOT_BREACHING,
		}),
		m.alarm(spec{
			id: id + "ActionFailures", name: "Rule-" + ruleName + "-ActionFailures",
			description: "Topic rule " + ruleName + ": an action failed, so the message went to the rule's error action (dead-letter queue). " +
				"Read a dead letter: failures[].errorMessage names the cause (permissions, throttling, a missing resource).",
			metric:    m.insights("Rule "+ruleName+" action failures", insightsSum(IoTNamespace, MetricRuleActionFailure, perAction, byRule)),
			threshold: 0, op: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
			missing: awscloudwatch.TreatMissingData_NOT_BREACHING,
		}),
		m.alarm(spec{
			id: id + "ErrorActionFailures", name: "Rule-" + ruleName + "-ErrorActionFailures",
			description: "Topic rule " + ruleName + ": the error action itself failed, so messages were lost for good. " +
				"Check the rule role's sqs:SendMessage and kms:GenerateDataKey on the dead-letter queue and its key.",
			metric:    m.insights("Rule "+ruleName+" error action failures", insightsSum(IoTNamespace, MetricRuleErrorActionFail, perAction, byRule)),
			threshold: 0, op: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
			missing: awscloudwatch.TreatMissingData_NOT_BREACHING,
		}),
	}
}

// BrokerOptions sets the broker alarms' thresholds, each a count per period across protocols.
type BrokerOptions struct {
	// AuthenticationFailures (Connection.AuthNError). It counts internet scanners too, so it is
	// a storm detector, not a per-device one. Default: 100.
	AuthenticationFailures float64
	// ConnectAuthorizationFailures (Connect.AuthError). Default: 5.
	ConnectAuthorizationFailures float64
	// PublishAuthorizationFailures (PublishIn.AuthError). Default: 5.
	PublishAuthorizationFailures float64
	// SubscribeAuthorizationFailures (Subscribe.AuthError). Default: 5.
	SubscribeAuthorizationFailures float64
}

// WatchBroker alarms on the AWS IoT message broker's authentication and authorization
// failures, summed over the Protocol dimension (MQTT and HTTP). Per-device detection and
// quarantine are the defender package's job; these alarms tell that something is failing.
func (m *Monitoring) WatchBroker(opts *BrokerOptions) []awscloudwatch.Alarm {
	o := BrokerOptions{AuthenticationFailures: 100, ConnectAuthorizationFailures: 5, PublishAuthorizationFailures: 5, SubscribeAuthorizationFailures: 5}
	if opts != nil {
		for dst, src := range map[*float64]float64{
			&o.AuthenticationFailures: opts.AuthenticationFailures, &o.ConnectAuthorizationFailures: opts.ConnectAuthorizationFailures,
			&o.PublishAuthorizationFailures: opts.PublishAuthorizationFailures, &o.SubscribeAuthorizationFailures: opts.SubscribeAuthorizationFailures,
		} {
			if src != 0 {
				*dst = src
			}
		}
	}
	protocol := []string{DimensionProtocol}
	mk := func(id, name, metric string, threshold float64, description string) awscloudwatch.Alarm {
		return m.alarm(spec{
			id: id, name: name, description: description,
			metric:    m.insights(metric, insightsSum(IoTNamespace, metric, protocol, nil)),
			threshold: threshold, op: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
			missing: awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
	}
	return []awscloudwatch.Alarm{
		mk("BrokerAuthenticationFailures", "IoT-AuthenticationFailures", MetricConnectionAuthNError, o.AuthenticationFailures,
			"AWS IoT rejected many TLS connections whose client certificate did not authenticate (Connection.AuthNError). "+
				"Expect some internet scanning; a jump means revoked or expired device certificates or a credential-stuffing attempt. "+
				"Check AWSIotLogsV2 and the Device Defender audit's certificate findings."),
		mk("BrokerConnectAuthorizationFailures", "IoT-ConnectAuthorizationFailures", MetricConnectAuthError, o.ConnectAuthorizationFailures,
			"AWS IoT refused CONNECTs that the device policy does not allow (Connect.AuthError): a client id that is not the thing's name, "+
				"a detached certificate or a quarantined device. Find the client ids in AWSIotLogsV2 (eventType Connect, status Failure)."),
		mk("BrokerPublishAuthorizationFailures", "IoT-PublishAuthorizationFailures", MetricPublishInAuthError, o.PublishAuthorizationFailures,
			"AWS IoT refused PUBLISHes outside a device's own topics (PublishIn.AuthError): a misconfigured or compromised device. "+
				"The SmartCity/Security AuthorizationFailures metric names the device; repeated offenders are quarantined automatically."),
		mk("BrokerSubscribeAuthorizationFailures", "IoT-SubscribeAuthorizationFailures", MetricSubscribeAuthError, o.SubscribeAuthorizationFailures,
			"AWS IoT refused SUBSCRIBEs outside a device's own command, shadow and job topics (Subscribe.AuthError): a device probing "+
				"other devices' topics. The SmartCity/Security AuthorizationFailures metric names the device."),
	}
}

// WatchRatio alarms when 100 * numerator / denominator exceeds maxPercent, for example the
// processor's rejected-message ratio. name is a short CamelCase label; description says what
// broke and where to look.
func (m *Monitoring) WatchRatio(name, description string, numerator, denominator awscloudwatch.IMetric, maxPercent float64) awscloudwatch.Alarm {
	var errs propcheck.Errors
	defer func() { errs.Attach(m.Construct) }()
	if maxPercent <= 0 || maxPercent > 100 {
		errs.Addf("monitoring: WatchRatio(%q) maxPercent %v must be in (0, 100]", name, maxPercent)
	}
	ratio := awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
		// Periods without traffic have no denominator and so no datapoint.
		Expression:   jsii.String("100 * num / den"),
		UsingMetrics: &map[string]awscloudwatch.IMetric{"num": numerator, "den": denominator},
		Label:        jsii.String(name + " (%)"),
		Period:       m.period,
	})
	return m.alarm(spec{
		id: name, name: name, description: description,
		metric: ratio, threshold: maxPercent, op: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
		evaluations: 3, datapoints: 2,
		missing: awscloudwatch.TreatMissingData_NOT_BREACHING,
	})
}

// WatchMetric adds an alarm on any metric with the alert action: count-like metrics above
// threshold (>=). Use it for metrics the other Watch methods do not cover.
func (m *Monitoring) WatchMetric(name, description string, metric awscloudwatch.IMetric, threshold float64) awscloudwatch.Alarm {
	return m.alarm(spec{
		id: name, name: name, description: description, metric: metric,
		threshold: threshold, op: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
		missing: awscloudwatch.TreatMissingData_NOT_BREACHING,
	})
}

func (m *Monitoring) insights(label, query string) awscloudwatch.MathExpression {
	return awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
		Expression: jsii.String(query),
		Label:      jsii.String(label),
		Period:     m.period,
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
