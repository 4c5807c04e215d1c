package stacks

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Platform is the whole app: four stacks, split by rate of change and by state.
type Platform struct {
	Foundation *Foundation
	Fleet      *Fleet
	Ingestion  *Ingestion
	Operations *Operations
}

// NewPlatform builds the four stacks into app and applies the synth-time checks (cdk-nag
// packs with the accepted findings). Synth then fails on any unsuppressed finding.
func NewPlatform(app constructs.Construct, cfg Config) *Platform {
	p := &Platform{}
	p.Foundation = NewFoundation(app, cfg)
	p.Fleet = NewFleet(app, cfg, p.Foundation)
	p.Ingestion = NewIngestion(app, cfg, p.Foundation)
	p.Operations = NewOperations(app, cfg, p.Foundation)
	ApplyChecks(app)
	return p
}

// Fleet holds device identity and authorization: thing types, groups, things, certificates,
// policies, provisioning, IoT logging and the domain configuration.
type Fleet struct {
	awscdk.Stack
}

// NewFleet builds the Fleet stack.
func NewFleet(scope constructs.Construct, cfg Config, f *Foundation) *Fleet {
	stack := awscdk.NewStack(scope, jsii.String(cfg.StackName("Fleet")),
		cfg.stackProps("Fleet", "Smart city IoT platform: device identity, policies and provisioning"))
	return &Fleet{Stack: stack}
}

// Ingestion holds the telemetry path: topic rules, the stream, processors and dead letters.
type Ingestion struct {
	awscdk.Stack
}

// NewIngestion builds the Ingestion stack.
func NewIngestion(scope constructs.Construct, cfg Config, f *Foundation) *Ingestion {
	stack := awscdk.NewStack(scope, jsii.String(cfg.StackName("Ingestion")),
		cfg.stackProps("Ingestion", "Smart city IoT platform: topic rules, stream and telemetry processors"))
	return &Ingestion{Stack: stack}
}

// Operations holds what watches and acts: alarms, the dashboard, Device Defender and the
// command API.
type Operations struct {
	awscdk.Stack
}

// NewOperations builds the Operations stack.
func NewOperations(scope constructs.Construct, cfg Config, f *Foundation) *Operations {
	stack := awscdk.NewStack(scope, jsii.String(cfg.StackName("Operations")),
		cfg.stackProps("Operations", "Smart city IoT platform: alarms, dashboard, Device Defender and command API"))
	return &Operations{Stack: stack}
}
