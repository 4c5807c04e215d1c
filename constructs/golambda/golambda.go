// Package golambda builds Go Lambda functions from any Go module: compiled locally and
// reproducibly for arm64 (no Docker), on provided.al2023, with an encrypted log group that has
// a retention, active tracing, JSON logs, an encrypted environment, a role that holds only
// what its grants add, bounded concurrency, and a failure destination.
package golambda

import (
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskinesis"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdadestinations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3assets"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/secure-smart-city/platform/constructs/securestore"
	"github.com/secure-smart-city/platform/internal/propcheck"
)

// Props configures a Function.
type Props struct {
	// ModuleDir is the directory of the Go module that holds Entry: the one with its go.mod.
	// A team builds its own handler by passing its module's directory. The module must build
	// with the local toolchain and -mod=readonly (its go.sum complete).
	// Default: - this platform's module (ModuleRoot).
	ModuleDir string
	// Entry is the Go main package to build, relative to ModuleDir, for example
	// "lambdas/telemetry". Required.
	Entry string
	// EncryptionKey encrypts the environment, the log group and the failure queue. Required.
	EncryptionKey awskms.IKey
	// Description of the function. Default: - the entry package.
	Description string
	// Environment variables. Default: - none.
	Environment map[string]string
	// Files are written beside the binary (for example "fleet.json"); the function reads them
	// from $LAMBDA_TASK_ROOT. Default: - none.
	Files map[string][]byte
	// MemoryMiB. Default: 256.
	MemoryMiB int
	// Timeout. Default: 30 seconds.
	Timeout time.Duration
	// ReservedConcurrency caps concurrent executions, so a flood cannot starve the account's
	// other functions. Default: 10.
	ReservedConcurrency int
	// LogRetention of the function's log group. Default: one year.
	LogRetention awslogs.RetentionDays
	// LogLevel of the function's application logs (DEBUG, INFO, WARN, ERROR). Default: INFO.
	LogLevel string
	// Async marks a function invoked asynchronously (topic rule direct mode, SNS, EventBridge):
	// it gets two retries, a six-hour event age and an on-failure destination (Failures).
	// Default: false (synchronous or event-source-mapped).
	Async bool
	// RemovalPolicy of the log group and failure queue. Default: RETAIN.
	RemovalPolicy awscdk.RemovalPolicy
}

// Function is a Go Lambda function built from this module.
type Function struct {
	constructs.Construct
	// Resource is the function (child id "Resource").
	Resource awslambda.Function
	// Role is the function's execution role; grants add to it.
	Role awsiam.Role
	// LogGroup receives the function's logs.
	LogGroup awslogs.LogGroup
	// Failures receives failed asynchronous invocations and failed stream batches; nil until
	// the function is async or has a stream source.
	Failures *securestore.Queue

	key     awskms.IKey
	removal awscdk.RemovalPolicy
}

// DefaultBatchSize and the other Default* values are the stream source's defaults.
const (
	DefaultBatchSize         = 500
	DefaultMaxBatchingWindow = time.Second
	DefaultRetryAttempts     = 5
	DefaultMaxRecordAge      = 24 * time.Hour
)

// Defaults.
const (
	DefaultMemoryMiB           = 256
	DefaultTimeout             = 30 * time.Second
	DefaultReservedConcurrency = 10
)

