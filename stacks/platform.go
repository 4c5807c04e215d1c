package stacks

import (
	"github.com/aws/constructs-go/constructs/v10"
)

// Platform is the whole app: four stacks, split by rate of change and by state.
type Platform struct {
	Foundation *Foundation
	Fleet      *Fleet
	Ingestion  *Ingestion
	Operations *Operations
	// OTA is over-the-air updates, in the Foundation and Operations stacks (stacks/ota.go).
	OTA *OTA
	// Concurrency is the functions' reserved concurrency against the account's budget.
	Concurrency ConcurrencyPlan
}

// NewPlatform builds the four stacks into app and applies the synth-time checks (cdk-nag
// packs with the accepted findings). Synth then fails on any unsuppressed finding.
func NewPlatform(app constructs.Construct, cfg Config) *Platform {
	p := &Platform{}
	p.Foundation = NewFoundation(app, cfg)
	p.Fleet = NewFleet(app, cfg, p.Foundation)
	p.Ingestion = NewIngestion(app, cfg, p.Foundation)
	p.Operations = NewOperations(app, cfg, p.Foundation, p.Fleet, p.Ingestion)
	p.OTA = NewOTA(cfg, p.Foundation, p.Operations)
	// After every function exists, before the checks read the result.
	p.Concurrency = ApplyConcurrencyBudget(app, cfg)
	RetainQueuesInProd(app, cfg)
	ApplyChecks(app)
	return p
}
