// Package stacks composes the platform's constructs into its four deployable stacks
// (Foundation, Fleet, Ingestion, Operations) and applies the synth-time checks. It holds no
// resource logic of its own: that lives in constructs/.
package stacks

import (
	"errors"
	"fmt"
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
	// Account and Region pin the stacks to an environment, and only the context sets them;
	// both empty means environment-agnostic stacks, whose templates are the same on every
	// machine (synth needs no credentials either way).
	Account, Region string
	// Fleet is the stage's validated fleet file.
	Fleet *fleetspec.Fleet
	// DefenderDetect creates Device Defender Detect security profiles, for accounts that still
	// have Detect (closed to new customers since 31 August 2026). Default: false.
	DefenderDetect bool
	// TableBilling is how the Foundation tables pay for throughput (see billing.go).
	// Default: - provisioned with autoscaling in prod, on-demand in dev.
	TableBilling *TableBilling
	// StreamShards provisions the telemetry stream with this many shards; 0 is on-demand.
	// Default: - DefaultProdStreamShards in prod, on-demand in dev (StreamShardsFor).
	StreamShards *int
	// Existing lists the account-wide singletons the account already has, which the stacks
	// then leave out (see ExistingSingletons). Default: none, every one is created.
	Existing ExistingSingletons
	// LambdaConcurrencyBudget is the account's Lambda concurrency limit in this region; the
	// functions' reserved concurrency must leave Lambda's 100 unreserved within it, or no
	// function reserves any (see concurrency.go). Default: DefaultLambdaConcurrencyBudget.
	LambdaConcurrencyBudget int
	// AcceptedRetentionDays keeps accepted telemetry (the archive's accepted/ prefix); 0 keeps
	// it forever. Default: DefaultAcceptedRetentionDays (365).
	AcceptedRetentionDays *int
	// RejectedRetentionDays keeps rejected records (rejected/). Default:
	// DefaultRejectedRetentionDays (30).
	RejectedRetentionDays *int
}

// DefaultProdStreamShards is prod's provisioned shard count: issue 13's fleet (100,000
// devices, one 1 KB message a minute, about 1,700 records and 2 MB a second with the rule's
// fields) needs 2 shards (1 MB/s and 1,000 records/s each); 4 leave half the write capacity
// for reconnection storms and backlogs, and a steady fleet pays shard-hours instead of
// on-demand's per-GB charges. Raise it with the fleet (context streamShards).
const DefaultProdStreamShards = 4

// StreamShardsFor is the stage's default shard count: provisioned in prod, on-demand (0)
// in dev, where traffic is sporadic.
func StreamShardsFor(stage Stage) int {
	if stage == StageProd {
		return DefaultProdStreamShards
	}
	return 0
}

// Shards is the config's stream shard count, or the stage's default.
func (c Config) Shards() int {
	if c.StreamShards != nil {
		return *c.StreamShards
	}
	return StreamShardsFor(c.Stage)
}

// ExistingSingletons are account-wide, per-region resources an account may already have.
// CloudFormation cannot create a second one, so a stage deployed into such an account leaves
// it out (or takes it over with `cdk import`, see the README).
type ExistingSingletons struct {
	// IoTLogging: the account already has AWS IoT v2 logging (AWS::IoT::Logging).
	IoTLogging bool
	// AuditConfiguration: the account already has a Device Defender audit configuration
	// (AWS::IoT::AccountAuditConfiguration).
	AuditConfiguration bool
	// APIGatewayAccount: the region's API Gateway account already has a CloudWatch role
	// (AWS::ApiGateway::Account).
	APIGatewayAccount bool
}

// DefaultLambdaConcurrencyBudget is Lambda's default concurrent-executions quota per region.
const DefaultLambdaConcurrencyBudget = 1000