// New builds a Go function. Props errors are reported at synth time with the construct's
// path, all at once; the Function returned after an error is complete (every field set, a
// placeholder in place of the code), so callers need no nil checks, and synth stops on the
// errors.
func New(scope constructs.Construct, id string, props *Props) *Function {
	this := constructs.NewConstruct(scope, jsii.String(id))
	p := defaults(props)
	errs := validate(&p)
	errs.Attach(this)
	if p.EncryptionKey == nil {
		// Only after an error: an AWS managed key stands in so that the value stays usable.
		p.EncryptionKey = awskms.Alias_FromAliasName(this, jsii.String("NoKey"), jsii.String("alias/aws/lambda"))
	}
	f := &Function{Construct: this, key: p.EncryptionKey, removal: p.RemovalPolicy}
	var fnCode awslambda.Code
	if len(errs) == 0 {
		fnCode = code(p)
	} else {
		fnCode = awslambda.Code_FromBucket(awss3.Bucket_FromBucketName(this, jsii.String("Unbuilt"), jsii.String("unbuilt-invalid-props")), jsii.String("bootstrap.zip"), nil)
		p = sanitize(p)
	}

	f.LogGroup = awslogs.NewLogGroup(this, jsii.String("Logs"), &awslogs.LogGroupProps{
		EncryptionKey: p.EncryptionKey,
		Retention:     p.LogRetention,
		RemovalPolicy: p.RemovalPolicy,
	})
	f.Role = awsiam.NewRole(this, jsii.String("ExecutionRole"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("Execution role of " + p.Entry + "; holds only what its grants add"),
	})
	// Only this function's log group, not the AWSLambdaBasicExecutionRole wildcard.
	f.LogGroup.GrantWrite(f.Role)

	fp := &awslambda.FunctionProps{
		Runtime:                      awslambda.Runtime_PROVIDED_AL2023(),
		Architecture:                 awslambda.Architecture_ARM_64(),
		Handler:                      jsii.String("bootstrap"),
		Code:                         fnCode,
		Description:                  jsii.String(p.Description),
		Environment:                  env(p.Environment),
		EnvironmentEncryption:        p.EncryptionKey,
		MemorySize:                   jsii.Number(float64(p.MemoryMiB)),
		Timeout:                      awscdk.Duration_Seconds(jsii.Number(p.Timeout.Seconds())),
		ReservedConcurrentExecutions: jsii.Number(float64(p.ReservedConcurrency)),
		Role:                         f.Role,
		LogGroup:                     f.LogGroup,
		LoggingFormat:                awslambda.LoggingFormat_JSON,
		ApplicationLogLevelV2:        awslambda.ApplicationLogLevel(p.LogLevel),
		SystemLogLevelV2:             awslambda.SystemLogLevel_WARN,
		Tracing:                      awslambda.Tracing_ACTIVE,
		RecursiveLoop:                awslambda.RecursiveLoop_TERMINATE,
	}
	if p.Async {
		f.Failures = f.failures()
		fp.OnFailure = awslambdadestinations.NewSqsDestination(f.Failures.Resource)
		fp.RetryAttempts = jsii.Number(2)
		fp.MaxEventAge = awscdk.Duration_Hours(jsii.Number(6))
	}
	f.Resource = awslambda.NewFunction(this, jsii.String("Resource"), fp)
	return f
}

// KinesisSourceProps tunes a stream source. Nil fields take the defaults.
type KinesisSourceProps struct {
	// BatchSize records per invocation, 100 to 10000. Default: 500 (DefaultBatchSize).
	BatchSize *int
	// MaxBatchingWindow waits to fill a batch, 0 to 5 minutes (0: invoke as soon as records
	// arrive). Default: 1 second (DefaultMaxBatchingWindow).
	MaxBatchingWindow *time.Duration
	// RetryAttempts of a failing batch (after bisecting), 0 to 10000 (0: no retry, a failing
	// batch goes to Failures at once). Default: 5 (DefaultRetryAttempts).
	RetryAttempts *int
	// MaxRecordAge drops records older than this to the failure queue, 60 seconds to 7 days.
	// Default: 24 hours (DefaultMaxRecordAge).
	MaxRecordAge *time.Duration
	// ParallelizationFactor concurrent batches per shard, 1 to 10. Default: 1, which keeps
	// each device's records in order.
	ParallelizationFactor *int
}

