package ingest

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/jsii-runtime-go"

	"github.com/secure-smart-city/platform/lambdas/telemetry/contract"
	"github.com/secure-smart-city/platform/topics"
)

// CloudWatch namespaces and metric names the construct's metrics use.
const (
	// IoTNamespace holds the rules engine's metrics, by rule name.
	IoTNamespace = "AWS/IoT"
)

// Rules engine metrics (AWS IoT developer guide, "Rule metrics" and "Rule action metrics").
const (
	MetricTopicMatch     = "TopicMatch"           // messages that reached the rule (RuleName)
	MetricParseError     = "ParseError"           // payloads that were not JSON: no action ran (RuleName)
	MetricRuleThrottled  = "RuleMessageThrottled" // messages the rules engine throttled (RuleName)
	MetricActionFailure  = "Failure"              // failed action invocations (RuleName, ActionType)
	MetricActionSuccess  = "Success"              // successful action invocations (RuleName, ActionType)
	DimensionRuleName    = "RuleName"
	DimensionActionType  = "ActionType"
	defaultCountStat     = "Sum"
	defaultLatencyStat   = "Maximum"
	defaultIteratorStat  = "Maximum"
	defaultThrottledStat = "Sum"
)

// RuleName is the topic rule of a class.
func (in *Ingest) RuleName(classID string) string {
	in.known(classID, "RuleName")
	return topics.RuleName(in.prefix, classID)
}

// ActionType values of the rules' action metrics. The AWS IoT guide documents the dimension
// but not its values; these are the rule action names in the API, as published metrics show
// them. Check them in the account's CloudWatch metrics after the first deployment.
const (
	ActionTypeKinesis = "Kinesis"
	ActionTypeLambda  = "Lambda"
)

// ActionType is the ActionType dimension of the rules' action metrics in this mode.
func (in *Ingest) ActionType() string {
	if in.Mode == ModeDirect {
		return ActionTypeLambda
	}
	return ActionTypeKinesis
}

// MetricTopicMatch counts the messages that reached a class's rule.
func (in *Ingest) MetricTopicMatch(classID string, opts *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return in.ruleMetric(classID, MetricTopicMatch, nil, opts)
}

// MetricParseErrors counts a class's messages the rules engine could not parse: the rule ran no
// action and no error action, so these are lost unless someone looks. Since RuleSQL reads the
// payload as bytes (encode(*, 'base64')), a payload that is not JSON no longer fails here (the
// processor rejects it as not_json into the archive): any count now means the rule's SQL is
// not the one this construct writes. Alarm on any.
func (in *Ingest) MetricParseErrors(classID string, opts *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return in.ruleMetric(classID, MetricParseError, nil, opts)
}

// MetricRuleThrottled counts a class's messages the rules engine throttled.
func (in *Ingest) MetricRuleThrottled(classID string, opts *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return in.ruleMetric(classID, MetricRuleThrottled, nil, opts)
}

// MetricRuleFailures counts a class's failed action invocations (the stream put or the function
// invoke); each one also sends a message to RuleErrors, whose depth is the authoritative signal.
func (in *Ingest) MetricRuleFailures(classID string, opts *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return in.ruleMetric(classID, MetricActionFailure, map[string]string{DimensionActionType: in.ActionType()}, opts)
}

// MetricRuleErrorsWaiting is the number of failed deliveries waiting in RuleErrors (maximum):
// anything above zero is telemetry that did not reach the processor.
func (in *Ingest) MetricRuleErrorsWaiting(opts *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return in.RuleErrors.MetricApproximateNumberOfMessagesVisible(withStat(opts, "Maximum"))
}

// MetricProcessorFailuresWaiting is the number of failed batches (stream mode) or invocations
// (direct mode) waiting in the processor's failure queue (maximum).
func (in *Ingest) MetricProcessorFailuresWaiting(opts *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return in.Processor.Failures.MetricMessagesVisible(withStat(opts, "Maximum"))
}

// MetricStreamWriteThrottles counts the rules' puts the stream refused for lack of capacity
// (the rule then fails into RuleErrors). Stream mode only: in direct mode it records a synth
// error and returns a metric of no stream.
func (in *Ingest) MetricStreamWriteThrottles(opts *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	if !in.streamMode("MetricStreamWriteThrottles") {
		return metric(streamNamespace, "WriteProvisionedThroughputExceeded", nil, withStat(opts, defaultThrottledStat))
	}
	return in.Stream.MetricWriteProvisionedThroughputExceeded(withStat(opts, defaultThrottledStat))
}

// MetricStreamIteratorAge is the age of the oldest record the stream's consumers read
// (GetRecords.IteratorAgeMilliseconds, maximum). Stream mode only: in direct mode it records
// a synth error and returns a metric of no stream.
func (in *Ingest) MetricStreamIteratorAge(opts *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	if !in.streamMode("MetricStreamIteratorAge") {
		return metric(streamNamespace, "GetRecords.IteratorAgeMilliseconds", nil, withStat(opts, defaultIteratorStat))
	}
	return in.Stream.MetricGetRecordsIteratorAgeMilliseconds(withStat(opts, defaultIteratorStat))
}

// streamNamespace holds Kinesis' stream metrics.
const streamNamespace = "AWS/Kinesis"

// streamMode records a synth error when a stream-only method is called in direct mode.
func (in *Ingest) streamMode(method string) bool {
	if in.Stream == nil {
		in.errs.Addf("ingest: %s: Mode is %q, which has no stream", method, in.Mode)
		return false
	}
	return true
}

// MetricProcessorIteratorAge is how far behind the stream the processor reads (Lambda's
// IteratorAge, maximum): records older than the stream retention are lost.
func (in *Ingest) MetricProcessorIteratorAge(opts *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return in.Processor.MetricIteratorAge(opts)
}

