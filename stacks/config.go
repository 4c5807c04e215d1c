// Package stacks composes the platform's constructs into its four deployable stacks
// (Foundation, Fleet, Ingestion, Operations) and applies the synth-time checks. It holds no
// resource logic of its own: that lives in constructs/.
package stacks

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/secure-smart-city/platform/fleetspec"
)

// Stage is a deployment stage.
type Stage string

// Stages.
const (
	StageDev  Stage = "dev"
	StageProd Stage = "prod"
)

// Config is what the app is built from.
type Config struct {
	// Stage selects retention, deletion protection and log levels. Default: dev.
	Stage Stage
	// Account and Region pin the stacks to an environment; both empty means
	// environment-agnostic stacks (synth needs no credentials either way).
	Account, Region string
	// Fleet is the stage's validated fleet file.
	Fleet *fleetspec.Fleet
	// DefenderDetect creates Device Defender Detect security profiles, for accounts that still
	// have Detect (closed to new customers since 31 August 2026). Default: false.
	DefenderDetect bool
	// TableBilling is how the Foundation tables pay for throughput (see billing.go).
	// Default: - provisioned with autoscaling in prod, on-demand in dev.
	TableBilling *TableBilling
	// AcceptedRetentionDays keeps accepted telemetry (the archive's accepted/ prefix); 0 keeps
	// it forever. Default: DefaultAcceptedRetentionDays (365).
	AcceptedRetentionDays *int
	// RejectedRetentionDays keeps rejected records (rejected/). Default:
	// DefaultRejectedRetentionDays (30).
	RejectedRetentionDays *int
}

// Context keys read by ConfigFromContext.
const (
	ContextStage   = "stage"
	ContextAccount = "account"
	ContextRegion  = "region"
	// ContextFleetFile names the fleet file. Default: config/fleet.<stage>.json.
	ContextFleetFile = "fleetFile"
	// ContextDefenderDetect turns on Device Defender Detect profiles (true or false).
	ContextDefenderDetect = "defenderDetect"
	// ContextAcceptedRetentionDays keeps accepted telemetry this many days (0: forever).
	// Default: DefaultAcceptedRetentionDays.
	ContextAcceptedRetentionDays = "acceptedRetentionDays"
	// ContextRejectedRetentionDays keeps rejected records this many days.
	// Default: DefaultRejectedRetentionDays.
	ContextRejectedRetentionDays = "rejectedRetentionDays"
)

