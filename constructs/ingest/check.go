package ingest

import (
	"regexp"
	"sort"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/jsii-runtime-go"

	"github.com/secure-smart-city/platform/fleetspec"
)

// classIDRe is fleetspec's class id format.
var classIDRe = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)

// missing is the name of the placeholders a construct with props errors is built with.
const missing = "missing"

// check validates props, records every problem at once, and turns p into props New can build
// from: defaults filled in, refused values replaced by their defaults and missing resources by
// imported placeholders (synth fails on the recorded errors anyway). It returns the classes to
// build rules for, sorted, without the refused ones.
func (in *Ingest) check(p *Props) []string {
	errs := in.errs
	if p.Mode == "" {
		p.Mode = ModeStream
	}
	if p.Mode != ModeStream && p.Mode != ModeDirect {
		errs.Addf("ingest: Mode %q is unknown (want %q or %q)", p.Mode, ModeStream, ModeDirect)
		p.Mode = ModeStream
	}
	if p.RulePrefix == "" {
		errs.Addf("ingest: RulePrefix is required (rule names are topics.RuleName(RulePrefix, class))")
		p.RulePrefix = missing
	}
	in.checkResources(p)

	if p.Mode == ModeDirect && (p.StreamShards != nil || p.Source != nil || p.StreamRetention != 0) {
		errs.Addf("ingest: StreamShards, StreamRetention and Source apply to stream mode only (Mode is %q)", p.Mode)
		p.StreamShards, p.Source, p.StreamRetention = nil, nil, 0
	}
	if p.StreamRetention == 0 {
		p.StreamRetention = DefaultStreamRetention
	}
	if p.StreamRetention < DefaultStreamRetention || p.StreamRetention > MaxStreamRetention || p.StreamRetention%time.Hour != 0 {
		errs.Addf("ingest: StreamRetention %s must be whole hours between 24h and 8760h", p.StreamRetention)
		p.StreamRetention = DefaultStreamRetention
	}
	if p.StreamShards != nil && (*p.StreamShards < 1 || *p.StreamShards > MaxStreamShards) {
		errs.Addf("ingest: StreamShards %d must be between 1 and %d (leave it unset for on-demand capacity)", *p.StreamShards, MaxStreamShards)
		p.StreamShards = nil
	}
	if p.Source != nil && p.Source.BatchSize != nil && (*p.Source.BatchSize < 100 || *p.Source.BatchSize > 10000) {
		errs.Addf("ingest: Source.BatchSize %d must be between 100 and 10000: per-message invocations are what the stream path exists to avoid", *p.Source.BatchSize)
		p.Source = nil
	}
	if p.MemoryMiB != 0 && (p.MemoryMiB < 128 || p.MemoryMiB > 10240) {
		errs.Addf("ingest: MemoryMiB %d must be between 128 and 10240", p.MemoryMiB)
		p.MemoryMiB = 0
	}
	if p.ReservedConcurrency != nil && *p.ReservedConcurrency < 1 {
		errs.Addf("ingest: ReservedConcurrency %d must be at least 1", *p.ReservedConcurrency)
		p.ReservedConcurrency = nil
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
	for _, k := range sortedKeys(p.Environment) {
		if reservedEnv[k] {
			errs.Addf("ingest: Environment %q is set by the construct and cannot be overridden", k)
		}
	}
	return in.checkClasses(p)
}

// checkResources checks the resources and keys the construct uses and puts an imported
// placeholder in place of each missing one.
func (in *Ingest) checkResources(p *Props) {
	errs := in.errs
	stack := awscdk.Stack_Of(in.Construct)
	placeholderKey := func(id string) awskms.IKey {
		return awskms.Key_FromKeyArn(in.Construct, jsii.String(id), stack.FormatArn(&awscdk.ArnComponents{
			Service: jsii.String("kms"), Resource: jsii.String("key"), ResourceName: jsii.String(missing),
			ArnFormat: awscdk.ArnFormat_SLASH_RESOURCE_NAME,
		}))
	}
	if p.EncryptionKey == nil {
		errs.Addf("ingest: EncryptionKey is required: the stream, queues and processor are encrypted with the platform key")
		p.EncryptionKey = placeholderKey("MissingEncryptionKey")
	}
	if p.FieldKey == nil {
		errs.Addf("ingest: FieldKey (envelope encryption of sensitive fields) is required")
		p.FieldKey = placeholderKey("MissingFieldKey")
	}
	if p.State == nil {
		errs.Addf("ingest: State (the processor's state and deduplication table) is required")
		p.State = awsdynamodb.Table_FromTableName(in.Construct, jsii.String("MissingState"), jsii.String(missing))
	}
	if p.StateKey == nil {
		p.StateKey = p.State.EncryptionKey()
	}
	if p.StateKey == nil {
		errs.Addf("ingest: StateKey is required when State does not know its key (an imported table): the processor is granted the table's key through DynamoDB")
		p.StateKey = placeholderKey("MissingStateKey")
	}
	if p.Archive == nil {
		errs.Addf("ingest: Archive (the telemetry archive bucket) is required")
		p.Archive = awss3.Bucket_FromBucketName(in.Construct, jsii.String("MissingArchive"), jsii.String(missing))
	}
	if p.ArchiveKey == nil {
		p.ArchiveKey = p.Archive.EncryptionKey()
	}
	if p.ArchiveKey == nil {
		errs.Addf("ingest: ArchiveKey is required when Archive does not know its key (an imported bucket): the processor is granted the bucket's key through S3")
		p.ArchiveKey = placeholderKey("MissingArchiveKey")
	}
	switch {
	case p.RuleErrors == nil && p.RuleErrorsKey != nil:
		errs.Addf("ingest: RuleErrorsKey applies only with RuleErrors (the queue the construct creates uses EncryptionKey)")
		p.RuleErrorsKey = nil
	case p.RuleErrors != nil && p.RuleErrorsKey == nil:
		p.RuleErrorsKey = p.RuleErrors.EncryptionMasterKey()
		if p.RuleErrorsKey == nil {
			errs.Addf("ingest: RuleErrorsKey is required when RuleErrors does not know its key (an imported queue): the rules are granted the queue's key through SQS")
			p.RuleErrorsKey = placeholderKey("MissingRuleErrorsKey")
		}
	}
}

// checkClasses checks the fleet and Classes and returns the classes to build rules for.
func (in *Ingest) checkClasses(p *Props) []string {
	errs := in.errs
	if p.Fleet == nil {
		errs.Addf("ingest: Fleet is required: rules are made per device class")
		p.Fleet = &fleetspec.Fleet{}
	}
	known := map[string]bool{}
	for i, c := range p.Fleet.Classes {
		// The id becomes a SQL string literal in the class's rule (RuleSQL).
		if !classIDRe.MatchString(c.ID) {
			errs.Addf("ingest: Fleet.Classes[%d].ID %q is not a lowercase letter followed by lowercase letters, digits or underscores", i, c.ID)
			continue
		}
		known[c.ID] = true
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
	var out []string
	for i, c := range classes {
		switch {
		case in.classes[c]:
			errs.Addf("ingest: Classes[%d] %q is listed twice", i, c)
		case !known[c] && p.Classes != nil:
			errs.Addf("ingest: Classes[%d] %q is not a device class of the fleet", i, c)
		case known[c]:
			in.classes[c] = true
			out = append(out, c)
		}
	}
	sort.Strings(out)
	return out
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