// MetricReceived counts the records of a class the processor read.
func (in *Ingest) MetricReceived(classID string, opts *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return in.processorMetric(classID, contract.MetricReceived, nil, opts)
}

// MetricAccepted counts the records of a class the processor stored.
func (in *Ingest) MetricAccepted(classID string, opts *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return in.processorMetric(classID, contract.MetricAccepted, nil, opts)
}

// MetricRejected counts the records of a class the processor rejected (archived under
// rejected/ with their reason), all reasons together.
func (in *Ingest) MetricRejected(classID string, opts *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return in.processorMetric(classID, contract.MetricRejected, nil, opts)
}

// MetricRejectedFor counts the records of a class rejected for one reason (pipeline.Reason).
func (in *Ingest) MetricRejectedFor(classID, reason string, opts *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return in.processorMetric(classID, contract.MetricRejected, map[string]string{contract.DimensionReason: reason}, opts)
}

// MetricRejectedByReason is one series per reason of the records of a class the processor
// rejected: a SEARCH over the processor's (Class, Reason) metrics, for dashboards (alarms
// cannot use SEARCH). opts sets the label, the period (default 5 minutes) and the statistic
// (default Sum); other options do not apply to a search.
func (in *Ingest) MetricRejectedByReason(classID string, opts *awscloudwatch.MetricOptions) awscloudwatch.IMetric {
	if classID != UnknownClass {
		in.known(classID, "MetricRejectedByReason")
	}
	o := withStat(opts, defaultCountStat)
	if o.Period == nil {
		o.Period = awscdk.Duration_Minutes(jsii.Number(5))
	}
	return awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
		Expression: jsii.String(`SEARCH('{"` + contract.Namespace + `",` + contract.DimensionClass + `,` + contract.DimensionReason + `} MetricName="` +
			contract.MetricRejected + `" ` + contract.DimensionClass + `="` + classID + `"', '` + *o.Statistic + `', ` + fmt.Sprint(*o.Period.ToSeconds(nil)) + `)`),
		Label:  o.Label,
		Period: o.Period,
	})
}

// MetricDuplicates counts the records of a class the processor had already stored.
func (in *Ingest) MetricDuplicates(classID string, opts *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return in.processorMetric(classID, contract.MetricDuplicates, nil, opts)
}

// MetricProcessingLatency is, per batch, the longest time from the rule to durable storage of
// a class's records (milliseconds, maximum).
func (in *Ingest) MetricProcessingLatency(classID string, opts *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return in.processorMetric(classID, contract.MetricLatency, nil, withStat(opts, defaultLatencyStat))
}

func (in *Ingest) ruleMetric(classID, name string, extra map[string]string, opts *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	dims := map[string]string{DimensionRuleName: in.RuleName(classID)}
	for k, v := range extra {
		dims[k] = v
	}
	return metric(IoTNamespace, name, dims, withStat(opts, defaultCountStat))
}

func (in *Ingest) processorMetric(classID, name string, extra map[string]string, opts *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	if classID != UnknownClass {
		in.known(classID, "Metric"+name)
	}
	dims := map[string]string{contract.DimensionClass: classID}
	for k, v := range extra {
		dims[k] = v
	}
	return metric(contract.Namespace, name, dims, withStat(opts, defaultCountStat))
}

// known records a synth error when a caller names a class this construct has no rule for: a
// metric of a class that does not exist would never alarm.
func (in *Ingest) known(classID, method string) {
	if !in.classes[classID] {
		in.errs.Addf("ingest: %s(%q): no rule for this device class", method, classID)
	}
}

// withStat returns opts with statistic as the default statistic.
func withStat(opts *awscloudwatch.MetricOptions, statistic string) *awscloudwatch.MetricOptions {
	o := awscloudwatch.MetricOptions{}
	if opts != nil {
		o = *opts
	}
	if o.Statistic == nil {
		o.Statistic = jsii.String(statistic)
	}
	return &o
}

func metric(namespace, name string, dims map[string]string, o *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	// The caller may add dimensions but not change the ones that pick this metric.
	dm := map[string]*string{}
	for k, v := range derefMap(o.DimensionsMap) {
		dm[k] = v
	}
	for k, v := range dims {
		dm[k] = jsii.String(v)
	}
	return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace:     jsii.String(namespace),
		MetricName:    jsii.String(name),
		DimensionsMap: &dm,
		Statistic:     o.Statistic,
		Period:        o.Period,
		Label:         o.Label,
		Unit:          o.Unit,
		Color:         o.Color,
		Account:       o.Account,
		Region:        o.Region,
		StackAccount:  o.StackAccount,
		StackRegion:   o.StackRegion,
		Id:            o.Id,
		Visible:       o.Visible,
	})
}

func derefMap(m *map[string]*string) map[string]*string {
	if m == nil {
		return nil
	}
	return *m
}

// MetricByDistrict is one series per device class of the processor metric (contract.MetricReceived,
// contract.MetricAccepted, contract.MetricRejected, ...) in district: a SEARCH over the processor's
// (Class, District) metrics, for dashboards (alarms cannot use SEARCH).
func (in *Ingest) MetricByDistrict(metric, district, label string) awscloudwatch.IMetric {
	return awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
		Expression: jsii.String(`SEARCH('{"` + contract.Namespace + `",` + contract.DimensionClass + `,` + contract.DimensionDistrict + `} MetricName="` +
			metric + `" ` + contract.DimensionDistrict + `="` + district + `"', '` + defaultCountStat + `', 300)`),
		Label:  jsii.String(label),
		Period: awscdk.Duration_Minutes(jsii.Number(5)),
	})
}
