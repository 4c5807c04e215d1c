package stacks

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/secure-smart-city/platform/constructs/securestore"
)

// Ingestion holds the telemetry path: topic rules, the stream, processors and dead letters.
type Ingestion struct {
	awscdk.Stack
	// RuleErrors receives what a topic rule's actions failed to deliver (its error action).
	RuleErrors *securestore.Queue
}

// NewIngestion builds the Ingestion stack.
func NewIngestion(scope constructs.Construct, cfg Config, f *Foundation) *Ingestion {
	stack := awscdk.NewStack(scope, jsii.String(cfg.StackName("Ingestion")),
		cfg.stackProps("Ingestion", "Smart city IoT platform: topic rules, stream and telemetry processors"))
	return &Ingestion{
		Stack:      stack,
		RuleErrors: securestore.NewQueue(stack, "RuleErrors", &securestore.QueueProps{EncryptionKey: f.PlatformKey.Key}),
	}
}