// Context keys read by ConfigFromContext.
const (
	ContextStage   = "stage"
	ContextAccount = "account"
	ContextRegion  = "region"
	// ContextFleetFile names the fleet file. Default: config/fleet.<stage>.json.
	ContextFleetFile = "fleetFile"
	// ContextDefenderDetect turns on Device Defender Detect profiles (true or false).
	ContextDefenderDetect = "defenderDetect"
	// ContextStreamShards is the telemetry stream's provisioned shard count (1-10000), or 0
	// for on-demand. Default: StreamShardsFor(stage).
	ContextStreamShards = "streamShards"
	// ContextExistingIoTLogging, ContextExistingAuditConfiguration and
	// ContextExistingAPIGatewayAccount (true or false) leave out an account singleton the
	// account already has.
	ContextExistingIoTLogging         = "existingIotLogging"
	ContextExistingAuditConfiguration = "existingAuditConfiguration"
	ContextExistingAPIGatewayAccount  = "existingApiGatewayAccount"
	// ContextLambdaConcurrencyBudget is the account's Lambda concurrency limit (an integer).
	ContextLambdaConcurrencyBudget = "lambdaConcurrencyBudget"
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
// -c key=value) and validates them. It never calls AWS. It deliberately ignores the CLI's
// CDK_DEFAULT_ACCOUNT and CDK_DEFAULT_REGION (and so AWS_REGION and the caller's profile):
// falling back to them pinned every stack to whatever machine ran synth, so one commit gave
// different templates on different CI runners.
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
	for key, dst := range map[string]*bool{
		ContextExistingIoTLogging:         &cfg.Existing.IoTLogging,
		ContextExistingAuditConfiguration: &cfg.Existing.AuditConfiguration,
		ContextExistingAPIGatewayAccount:  &cfg.Existing.APIGatewayAccount,
	} {
		if *dst, err = contextBool(scope, key); err != nil {
			return Config{}, err
		}
	}
	if cfg.LambdaConcurrencyBudget, err = contextInt(scope, ContextLambdaConcurrencyBudget, DefaultLambdaConcurrencyBudget); err != nil {
		return Config{}, err
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
	shards, err := streamShardsFromContext(scope, cfg.Stage)
	if err != nil {
		return Config{}, err
	}
	cfg.StreamShards = &shards
	if fleetFile == "" {
		fleetFile = filepath.Join("config", "fleet."+string(cfg.Stage)+".json")
	}
	if cfg.Fleet, err = fleetspec.Load(fleetFile); err != nil {
		var p *fleetspec.Problem
		if errors.As(err, &p) {
			// Problems name the file, the line and the field already; kept as the joined
			// list so that main prints one line per problem.
			return Config{}, err
		}
		return Config{}, fmt.Errorf("fleet file (context %q): %w", ContextFleetFile, err)
	}
	return cfg, nil
}

// contextBool reads a true/false context value; -c key=true arrives as a string. Unset is false.
func contextBool(scope constructs.Construct, key string) (bool, error) {
	switch v := scope.Node().TryGetContext(jsii.String(key)).(type) {
	case nil:
		return false, nil
	case bool:
		return v, nil
	case string:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return false, fmt.Errorf("context %q: want true or false, got %q", key, v)
		}
		return b, nil
	default:
		return false, fmt.Errorf("context %q: want true or false, got %v", key, v)
	}
}

// contextInt reads a positive integer context value (a JSON number in cdk.json, a string from
// -c key=value). Unset is def.
func contextInt(scope constructs.Construct, key string, def int) (int, error) {
	var n int
	switch v := scope.Node().TryGetContext(jsii.String(key)).(type) {
	case nil:
		return def, nil
	case float64:
		if v != float64(int(v)) {
			return 0, fmt.Errorf("context %q: want a whole number, got %v", key, v)
		}
		n = int(v)
	case string:
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			return 0, fmt.Errorf("context %q: want a whole number, got %q", key, v)
		}
	default:
		return 0, fmt.Errorf("context %q: want a whole number, got %v", key, v)
	}
	if n < 1 {
		return 0, fmt.Errorf("context %q: %d must be at least 1", key, n)
	}
	return n, nil
}

// Validate checks the config; messages name the context key and the value.
func (c Config) Validate() error {
	if c.Stage != StageDev && c.Stage != StageProd {
		return fmt.Errorf("context %q: unknown stage %q (want %q or %q)", ContextStage, c.Stage, StageDev, StageProd)
	}
	if c.Account != "" && !accountPattern.MatchString(c.Account) {
		return fmt.Errorf("context %q: %q is not a 12-digit AWS account id", ContextAccount, c.Account)
	}
	if c.Region != "" && !regionPattern.MatchString(c.Region) {
		return fmt.Errorf("context %q: %q is not an AWS region name", ContextRegion, c.Region)
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

// AlarmPrefix starts every alarm name of the stage ("SmartCity-dev"): alarm names are unique
// per account and region, so two stages in one account cannot collide. The alert topic admits
// only alarms named so (Foundation) and every stack names its alarms with it.
func (c Config) AlarmPrefix() string {
	return "SmartCity-" + string(c.Stage)
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

// streamShardsFromContext reads ContextStreamShards (a whole number, as a number or a
// string since -c passes strings) over the stage's default.
func streamShardsFromContext(scope constructs.Construct, stage Stage) (int, error) {
	n := StreamShardsFor(stage)
	switch v := scope.Node().TryGetContext(jsii.String(ContextStreamShards)).(type) {
	case nil:
		return n, nil
	case float64:
		if v != float64(int(v)) {
			return 0, fmt.Errorf("context %q: want a whole number of shards (0 for on-demand), got %v", ContextStreamShards, v)
		}
		n = int(v)
	case string:
		i, err := strconv.Atoi(v)
		if err != nil {
			return 0, fmt.Errorf("context %q: want a whole number of shards (0 for on-demand), got %q", ContextStreamShards, v)
		}
		n = i
	default:
		return 0, fmt.Errorf("context %q: want a whole number of shards (0 for on-demand), got %v", ContextStreamShards, v)
	}
	if n < 0 || n > 10000 {
		return 0, fmt.Errorf("context %q: %d shards is outside 0 (on-demand) to 10000", ContextStreamShards, n)
	}
	return n, nil
}