// AddKinesisSource consumes stream in batches: bisect on error, bounded retries and record
// age, partial batch failures (ReportBatchItemFailures), and an encrypted on-failure queue
// that receives what still fails. Bad props are reported on the function's path and add no
// source.
func (f *Function) AddKinesisSource(stream awskinesis.IStream, props *KinesisSourceProps) {
	var p KinesisSourceProps
	if props != nil {
		p = *props
	}
	batch := orInt(p.BatchSize, DefaultBatchSize)
	window := orDuration(p.MaxBatchingWindow, DefaultMaxBatchingWindow)
	retries := orInt(p.RetryAttempts, DefaultRetryAttempts)
	age := orDuration(p.MaxRecordAge, DefaultMaxRecordAge)
	parallel := orInt(p.ParallelizationFactor, 1)
	var errs propcheck.Errors
	if batch < 100 || batch > 10000 {
		errs.Addf("golambda: Kinesis BatchSize %d must be between 100 and 10000: per-message invocations are what the stream path exists to avoid", batch)
	}
	if window < 0 || window > 5*time.Minute {
		errs.Addf("golambda: Kinesis MaxBatchingWindow %s must be between 0s and 5m", window)
	}
	if retries < 0 || retries > 10000 {
		errs.Addf("golambda: Kinesis RetryAttempts %d must be between 0 and 10000 (bounded)", retries)
	}
	if age < time.Minute || age > 7*24*time.Hour {
		errs.Addf("golambda: Kinesis MaxRecordAge %s must be between 1m and 168h (bounded)", age)
	}
	if parallel < 1 || parallel > 10 {
		errs.Addf("golambda: Kinesis ParallelizationFactor %d must be between 1 and 10", parallel)
	}
	if len(errs) > 0 {
		errs.Attach(f.Construct)
		return
	}
	if f.Failures == nil {
		f.Failures = f.failures()
	}
	f.Resource.AddEventSource(awslambdaeventsources.NewKinesisEventSource(stream, &awslambdaeventsources.KinesisEventSourceProps{
		StartingPosition:        awslambda.StartingPosition_TRIM_HORIZON,
		BatchSize:               jsii.Number(float64(batch)),
		MaxBatchingWindow:       awscdk.Duration_Millis(jsii.Number(float64(window.Milliseconds()))),
		BisectBatchOnError:      jsii.Bool(true),
		RetryAttempts:           jsii.Number(float64(retries)),
		MaxRecordAge:            awscdk.Duration_Seconds(jsii.Number(age.Seconds())),
		ParallelizationFactor:   jsii.Number(float64(parallel)),
		ReportBatchItemFailures: jsii.Bool(true),
		OnFailure:               awslambdaeventsources.NewSqsDlq(f.Failures.Resource),
	}))
}

// GrantInvoke lets grantee invoke the function.
func (f *Function) GrantInvoke(grantee awsiam.IGrantable) awsiam.Grant {
	return f.Resource.GrantInvoke(grantee)
}

// MetricErrors counts invocations that ended in an error.
func (f *Function) MetricErrors(opts *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return f.Resource.MetricErrors(opts)
}

// MetricThrottles counts throttled invocations.
func (f *Function) MetricThrottles(opts *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return f.Resource.MetricThrottles(opts)
}

// MetricDuration is the invocation duration (statistic from opts; default average).
func (f *Function) MetricDuration(opts *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return f.Resource.MetricDuration(opts)
}

// MetricIteratorAge is how far behind the stream the function reads (milliseconds).
func (f *Function) MetricIteratorAge(opts *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	o := awscloudwatch.MetricOptions{Statistic: jsii.String("Maximum")}
	if opts != nil {
		o = *opts
	}
	return f.Resource.Metric(jsii.String("IteratorAge"), &o)
}

// TimeoutSeconds is the configured timeout, for alarms on duration near it.
func (f *Function) TimeoutSeconds() float64 {
	return *f.Resource.Timeout().ToSeconds(nil)
}

// failures is the function's failure queue. It follows Props.RemovalPolicy (default RETAIN):
// what it holds failed and exists nowhere else, and an SQS queue's own default would delete
// it with its stack.
func (f *Function) failures() *securestore.Queue {
	q := securestore.NewQueue(f.Construct, "Failures", &securestore.QueueProps{EncryptionKey: f.key})
	q.Resource.ApplyRemovalPolicy(f.removal)
	return q
}

func defaults(props *Props) Props {
	p := Props{}
	if props != nil {
		p = *props
	}
	if p.MemoryMiB == 0 {
		p.MemoryMiB = DefaultMemoryMiB
	}
	if p.Timeout == 0 {
		p.Timeout = DefaultTimeout
	}
	if p.ReservedConcurrency == 0 {
		p.ReservedConcurrency = DefaultReservedConcurrency
	}
	if p.LogRetention == "" {
		p.LogRetention = awslogs.RetentionDays_ONE_YEAR
	}
	if p.LogLevel == "" {
		p.LogLevel = "INFO"
	}
	if p.RemovalPolicy == "" {
		p.RemovalPolicy = awscdk.RemovalPolicy_RETAIN
	}
	if p.Description == "" {
		p.Description = "Smart city platform: " + p.Entry
	}
	return p
}

