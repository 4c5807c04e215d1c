// Package golambda builds Go Lambda functions: compiled locally and
// reproducibly for arm64 (no Docker), on provided.al2023, with an encrypted log group that has
// a retention, active tracing, JSON logs, an environment encrypted with the platform key, a
// role that holds only what its grants add, bounded concurrency, and a failure destination.
package golambda

import (
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
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3assets"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/secure-smart-city/platform/constructs/securestore"
	"github.com/secure-smart-city/platform/internal/propcheck"
)

// Props configures a Function.
type Props struct {
	// Entry is the Go main package to build, relative to the module root, for example
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
	// Function is the function (child id "Resource").
	Function awslambda.Function
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

// Defaults.
const (
	DefaultMemoryMiB           = 256
	DefaultTimeout             = 30 * time.Second
	DefaultReservedConcurrency = 10
)

// New builds a Go function. Props errors are reported at synth time with the construct's path.
func New(scope constructs.Construct, id string, props *Props) *Function {
	this := constructs.NewConstruct(scope, jsii.String(id))
	p := defaults(props)
	var errs propcheck.Errors
	defer func() { errs.Attach(this) }()
	if p.Entry == "" {
		errs.Addf("golambda: Entry (the Go main package, e.g. lambdas/telemetry) is required")
	}
	if p.EncryptionKey == nil {
		errs.Addf("golambda: EncryptionKey is required: the environment and logs are encrypted with the platform key")
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
	root, err := ModuleRoot()
	if err != nil {
		errs.Addf("%v", err)
	}
	f := &Function{Construct: this, key: p.EncryptionKey, removal: p.RemovalPolicy}
	if len(errs) > 0 {
		return f
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
		Code:                         code(root, p),
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
		fp.OnFailure = awslambdadestinations.NewSqsDestination(f.Failures.Queue)
		fp.RetryAttempts = jsii.Number(2)
		fp.MaxEventAge = awscdk.Duration_Hours(jsii.Number(6))
	}
	f.Function = awslambda.NewFunction(this, jsii.String("Resource"), fp)
	return f
}

// KinesisSourceProps tunes a stream source. Zero values take the defaults.
type KinesisSourceProps struct {
	// BatchSize records per invocation, at least 100. Default: 500.
	BatchSize int
	// MaxBatchingWindow waits to fill a batch. Default: 1 second.
	MaxBatchingWindow time.Duration
	// RetryAttempts of a failing batch (after bisecting). Default: 5.
	RetryAttempts int
	// MaxRecordAge drops records older than this to the failure queue. Default: 24 hours.
	MaxRecordAge time.Duration
	// ParallelizationFactor concurrent batches per shard (1-10). Default: 1, which keeps each
	// device's records in order.
	ParallelizationFactor int
}

// AddKinesisSource consumes stream in batches: bisect on error, bounded retries and record
// age, partial batch failures (ReportBatchItemFailures), and an encrypted on-failure queue
// that receives what still fails.
func (f *Function) AddKinesisSource(stream awskinesis.IStream, props *KinesisSourceProps) {
	p := KinesisSourceProps{}
	if props != nil {
		p = *props
	}
	var errs propcheck.Errors
	defer func() { errs.Attach(f.Construct) }()
	if p.BatchSize == 0 {
		p.BatchSize = 500
	}
	if p.BatchSize < 100 || p.BatchSize > 10000 {
		errs.Addf("golambda: Kinesis BatchSize %d must be between 100 and 10000: per-message invocations are what the stream path exists to avoid", p.BatchSize)
	}
	if p.MaxBatchingWindow == 0 {
		p.MaxBatchingWindow = time.Second
	}
	if p.RetryAttempts == 0 {
		p.RetryAttempts = 5
	}
	if p.RetryAttempts < 0 || p.RetryAttempts > 10000 {
		errs.Addf("golambda: Kinesis RetryAttempts %d must be between 0 and 10000 (bounded)", p.RetryAttempts)
	}
	if p.MaxRecordAge == 0 {
		p.MaxRecordAge = 24 * time.Hour
	}
	if p.ParallelizationFactor == 0 {
		p.ParallelizationFactor = 1
	}
	if f.Function == nil || len(errs) > 0 {
		return
	}
	if f.Failures == nil {
		f.Failures = f.failures()
	}
	f.Function.AddEventSource(awslambdaeventsources.NewKinesisEventSource(stream, &awslambdaeventsources.KinesisEventSourceProps{
		StartingPosition:        awslambda.StartingPosition_TRIM_HORIZON,
		BatchSize:               jsii.Number(float64(p.BatchSize)),
		MaxBatchingWindow:       awscdk.Duration_Millis(jsii.Number(float64(p.MaxBatchingWindow.Milliseconds()))),
		BisectBatchOnError:      jsii.Bool(true),
		RetryAttempts:           jsii.Number(float64(p.RetryAttempts)),
		MaxRecordAge:            awscdk.Duration_Seconds(jsii.Number(p.MaxRecordAge.Seconds())),
		ParallelizationFactor:   jsii.Number(float64(p.ParallelizationFactor)),
		ReportBatchItemFailures: jsii.Bool(true),
		OnFailure:               awslambdaeventsources.NewSqsDlq(f.Failures.Queue),
	}))
}

// GrantInvoke lets grantee invoke the function.
func (f *Function) GrantInvoke(grantee awsiam.IGrantable) awsiam.Grant {
	return f.Function.GrantInvoke(grantee)
}

// MetricErrors counts invocations that ended in an error.
func (f *Function) MetricErrors(opts *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return f.Function.MetricErrors(opts)
}

// MetricThrottles counts throttled invocations.
func (f *Function) MetricThrottles(opts *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return f.Function.MetricThrottles(opts)
}

// MetricDuration is the invocation duration (statistic from opts; default average).
func (f *Function) MetricDuration(opts *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return f.Function.MetricDuration(opts)
}

// MetricIteratorAge is how far behind the stream the function reads (milliseconds).
func (f *Function) MetricIteratorAge(opts *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	o := awscloudwatch.MetricOptions{Statistic: jsii.String("Maximum")}
	if opts != nil {
		o = *opts
	}
	return f.Function.Metric(jsii.String("IteratorAge"), &o)
}

// TimeoutSeconds is the configured timeout, for alarms on duration near it.
func (f *Function) TimeoutSeconds() float64 {
	return *f.Function.Timeout().ToSeconds(nil)
}

// failures is the function's failure queue. It follows Props.RemovalPolicy (default RETAIN):
// what it holds failed and exists nowhere else, and an SQS queue's own default would delete
// it with its stack.
func (f *Function) failures() *securestore.Queue {
	q := securestore.NewQueue(f.Construct, "Failures", &securestore.QueueProps{EncryptionKey: f.key})
	q.Queue.ApplyRemovalPolicy(f.removal)
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

func code(root string, p Props) awslambda.Code {
	return awslambda.Code_FromAsset(jsii.String(filepath.Join(root, p.Entry)), &awss3assets.AssetOptions{
		// The binary is reproducible, so its hash changes exactly when the code does, including
		// code in other packages of the module that a source hash of Entry would miss.
		AssetHashType: awscdk.AssetHashType_OUTPUT,
		Bundling: &awscdk.BundlingOptions{
			// Never pulled: Local always bundles or stops synth with the compiler's error.
			Image: awscdk.DockerImage_FromRegistry(jsii.String("local-go-build-only")),
			Local: &goBuild{root: root, entry: p.Entry, files: p.Files},
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
