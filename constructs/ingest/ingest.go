// Package ingest builds the telemetry path: one AWS IoT topic rule per device class, fed through
// Basic Ingest, into an encrypted Kinesis stream read in batches by the Go telemetry processor
// (or, in direct mode for small fleets, straight into the processor), with every rule's failures
// in one encrypted dead-letter queue.
package ingest

import (
	"fmt"
	"regexp"
	"sort"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiot"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskinesis"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/secure-smart-city/platform/constructs/golambda"
	"github.com/secure-smart-city/platform/constructs/securestore"
	"github.com/secure-smart-city/platform/fleetspec"
	"github.com/secure-smart-city/platform/internal/propcheck"
	"github.com/secure-smart-city/platform/topics"
)

// Mode is how a rule hands messages to the processor.
type Mode string

const (
	// ModeStream puts every message on a Kinesis stream that the processor reads in batches:
	// one invocation per batch (up to 500 records by default) instead of one per message.
	ModeStream Mode = "stream"
	// ModeDirect invokes the processor once per message (asynchronously, from the rule). It
	// saves the stream's hourly cost for small fleets and costs an invocation per message.
	ModeDirect Mode = "direct"
)

// Defaults.
const (
	// DefaultEntry is the telemetry processor's main package.
	DefaultEntry = "lambdas/telemetry"
	// DefaultStreamRetention is Kinesis' minimum and included retention.
	DefaultStreamRetention = 24 * time.Hour
	// MaxStreamRetention is Kinesis' maximum retention (365 days).
	MaxStreamRetention = 8760 * time.Hour
)

// UnknownClass is the Class the processor reports (in its metrics and in the encryption
// context of sealed rejected payloads) for records whose device class it could not tell.
const UnknownClass = "unknown"

// Props configures an Ingest.
type Props struct {
	// Fleet gives the device classes: one rule per class. Required.
	Fleet *fleetspec.Fleet
	// RulePrefix prefixes rule names: the rule of class c is topics.RuleName(RulePrefix, c),
	// for example "smartcity_dev". Required.
	RulePrefix string
	// Classes limits the rules to these class ids. Default: - every class of the fleet.
	Classes []string
	// EncryptionKey encrypts the stream, the dead-letter queue it creates, and the processor's
	// environment, logs and failure queue. Required.
	EncryptionKey awskms.IKey
	// Mode is stream or direct. Default: ModeStream.
	Mode Mode

	// State is the processor's table: latest state per device and deduplication markers
	// (string partition key "pk", string sort key "sk", TTL attribute "expiresAt"). Required.
	State *securestore.Table
	// Archive receives one gzip NDJSON object per batch under accepted/ and rejected/. Required.
	Archive *securestore.Bucket
	// FieldKey envelope-encrypts fields the fleet marks sensitive. Required.
	FieldKey awskms.IKey

	// RuleErrors receives what a rule's actions failed to deliver (every rule's error action).
	// Default: - an encrypted queue (EncryptionKey, 14 days) is created.
	RuleErrors *securestore.Queue

	// StreamShards provisions the stream with this many shards. Stream mode only.
	// Default: 0, on-demand capacity.
	StreamShards int
	// StreamRetention keeps records on the stream (24 hours to 365 days, whole hours). It must
	// stay below the processor's deduplication window (7 days). Stream mode only.
	// Default: 24 hours.
	StreamRetention time.Duration
	// Source tunes the processor's stream source (batch size, window, retries, record age).
	// Stream mode only. Default: - golambda.Function.AddKinesisSource's defaults (batches of 500).
	Source *golambda.KinesisSourceProps

	// Entry is the processor's Go main package; it is told the mode through TELEMETRY_MODE.
	// Default: DefaultEntry, which handles both modes.
	Entry string
	// Environment adds variables to the processor's; the construct's own (table, bucket, key,
	// fleet file) cannot be overridden. Default: - none.
	Environment map[string]string
	// MemoryMiB of the processor. Default: golambda.DefaultMemoryMiB.
	MemoryMiB int
	// ReservedConcurrency of the processor. In direct mode size it for the peak message rate
	// times the duration of one invocation. Default: golambda.DefaultReservedConcurrency.
	ReservedConcurrency int
	// LogRetention of the processor's logs. Default: - processor's default (one year).
	LogRetention awslogs.RetentionDays
	// RemovalPolicy of the stream. Default: RETAIN (records not yet processed are data).
	RemovalPolicy awscdk.RemovalPolicy
	// QueueRemovalPolicy of the dead-letter queue the construct creates (not of a RuleErrors
	// queue passed in: its owner decides) and of the processor's failure queue. What these
	// queues hold failed to be stored and exists nowhere else. Default: RETAIN.
	QueueRemovalPolicy awscdk.RemovalPolicy
}