// validate reports every problem of p (after defaults), with the field and its value, and
// resolves an unset ModuleDir to this platform's module root, once.
func validate(p *Props) propcheck.Errors {
	var errs propcheck.Errors
	if p.Entry == "" {
		errs.Addf("golambda: Entry (the Go main package, e.g. lambdas/telemetry) is required")
	} else if filepath.IsAbs(p.Entry) || !filepath.IsLocal(filepath.Clean(p.Entry)) {
		errs.Addf("golambda: Entry %q must be a package directory inside ModuleDir, given relative to it", p.Entry)
	}
	if p.EncryptionKey == nil {
		errs.Addf("golambda: EncryptionKey is required: the environment and logs are encrypted with it")
	}
	if p.MemoryMiB < 128 || p.MemoryMiB > 10240 {
		errs.Addf("golambda: MemoryMiB %d must be between 128 and 10240", p.MemoryMiB)
	}
	if p.Timeout < time.Second || p.Timeout > 15*time.Minute {
		errs.Addf("golambda: Timeout %s must be between 1s and 15m", p.Timeout)
	}
	if p.ReservedConcurrency < 1 {
		errs.Addf("golambda: ReservedConcurrency %d must be at least 1", p.ReservedConcurrency)
	}
	switch p.LogLevel {
	case "DEBUG", "INFO", "WARN", "ERROR":
	default:
		errs.Addf("golambda: LogLevel %q must be DEBUG, INFO, WARN or ERROR", p.LogLevel)
	}
	if p.ModuleDir == "" {
		root, err := ModuleRoot()
		if err != nil {
			errs.Addf("%v", err)
			return errs
		}
		p.ModuleDir = root
	}
	if _, err := os.Stat(filepath.Join(p.ModuleDir, "go.mod")); err != nil {
		errs.Addf("golambda: ModuleDir %q holds no go.mod: it must be the directory of the module that holds Entry", p.ModuleDir)
	} else if p.Entry != "" {
		if fi, err := os.Stat(filepath.Join(p.ModuleDir, p.Entry)); err != nil || !fi.IsDir() {
			errs.Addf("golambda: Entry %q is not a directory in ModuleDir %q", p.Entry, p.ModuleDir)
		}
	}
	return errs
}

// sanitize replaces invalid values with the defaults, so that a Function built after a props
// error is still complete (synth stops on the errors anyway).
func sanitize(p Props) Props {
	if p.MemoryMiB < 128 || p.MemoryMiB > 10240 {
		p.MemoryMiB = DefaultMemoryMiB
	}
	if p.Timeout < time.Second || p.Timeout > 15*time.Minute {
		p.Timeout = DefaultTimeout
	}
	if p.ReservedConcurrency < 1 {
		p.ReservedConcurrency = DefaultReservedConcurrency
	}
	switch p.LogLevel {
	case "DEBUG", "INFO", "WARN", "ERROR":
	default:
		p.LogLevel = "INFO"
	}
	return p
}

func orInt(v *int, def int) int {
	if v == nil {
		return def
	}
	return *v
}

func orDuration(v *time.Duration, def time.Duration) time.Duration {
	if v == nil {
		return def
	}
	return *v
}

// code builds p's Entry in p.ModuleDir (resolved by validate).
func code(p Props) awslambda.Code {
	return awslambda.Code_FromAsset(jsii.String(filepath.Join(p.ModuleDir, p.Entry)), &awss3assets.AssetOptions{
		// The binary is reproducible, so its hash changes exactly when the code does, including
		// code in other packages of the module that a source hash of Entry would miss.
		AssetHashType: awscdk.AssetHashType_OUTPUT,
		Bundling: &awscdk.BundlingOptions{
			// Never pulled: Local always bundles or stops synth with the compiler's error.
			Image: awscdk.DockerImage_FromRegistry(jsii.String("local-go-build-only")),
			Local: &goBuild{root: p.ModuleDir, entry: p.Entry, files: p.Files},
		},
	})
}

func env(m map[string]string) *map[string]*string {
	if len(m) == 0 {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make(map[string]*string, len(m))
	for _, k := range keys {
		out[k] = jsii.String(m[k])
	}
	return &out
}
