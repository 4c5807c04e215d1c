// Package ingest builds the telemetry path: one AWS IoT topic rule per device class, fed through
// Basic Ingest, into an encrypted Kinesis stream read in batches by the Go telemetry processor
// (or, in direct mode for small fleets, straight into the processor), with every rule's failures
// in one encrypted dead-letter queue.
//
// Its props take CDK interfaces, so the table, bucket, keys and dead-letter queue may come from
// another stack or another app (awsdynamodb.Table_FromTableArn, awss3.Bucket_FromBucketName,
// awskms.Key_FromKeyArn, awssqs.Queue_FromQueueArn). The names the construct and the processor
// must agree on live in lambdas/telemetry/contract.
package ingest

import (
	"fmt"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiot"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskinesis"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/secure-smart-city/platform/constructs/golambda"
	"github.com/secure-smart-city/platform/constructs/securestore"
	"github.com/secure-smart-city/platform/fleetspec"
	"github.com/secure-smart-city/platform/internal/propcheck"
	"github.com/secure-smart-city/platform/lambdas/telemetry/contract"
	"github.com/secure-smart-city/platform/topics"
)

// Mode is how a rule hands messages to the processor.
type Mode string

const (
	// ModeStream puts every message on a Kinesis stream that the processor reads in batches:
	// one invocation per batch (up to 500 records by default) instead of one per message.
	ModeStream Mode = contract.ModeStream
	// ModeDirect invokes the processor once per message (asynchronously, from the rule). It
	// saves the stream's hourly cost for small fleets and costs an invocation per message.
	ModeDirect Mode = contract.ModeDirect
)

// Defaults.
const (
	// DefaultEntry is the telemetry processor's main package.
	DefaultEntry = "lambdas/telemetry"
	// DefaultStreamRetention is Kinesis' minimum and included retention.
	DefaultStreamRetention = 24 * time.Hour
	// MaxStreamRetention is Kinesis' maximum retention (365 days).
	MaxStreamRetention = 8760 * time.Hour
	// MaxStreamShards is the most shards StreamShards may provision.
	MaxStreamShards = 10000
)