// Ingest is the telemetry path of one fleet.
type Ingest struct {
	constructs.Construct
	// Rules are the topic rules by class id.
	Rules map[string]awsiot.CfnTopicRule
	// RuleRole is the role every rule's actions run as.
	RuleRole awsiam.Role
	// RuleErrors receives every rule's failed deliveries.
	RuleErrors *securestore.Queue
	// Stream carries the messages to the processor; nil in direct mode.
	Stream awskinesis.Stream
	// Processor is the telemetry processor; its Failures queue holds failed batches (stream
	// mode) or failed invocations (direct mode).
	Processor *golambda.Function
	// Mode is the mode built.
	Mode Mode

	prefix  string
	classes map[string]bool
	errs    *propcheck.Errors
}

// New builds the rules, the stream and the processor. Props errors are reported at synth time
// with the construct's path.
func New(scope constructs.Construct, id string, props *Props) *Ingest {
	this := constructs.NewConstruct(scope, jsii.String(id))
	p := Props{}
	if props != nil {
		p = *props
	}
	errs := &propcheck.Errors{}
	in := &Ingest{Construct: this, Rules: map[string]awsiot.CfnTopicRule{}, prefix: p.RulePrefix, classes: map[string]bool{}, errs: errs}
	// Errors found later (a metric asked for an unknown class) still reach synth: the
	// validation reads errs when it runs.
	this.Node().AddValidation(&lateErrors{errs: errs})

	classes := in.check(&p)
	if len(*errs) > 0 {
		return in
	}
	in.Mode = p.Mode

	in.RuleErrors = p.RuleErrors
	if in.RuleErrors == nil {
		in.RuleErrors = securestore.NewQueue(this, "RuleErrors", &securestore.QueueProps{EncryptionKey: p.EncryptionKey})
		in.RuleErrors.Queue.ApplyRemovalPolicy(p.QueueRemovalPolicy)
	}
	in.Processor = in.processor(&p)
	if in.Processor.Function == nil {
		return in // the processor reported its own props errors
	}
	stack := awscdk.Stack_Of(this)
	in.RuleRole = in.ruleRole(stack, classes)
	in.grantSendError(stack)

	var action *awsiot.CfnTopicRule_ActionProperty
	if p.Mode == ModeStream {
		in.Stream = in.stream(&p)
		in.grantPutRecord(stack, p.EncryptionKey)
		in.Processor.AddKinesisSource(in.Stream, p.Source)
		action = &awsiot.CfnTopicRule_ActionProperty{Kinesis: &awsiot.CfnTopicRule_KinesisActionProperty{
			StreamName:   in.Stream.StreamName(),
			PartitionKey: jsii.String(PartitionKey),
			RoleArn:      in.RuleRole.RoleArn(),
		}}
	} else {
		action = &awsiot.CfnTopicRule_ActionProperty{Lambda: &awsiot.CfnTopicRule_LambdaActionProperty{
			FunctionArn: in.Processor.Function.FunctionArn(),
		}}
	}

	rules := constructs.NewConstruct(this, jsii.String("Rules"))
	for _, c := range classes {
		name := topics.RuleName(p.RulePrefix, c)
		rule := awsiot.NewCfnTopicRule(rules, jsii.String(c), &awsiot.CfnTopicRuleProps{
			RuleName: jsii.String(name),
			TopicRulePayload: &awsiot.CfnTopicRule_TopicRulePayloadProperty{
				Description:      jsii.String(fmt.Sprintf("Telemetry of device class %s, published to %s (Basic Ingest), into the %s path", c, topics.Telemetry(name, "<district>", "<thing>"), p.Mode)),
				Sql:              jsii.String(RuleSQL(c)),
				AwsIotSqlVersion: jsii.String(SQLVersion),
				RuleDisabled:     jsii.Bool(false),
				Actions:          &[]any{action},
				ErrorAction: &awsiot.CfnTopicRule_ActionProperty{Sqs: &awsiot.CfnTopicRule_SqsActionProperty{
					QueueUrl:  in.RuleErrors.Queue.QueueUrl(),
					RoleArn:   in.RuleRole.RoleArn(),
					UseBase64: jsii.Bool(false),
				}},
			},
		})
		// The policy must exist before a rule can deliver with the role.
		rule.Node().AddDependency(in.RuleRole)
		in.Rules[c] = rule
		if p.Mode == ModeDirect {
			in.Processor.Function.AddPermission(jsii.String("InvokeFrom-"+c), &awslambda.Permission{
				Principal:     awsiam.NewServicePrincipal(jsii.String("iot.amazonaws.com"), nil),
				Action:        jsii.String("lambda:InvokeFunction"),
				SourceArn:     rule.AttrArn(),
				SourceAccount: stack.Account(),
			})
		}
	}
	// The failure queue exists now in both modes (async destination or stream on-failure).
	if in.Processor.Failures != nil {
		in.Processor.Failures.Queue.ApplyRemovalPolicy(p.QueueRemovalPolicy)
	}
	return in
}