var (
	accountPattern = regexp.MustCompile(`^[0-9]{12}$`)
	regionPattern  = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]$`)
)

// ConfigFromContext reads the stage, account and region from CDK context (cdk.json or
// -c key=value), falling back to CDK_DEFAULT_ACCOUNT and CDK_DEFAULT_REGION, and validates
// them. It never calls AWS.
func ConfigFromContext(scope constructs.Construct) (Config, error) {
	get := func(key string) (string, error) {
		v := scope.Node().TryGetContext(jsii.String(key))
		if v == nil {
			return "", nil
		}
		s, ok := v.(string)
		if !ok {
			return "", fmt.Errorf("context %q: want a string, got %v", key, v)
		}
		return s, nil
	}
	stage, err := get(ContextStage)
	if err != nil {
		return Config{}, err
	}
	account, err := get(ContextAccount)
	if err != nil {
		return Config{}, err
	}
	region, err := get(ContextRegion)
	if err != nil {
		return Config{}, err
	}
	if account == "" {
		account = os.Getenv("CDK_DEFAULT_ACCOUNT")
	}
	if region == "" {
		region = os.Getenv("CDK_DEFAULT_REGION")
	}
	fleetFile, err := get(ContextFleetFile)
	if err != nil {
		return Config{}, err
	}
	cfg := Config{Stage: Stage(stage), Account: account, Region: region}
	switch v := scope.Node().TryGetContext(jsii.String(ContextDefenderDetect)).(type) {
	case nil:
	case bool:
		cfg.DefenderDetect = v
	case string: // -c defenderDetect=true arrives as a string
		if cfg.DefenderDetect, err = strconv.ParseBool(v); err != nil {
			return Config{}, fmt.Errorf("context %q: want true or false, got %q", ContextDefenderDetect, v)
		}
	default:
		return Config{}, fmt.Errorf("context %q: want true or false, got %v", ContextDefenderDetect, v)
	}
	if cfg.Stage == "" {
		cfg.Stage = StageDev
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	if err := retentionConfig(scope, &cfg); err != nil {
		return Config{}, err
	}
	billing, err := tableBillingFromContext(scope, cfg.Stage)
	if err != nil {
		return Config{}, err
	}
	cfg.TableBilling = &billing
	if fleetFile == "" {
		fleetFile = filepath.Join("config", "fleet."+string(cfg.Stage)+".json")
	}
	if cfg.Fleet, err = fleetspec.Load(fleetFile); err != nil {
		return Config{}, fmt.Errorf("fleet file (context %q): %w", ContextFleetFile, err)
	}
	return cfg, nil
}

// Validate checks the config; messages name the context key and the value.
func (c Config) Validate() error {
	if c.Stage != StageDev && c.Stage != StageProd {
		return fmt.Errorf("context %q: unknown stage %q (want %q or %q)", ContextStage, c.Stage, StageDev, StageProd)
	}
	if c.Account != "" && !accountPattern.MatchString(c.Account) {
		return fmt.Errorf("context %q (or CDK_DEFAULT_ACCOUNT): %q is not a 12-digit AWS account id", ContextAccount, c.Account)
	}
	if c.Region != "" && !regionPattern.MatchString(c.Region) {
		return fmt.Errorf("context %q (or CDK_DEFAULT_REGION): %q is not an AWS region name", ContextRegion, c.Region)
	}
	return nil
}

// RulePrefix prefixes the stage's topic rule names, e.g. "smartcity_dev"; the rule for a
// class is topics.RuleName(cfg.RulePrefix(), class.ID).
func (c Config) RulePrefix() string {
	return c.Fleet.RulePrefix(string(c.Stage))
}

// Prod reports whether the stage keeps data through stack deletion.
func (c Config) Prod() bool { return c.Stage == StageProd }

// StackName names one of the platform's stacks for this stage, e.g. "SmartCity-dev-Foundation".
func (c Config) StackName(part string) string {
	return "SmartCity-" + string(c.Stage) + "-" + part
}

// AliasPrefix prefixes the stage's KMS aliases: "alias/smartcity/dev/".
func (c Config) AliasPrefix() string {
	return "alias/smartcity/" + string(c.Stage) + "/"
}

// DataRemovalPolicy applies to tables: kept (with deletion protection) in prod, deleted with
// the stack in dev. Buckets and keys are always kept.
func (c Config) DataRemovalPolicy() awscdk.RemovalPolicy {
	if c.Prod() {
		return awscdk.RemovalPolicy_RETAIN
	}
	return awscdk.RemovalPolicy_DESTROY
}

// DeadLetterRemovalPolicy applies to dead-letter and failure queues the stage owns: kept in
// prod, where they may hold the only copy of what failed; deleted with the stack in dev.
func (c Config) DeadLetterRemovalPolicy() awscdk.RemovalPolicy {
	if c.Prod() {
		return awscdk.RemovalPolicy_RETAIN
	}
	return awscdk.RemovalPolicy_DESTROY
}

func (c Config) stackProps(part, description string) *awscdk.StackProps {
	p := &awscdk.StackProps{
		StackName:             jsii.String(c.StackName(part)),
		Description:           jsii.String(description),
		TerminationProtection: jsii.Bool(c.Prod()),
		Tags: &map[string]*string{
			"project": jsii.String("smart-city-iot"),
			"stage":   jsii.String(string(c.Stage)),
		},
	}
	if c.Account != "" || c.Region != "" {
		p.Env = &awscdk.Environment{}
		if c.Account != "" {
			p.Env.Account = jsii.String(c.Account)
		}
		if c.Region != "" {
			p.Env.Region = jsii.String(c.Region)
		}
	}
	return p
}