// UnknownClass is the Class the processor reports (in its metrics and in the encryption
// context of sealed rejected payloads) for records whose device class it could not tell.
const UnknownClass = contract.UnknownClass

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
	State awsdynamodb.ITable
	// StateKey is the customer-managed key State is encrypted with; the processor may use it
	// only through DynamoDB. Default: - State.EncryptionKey(), which a table built in this app
	// knows and an imported table (Table_FromTableArn) does not: set it for an imported table.
	StateKey awskms.IKey
	// Archive receives one gzip NDJSON object per batch under accepted/ and rejected/. Required.
	Archive awss3.IBucket
	// ArchiveKey is the customer-managed key Archive's objects are encrypted with; the
	// processor may use it only through S3. Default: - Archive.EncryptionKey(), which a bucket
	// built in this app knows and an imported bucket (Bucket_FromBucketName) does not: set it
	// for an imported bucket.
	ArchiveKey awskms.IKey
	// FieldKey envelope-encrypts fields the fleet marks sensitive. Required.
	FieldKey awskms.IKey

	// RuleErrors receives what a rule's actions failed to deliver (every rule's error action).
	// Default: - an encrypted queue (EncryptionKey, 14 days) is created.
	RuleErrors awssqs.IQueue
	// RuleErrorsKey is the customer-managed key RuleErrors is encrypted with; the rules may use
	// it only through SQS. Default: - RuleErrors.EncryptionMasterKey(), which a queue built in
	// this app knows and an imported queue (Queue_FromQueueArn) does not: set it for an
	// imported queue. Only with RuleErrors.
	RuleErrorsKey awskms.IKey

	// StreamShards provisions the stream with this many shards (1 to MaxStreamShards).
	// Stream mode only. Default: - on-demand capacity.
	StreamShards *int
	// StreamRetention keeps records on the stream (24 hours to 365 days, whole hours). A
	// redelivery of any age is recognized by its claim in the state item (the processor reads
	// each thing's records in order, so none of its later writes can push the claim out
	// first). Stream mode only. Default: 24 hours.
	StreamRetention time.Duration
	// Source tunes the processor's stream source (batch size, window, retries, record age).
	// Stream mode only. Default: - golambda.Function.AddKinesisSource's defaults (batches of 500).
	Source *golambda.KinesisSourceProps

	// Entry is the processor's Go main package; it is told the mode through
	// contract.EnvMode. Default: DefaultEntry, which handles both modes.
	Entry string
	// Environment adds variables to the processor's; the construct's own (table, bucket, key,
	// mode, rule prefix) cannot be overridden. Default: - none.
	Environment map[string]string
	// MemoryMiB of the processor (128 to 10240). Default: golambda.DefaultMemoryMiB.
	MemoryMiB int
	// ReservedConcurrency of the processor, at least 1 (0 would stop it). In direct mode size
	// it for the peak message rate times the duration of one invocation.
	// Default: golambda.DefaultReservedConcurrency.
	ReservedConcurrency *int
	// LogRetention of the processor's logs. Default: - processor's default (one year).
	LogRetention awslogs.RetentionDays
	// RemovalPolicy of the stream. Default: RETAIN (records not yet processed are data).
	RemovalPolicy awscdk.RemovalPolicy
	// QueueRemovalPolicy of the dead-letter queue the construct creates (not of a RuleErrors
	// queue passed in: its owner decides) and of the processor's failure queue. What these
	// queues hold failed to be stored and exists nowhere else. Default: RETAIN.
	QueueRemovalPolicy awscdk.RemovalPolicy
}

// Ingest is the telemetry path of one fleet. When its props have errors (reported at synth
// with the construct's path) it is still built, from sanitized props, so every field below
// that its mode has is set and every method is safe to call.
type Ingest struct {
	constructs.Construct
	// Rules are the topic rules by class id.
	Rules map[string]awsiot.CfnTopicRule
	// RuleRole is the role every rule's actions run as.
	RuleRole awsiam.Role
	// RuleErrors receives every rule's failed deliveries: Props.RuleErrors, or the queue the
	// construct created (child id "RuleErrors").
	RuleErrors awssqs.IQueue
	// RuleErrorsKey encrypts RuleErrors.
	RuleErrorsKey awskms.IKey
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
// with the construct's path, all at once.
func New(scope constructs.Construct, id string, props *Props) *Ingest {
	this := constructs.NewConstruct(scope, jsii.String(id))
	p := Props{}
	if props != nil {
		p = *props
	}
	errs := &propcheck.Errors{}
	in := &Ingest{Construct: this, Rules: map[string]awsiot.CfnTopicRule{}, classes: map[string]bool{}, errs: errs}
	// Errors found later (a metric asked for an unknown class) still reach synth: the
	// validation reads errs when it runs.
	this.Node().AddValidation(&lateErrors{errs: errs})

	classes := in.check(&p)
	in.prefix = p.RulePrefix
	in.Mode = p.Mode

	in.RuleErrors, in.RuleErrorsKey = p.RuleErrors, p.RuleErrorsKey
	if in.RuleErrors == nil {
		q := securestore.NewQueue(this, "RuleErrors", &securestore.QueueProps{EncryptionKey: p.EncryptionKey})
		q.Resource.ApplyRemovalPolicy(p.QueueRemovalPolicy)
		in.RuleErrors, in.RuleErrorsKey = q.Resource, q.Key
	}
	in.Processor = in.processor(&p)
	stack := awscdk.Stack_Of(this)
	in.RuleRole = in.ruleRole(stack, classes)
	in.grantSendError(stack)

	var action *awsiot.CfnTopicRule_ActionProperty
	if p.Mode == ModeStream {
		in.Stream = in.stream(&p)
		in.grantPutRecord(stack, p.EncryptionKey)
		in.Processor.AddKinesisSource(in.Stream, p.Source)
		if in.Processor.Failures == nil {
			// golambda refused p.Source with its own synth error: build the source with its
			// defaults so the construct stays whole.
			in.Processor.AddKinesisSource(in.Stream, nil)
		}
		action = &awsiot.CfnTopicRule_ActionProperty{Kinesis: &awsiot.CfnTopicRule_KinesisActionProperty{
			StreamName:   in.Stream.StreamName(),
			PartitionKey: jsii.String(PartitionKey),
			RoleArn:      in.RuleRole.RoleArn(),
		}}
	} else {
		action = &awsiot.CfnTopicRule_ActionProperty{Lambda: &awsiot.CfnTopicRule_LambdaActionProperty{
			FunctionArn: in.Processor.Resource.FunctionArn(),
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
					QueueUrl:  in.RuleErrors.QueueUrl(),
					RoleArn:   in.RuleRole.RoleArn(),
					UseBase64: jsii.Bool(false),
				}},
			},
		})
		// The policy must exist before a rule can deliver with the role.
		rule.Node().AddDependency(in.RuleRole)
		in.Rules[c] = rule
		if p.Mode == ModeDirect {
			in.Processor.Resource.AddPermission(jsii.String("InvokeFrom-"+c), &awslambda.Permission{
				Principal:     awsiam.NewServicePrincipal(jsii.String("iot.amazonaws.com"), nil),
				Action:        jsii.String("lambda:InvokeFunction"),
				SourceArn:     rule.AttrArn(),
				SourceAccount: stack.Account(),
			})
		}
	}
	// The failure queue exists now in both modes (async destination or stream on-failure).
	in.Processor.Failures.Resource.ApplyRemovalPolicy(p.QueueRemovalPolicy)
	return in
}