// check validates props, fills defaults into p, and returns the classes to build rules for.
func (in *Ingest) check(p *Props) []string {
	errs := in.errs
	if p.Mode == "" {
		p.Mode = ModeStream
	}
	if p.Mode != ModeStream && p.Mode != ModeDirect {
		errs.Addf("ingest: Mode %q is unknown (want %q or %q)", p.Mode, ModeStream, ModeDirect)
	}
	if p.RulePrefix == "" {
		errs.Addf("ingest: RulePrefix is required (rule names are topics.RuleName(RulePrefix, class))")
	}
	if p.EncryptionKey == nil {
		errs.Addf("ingest: EncryptionKey is required: the stream, queues and processor are encrypted with the platform key")
	}
	if p.State == nil {
		errs.Addf("ingest: State (the processor's state and deduplication table) is required")
	}
	if p.Archive == nil {
		errs.Addf("ingest: Archive (the telemetry archive bucket) is required")
	}
	if p.FieldKey == nil {
		errs.Addf("ingest: FieldKey (envelope encryption of sensitive fields) is required")
	}
	if p.StreamRetention == 0 {
		p.StreamRetention = DefaultStreamRetention
	}
	window := DedupWindow
	if v, ok := p.Environment[EnvDedupTTL]; ok {
		if d, err := time.ParseDuration(v); err != nil || d <= 0 {
			errs.Addf("ingest: Environment %s=%q is not a positive Go duration", EnvDedupTTL, v)
		} else {
			window = d
		}
	}
	if p.StreamRetention < DefaultStreamRetention || p.StreamRetention > MaxStreamRetention || p.StreamRetention%time.Hour != 0 {
		errs.Addf("ingest: StreamRetention %s must be whole hours between 24h and 8760h", p.StreamRetention)
	} else if p.StreamRetention >= window {
		errs.Addf("ingest: StreamRetention %s must be below the processor's deduplication window (%s, %s), or redelivered records would be stored twice", p.StreamRetention, EnvDedupTTL, window)
	}
	if p.StreamShards < 0 || p.StreamShards > 10000 {
		errs.Addf("ingest: StreamShards %d must be 0 (on-demand) or between 1 and 10000", p.StreamShards)
	}
	if p.Source != nil && p.Source.BatchSize != nil && (*p.Source.BatchSize < 100 || *p.Source.BatchSize > 10000) {
		errs.Addf("ingest: Source.BatchSize %d must be between 100 and 10000: per-message invocations are what the stream path exists to avoid", *p.Source.BatchSize)
	}
	if p.Mode == ModeDirect {
		if p.StreamShards != 0 || p.Source != nil || p.StreamRetention != DefaultStreamRetention {
			errs.Addf("ingest: StreamShards, StreamRetention and Source apply to stream mode only (Mode is %q)", p.Mode)
		}
	}
	if p.RemovalPolicy == "" {
		p.RemovalPolicy = awscdk.RemovalPolicy_RETAIN
	}
	if p.QueueRemovalPolicy == "" {
		p.QueueRemovalPolicy = awscdk.RemovalPolicy_RETAIN
	}
	if p.Entry == "" {
		p.Entry = DefaultEntry
	}
	for k := range p.Environment {
		if reservedEnv[k] {
			errs.Addf("ingest: Environment %q is set by the construct and cannot be overridden", k)
		}
	}
	if p.Fleet == nil {
		errs.Addf("ingest: Fleet is required: rules are made per device class")
		return nil
	}
	known := map[string]bool{}
	for i, c := range p.Fleet.Classes {
		known[c.ID] = true
		// The id becomes a SQL string literal in the class's rule (RuleSQL).
		if !classIDRe.MatchString(c.ID) {
			errs.Addf("ingest: Fleet.Classes[%d].ID %q is not a lowercase letter followed by lowercase letters, digits or underscores", i, c.ID)
		}
	}
	classes := p.Classes
	if classes == nil {
		for _, c := range p.Fleet.Classes {
			classes = append(classes, c.ID)
		}
	}
	if len(classes) == 0 {
		errs.Addf("ingest: no device classes to make rules for (the fleet has none, or Classes is empty)")
	}
	seen := map[string]bool{}
	for i, c := range classes {
		switch {
		case !known[c]:
			errs.Addf("ingest: Classes[%d] %q is not a device class of the fleet", i, c)
		case seen[c]:
			errs.Addf("ingest: Classes[%d] %q is listed twice", i, c)
		}
		seen[c] = true
		in.classes[c] = true
	}
	sort.Strings(classes)
	return classes
}

