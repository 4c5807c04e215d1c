package stacks

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/secure-smart-city/platform/constructs/ingest"
	"github.com/secure-smart-city/platform/constructs/securestore"
)

// Ingestion holds the telemetry path: topic rules, the stream, processors and dead letters.
type Ingestion struct {
	awscdk.Stack
	// RuleErrors receives what a topic rule's actions failed to deliver (its error action).
	RuleErrors *securestore.Queue
	// Telemetry is the path itself: one Basic Ingest rule per device class into the stream
	// and the telemetry processor. Its methods give the metrics to alarm on.
	Telemetry *ingest.Ingest
}

// NewIngestion builds the Ingestion stack.
func NewIngestion(scope constructs.Construct, cfg Config, f *Foundation) *Ingestion {
	stack := awscdk.NewStack(scope, jsii.String(cfg.StackName("Ingestion")),
		cfg.stackProps("Ingestion", "Smart city IoT platform: topic rules, stream and telemetry processors"))
	ruleErrors := securestore.NewQueue(stack, "RuleErrors", &securestore.QueueProps{EncryptionKey: f.PlatformKey.Resource})
	ruleErrors.Resource.ApplyRemovalPolicy(cfg.DeadLetterRemovalPolicy())
	telemetry := ingest.New(stack, "Telemetry", &ingest.Props{
		Fleet:         cfg.Fleet,
		RulePrefix:    cfg.RulePrefix(),
		EncryptionKey: f.PlatformKey.Resource,
		RuleErrors:    ruleErrors.Resource,
		RuleErrorsKey: ruleErrors.Key,
		State:         f.DeviceState.Resource,
		StateKey:      f.DeviceState.Key,
		Archive:       f.Archive.Resource,
		ArchiveKey:    f.Archive.Key,
		FieldKey:      f.FieldKey.Resource,
		// Provisioned shards in prod (a steady fleet), on-demand in dev (context streamShards).
		StreamShards: streamShards(cfg),

		// Dead letters and failed batches: kept in prod.
		QueueRemovalPolicy: cfg.DeadLetterRemovalPolicy(),
	})
	return &Ingestion{Stack: stack, RuleErrors: ruleErrors, Telemetry: telemetry}
}

// streamShards is the config's shard count as ingest takes it: 0 (the config's on-demand)
// leaves it unset.
func streamShards(cfg Config) *int {
	n := cfg.Shards()
	if n == 0 {
		return nil
	}
	return &n
}
