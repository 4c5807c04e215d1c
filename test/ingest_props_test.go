package test

import (
	"strings"
	"testing"
	"time"

	telcontract "github.com/secure-smart-city/platform/lambdas/telemetry/contract"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/google/go-cmp/cmp"

	"github.com/secure-smart-city/platform/constructs/golambda"
	"github.com/secure-smart-city/platform/constructs/ingest"
	"github.com/secure-smart-city/platform/stacks"
)

// TestIngestPropsErrors: bad props are refused with the field and the value named.
func TestIngestPropsErrors(t *testing.T) {
	app := newApp(t, nil)
	s := awscdk.NewStack(app, jsii.String("IngestProps"), nil)
	cases := []struct {
		name   string
		props  ingest.Props
		want   []string
		change func(*ingest.Props)
	}{
		{"unknown mode", ingest.Props{Mode: "firehose"}, []string{`Mode "firehose" is unknown`}, nil},
		{"batch size below 100", ingest.Props{Source: &golambda.KinesisSourceProps{BatchSize: new(50)}}, []string{"Source.BatchSize 50 must be between 100 and 10000"}, nil},
		{"class not in the fleet", ingest.Props{Classes: []string{"street_light", "street_lamp"}}, []string{`Classes[1] "street_lamp" is not a device class of the fleet`}, nil},
		{"class twice", ingest.Props{Classes: []string{"camera", "camera"}}, []string{`Classes[1] "camera" is listed twice`}, nil},
		{"no classes", ingest.Props{Classes: []string{}}, []string{"no device classes to make rules for"}, nil},
		{"retention not whole hours", ingest.Props{StreamRetention: 30*time.Hour + 30*time.Minute}, []string{"StreamRetention 30h30m0s must be whole hours between 24h and 8760h"}, nil},
		{"retention below minimum", ingest.Props{StreamRetention: 12 * time.Hour}, []string{"StreamRetention 12h0m0s must be whole hours"}, nil},
		{"negative shards", ingest.Props{StreamShards: intp(-1)}, []string{"StreamShards -1 must be between 1 and 10000 (leave it unset for on-demand capacity)"}, nil},
		{"zero shards", ingest.Props{StreamShards: intp(0)}, []string{"StreamShards 0 must be between 1 and 10000"}, nil},
		{"stream options in direct mode", ingest.Props{Mode: ingest.ModeDirect, StreamShards: intp(2)}, []string{"apply to stream mode only"}, nil},
		{"retention in direct mode", ingest.Props{Mode: ingest.ModeDirect, StreamRetention: 24 * time.Hour}, []string{"apply to stream mode only"}, nil},
		{"zero reserved concurrency", ingest.Props{ReservedConcurrency: intp(0)}, []string{"ReservedConcurrency 0 must be at least 1"}, nil},
		{"memory below Lambda's minimum", ingest.Props{MemoryMiB: 64}, []string{"MemoryMiB 64 must be between 128 and 10240"}, nil},
		{"a rule errors key without the queue", ingest.Props{}, []string{"RuleErrorsKey applies only with RuleErrors"}, func(p *ingest.Props) {
			p.RuleErrorsKey = p.EncryptionKey
		}},
		{"every problem at once", ingest.Props{Mode: "firehose", StreamShards: intp(0), MemoryMiB: 64, Classes: []string{"street_lamp"}}, []string{
			`Mode "firehose" is unknown`, "StreamShards 0 must be", "MemoryMiB 64 must be", `Classes[0] "street_lamp" is not a device class`,
		}, nil},
		{"overriding the construct's environment", ingest.Props{Environment: map[string]string{telcontract.EnvStateTable: "other"}}, []string{`Environment "STATE_TABLE" is set by the construct`}, nil},
		{"mode overridden through the environment", ingest.Props{Environment: map[string]string{telcontract.EnvMode: "direct"}}, []string{`Environment "TELEMETRY_MODE" is set by the construct`}, nil},
		{"rule prefix overridden through the environment", ingest.Props{Environment: map[string]string{telcontract.EnvRulePrefix: "other"}}, []string{`Environment "RULE_PREFIX" is set by the construct`}, nil},
		{"a class id that would break out of the rule's SQL literal", ingest.Props{}, []string{`Fleet.Classes[0].ID "street_light' AS class, 'x" is not a lowercase letter`}, func(p *ingest.Props) {
			p.Fleet.Classes[0].ID = "street_light' AS class, 'x"
		}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := newIngestWith(constructs.NewConstruct(s, jsii.String("Case"+string(rune('A'+i)))), c.props, c.change)
			got := validationErrors(in)
			for _, w := range c.want {
				if !strings.Contains(got, w) {
					t.Errorf("errors %q do not contain %q", got, w)
				}
			}
			checkSafe(t, in)
		})
	}
	t.Run("required props", func(t *testing.T) {
		in := ingest.New(constructs.NewConstruct(s, jsii.String("Required")), "Telemetry", nil)
		got := validationErrors(in)
		for _, w := range []string{"RulePrefix is required", "EncryptionKey is required", "State (the processor's state", "Archive (the telemetry archive bucket) is required", "FieldKey (envelope encryption", "Fleet is required"} {
			if !strings.Contains(got, w) {
				t.Errorf("nil props: errors %q do not contain %q", got, w)
			}
		}
		checkSafe(t, in)
	})
	t.Run("valid props, and a metric of an unknown class", func(t *testing.T) {
		in := newIngest(constructs.NewConstruct(s, jsii.String("Valid")), ingest.Props{})
		if got := validationErrors(in); got != "" {
			t.Fatalf("valid props: errors %q", got)
		}
		in.MetricAccepted("camera", nil)
		in.MetricReceived(ingest.UnknownClass, nil)
		if got := validationErrors(in); got != "" {
			t.Errorf("metrics of known classes: errors %q", got)
		}
		in.MetricRuleFailures("street_lamp", nil)
		if got := validationErrors(in); !strings.Contains(got, `RuleName("street_lamp"): no rule for this device class`) {
			t.Errorf("metric of an unknown class: errors %q", got)
		}
	})
	t.Run("stream-only methods in direct mode", func(t *testing.T) {
		in := newIngest(constructs.NewConstruct(s, jsii.String("Direct")), ingest.Props{Mode: ingest.ModeDirect})
		if in.MetricStreamIteratorAge(nil) == nil || in.MetricStreamWriteThrottles(nil) == nil || in.GrantStreamRead(in.Processor.Role) == nil {
			t.Error("a stream-only method returned nil in direct mode")
		}
		got := validationErrors(in)
		for _, m := range []string{"MetricStreamIteratorAge", "MetricStreamWriteThrottles", "GrantStreamRead"} {
			if !strings.Contains(got, "ingest: "+m+`: Mode is "direct", which has no stream`) {
				t.Errorf("errors %q do not name %s", got, m)
			}
		}
	})
}