func (in *Ingest) stream(p *Props) awskinesis.Stream {
	sp := &awskinesis.StreamProps{
		Encryption:      awskinesis.StreamEncryption_KMS,
		EncryptionKey:   p.EncryptionKey,
		RetentionPeriod: awscdk.Duration_Hours(jsii.Number(p.StreamRetention.Hours())),
		StreamMode:      awskinesis.StreamMode_ON_DEMAND,
		RemovalPolicy:   p.RemovalPolicy,
	}
	if p.StreamShards != nil {
		sp.StreamMode = awskinesis.StreamMode_PROVISIONED
		sp.ShardCount = jsii.Number(float64(*p.StreamShards))
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
		runtime = []byte("{}")
	}
	env := map[string]string{}
	for k, v := range p.Environment {
		env[k] = v
	}
	for k, v := range in.processorEnv(p) {
		env[k] = v
	}
	reserved := 0 // golambda's default
	if p.ReservedConcurrency != nil {
		reserved = *p.ReservedConcurrency
	}
	fn := golambda.New(in.Construct, "Processor", &golambda.Props{
		Entry:               p.Entry,
		EncryptionKey:       p.EncryptionKey,
		Description:         "Smart city platform: telemetry processor (" + string(p.Mode) + " mode): validates, deduplicates, archives and stores device telemetry",
		Environment:         env,
		Files:               map[string][]byte{contract.FleetFile: runtime},
		MemoryMiB:           p.MemoryMiB,
		ReservedConcurrency: reserved,
		LogRetention:        p.LogRetention,
		// A rule invokes the function asynchronously: failures must land somewhere.
		Async: p.Mode == ModeDirect,
	})
	in.grantProcessor(p, fn)
	return fn
}

// lateErrors reports the construct's props errors, including ones added after New returned.
type lateErrors struct{ errs *propcheck.Errors }

func (l *lateErrors) Validate() *[]*string { return jsii.Strings(*l.errs...) }