// classIDRe is fleetspec's class id format.
var classIDRe = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)

// DedupWindow is how long the processor keeps deduplication markers (pipeline.DefaultDedupTTL);
// the stream must not keep records longer.
const DedupWindow = 7 * 24 * time.Hour

func (in *Ingest) stream(p *Props) awskinesis.Stream {
	sp := &awskinesis.StreamProps{
		Encryption:      awskinesis.StreamEncryption_KMS,
		EncryptionKey:   p.EncryptionKey,
		RetentionPeriod: awscdk.Duration_Hours(jsii.Number(p.StreamRetention.Hours())),
		StreamMode:      awskinesis.StreamMode_ON_DEMAND,
		RemovalPolicy:   p.RemovalPolicy,
	}
	if p.StreamShards > 0 {
		sp.StreamMode = awskinesis.StreamMode_PROVISIONED
		sp.ShardCount = jsii.Number(float64(p.StreamShards))
	}
	return awskinesis.NewStream(in.Construct, jsii.String("Stream"), sp)
}

// RuntimeFleet is the fleet file the processor gets: the fleet's classes and districts with no
// things. The processor reads a device's name, class and district from its record, so no
// thing name reaches the processor's asset, and adding things to the fleet file changes
// neither the asset nor the Ingestion stack. It clears Things before fleetspec's own
// RuntimeJSON, so it stays thing-free whatever that keeps.
func RuntimeFleet(f *fleetspec.Fleet) ([]byte, error) {
	c := *f
	c.Things = []fleetspec.Thing{}
	return c.RuntimeJSON()
}

func (in *Ingest) processor(p *Props) *golambda.Function {
	runtime, err := RuntimeFleet(p.Fleet)
	if err != nil {
		in.errs.Addf("ingest: the fleet cannot be shipped to the processor: %v", err)
	}
	env := map[string]string{}
	for k, v := range p.Environment {
		env[k] = v
	}
	for k, v := range in.processorEnv(p) {
		env[k] = v
	}
	fn := golambda.New(in.Construct, "Processor", &golambda.Props{
		Entry:               p.Entry,
		EncryptionKey:       p.EncryptionKey,
		Description:         "Smart city platform: telemetry processor (" + string(p.Mode) + " mode): validates, deduplicates, archives and stores device telemetry",
		Environment:         env,
		Files:               map[string][]byte{FleetFile: runtime},
		MemoryMiB:           p.MemoryMiB,
		ReservedConcurrency: p.ReservedConcurrency,
		LogRetention:        p.LogRetention,
		// A rule invokes the function asynchronously: failures must land somewhere.
		Async: p.Mode == ModeDirect,
	})
	if fn.Function != nil {
		in.grantProcessor(p, fn)
	}
	return fn
}

// lateErrors reports the construct's props errors, including ones added after New returned.
type lateErrors struct{ errs *propcheck.Errors }

func (l *lateErrors) Validate() *[]*string { return jsii.Strings(*l.errs...) }