// checkSafe: a construct with props errors is still whole, so a stack that goes on using it
// reaches synth (which then reports the errors) instead of a nil dereference.
func checkSafe(t *testing.T, in *ingest.Ingest) {
	t.Helper()
	if in.Processor == nil || in.Processor.Resource == nil || in.Processor.Role == nil || in.Processor.LogGroup == nil || in.Processor.Failures == nil {
		t.Fatalf("processor %+v, want it built", in.Processor)
	}
	if in.RuleRole == nil || in.RuleErrors == nil || in.RuleErrorsKey == nil || in.Rules == nil {
		t.Errorf("rule role %v, rule errors %v (key %v), rules %v: want all set", in.RuleRole, in.RuleErrors, in.RuleErrorsKey, in.Rules)
	}
	if (in.Mode == ingest.ModeStream) != (in.Stream != nil) {
		t.Errorf("mode %q with stream %v", in.Mode, in.Stream)
	}
	in.MetricRuleErrorsWaiting(nil)
	in.MetricProcessorFailuresWaiting(nil)
	in.MetricProcessorIteratorAge(nil)
}

// TestIngestMetrics: the metrics Operations alarms on name the right namespace, metric and
// dimensions.
func TestIngestMetrics(t *testing.T) {
	in := synthOnce(t, stacks.StageDev).platform.Ingestion.Telemetry
	rule := in.RuleName("street_light")
	type m struct {
		ns, name, stat string
		dims           map[string]string
	}
	describe := func(x awscloudwatch.Metric) m {
		d := map[string]string{}
		if x.Dimensions() != nil {
			for k, v := range *x.Dimensions() {
				d[k] = v.(string)
			}
		}
		return m{*x.Namespace(), *x.MetricName(), *x.Statistic(), d}
	}
	cases := []struct {
		got  awscloudwatch.Metric
		want m
	}{
		{in.MetricTopicMatch("street_light", nil), m{"AWS/IoT", "TopicMatch", "Sum", map[string]string{"RuleName": rule}}},
		{in.MetricParseErrors("street_light", nil), m{"AWS/IoT", "ParseError", "Sum", map[string]string{"RuleName": rule}}},
		{in.MetricRuleThrottled("street_light", nil), m{"AWS/IoT", "RuleMessageThrottled", "Sum", map[string]string{"RuleName": rule}}},
		{in.MetricRuleFailures("street_light", nil), m{"AWS/IoT", "Failure", "Sum", map[string]string{"RuleName": rule, "ActionType": "Kinesis"}}},
		{in.MetricAccepted("street_light", nil), m{"SmartCity/Telemetry", "Accepted", "Sum", map[string]string{"Class": "street_light"}}},
		{in.MetricRejected("street_light", nil), m{"SmartCity/Telemetry", "Rejected", "Sum", map[string]string{"Class": "street_light"}}},
		{in.MetricRejectedFor("street_light", "schema", nil), m{"SmartCity/Telemetry", "Rejected", "Sum", map[string]string{"Class": "street_light", "Reason": "schema"}}},
		{in.MetricReceived("street_light", nil), m{"SmartCity/Telemetry", "Received", "Sum", map[string]string{"Class": "street_light"}}},
		{in.MetricDuplicates("street_light", nil), m{"SmartCity/Telemetry", "Duplicates", "Sum", map[string]string{"Class": "street_light"}}},
		{in.MetricProcessingLatency("street_light", nil), m{"SmartCity/Telemetry", "ProcessingLatency", "Maximum", map[string]string{"Class": "street_light"}}},
		{in.MetricStreamIteratorAge(nil), m{"AWS/Kinesis", "GetRecords.IteratorAgeMilliseconds", "Maximum", nil}},
		{in.MetricStreamWriteThrottles(nil), m{"AWS/Kinesis", "WriteProvisionedThroughputExceeded", "Sum", nil}},
		{in.MetricProcessorIteratorAge(nil), m{"AWS/Lambda", "IteratorAge", "Maximum", nil}},
		{in.MetricRuleErrorsWaiting(nil), m{"AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum", nil}},
		{in.MetricProcessorFailuresWaiting(nil), m{"AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum", nil}},
	}
	search := in.MetricRejectedByReason("street_light", &awscloudwatch.MetricOptions{Label: jsii.String("Reasons")}).(awscloudwatch.MathExpression)
	wantSearch := `SEARCH('{"SmartCity/Telemetry",Class,Reason} MetricName="Rejected" Class="street_light"', 'Sum', 300)`
	if *search.Expression() != wantSearch || *search.Label() != "Reasons" || *search.Period().ToSeconds(nil) != 300 {
		t.Errorf("MetricRejectedByReason: %s (label %s, period %v s), want %s", *search.Expression(), *search.Label(), *search.Period().ToSeconds(nil), wantSearch)
	}
	for _, c := range cases {
		got := describe(c.got)
		if c.want.dims == nil { // resource dimensions are tokens: only their names matter here
			got.dims = nil
		}
		if diff := cmp.Diff(c.want, got, cmp.AllowUnexported(m{})); diff != "" {
			t.Errorf("metric (-want +got):\n%s", diff)
		}
	}
}
