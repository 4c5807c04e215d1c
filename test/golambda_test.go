package test

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskinesis"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/secure-smart-city/platform/compliance"
	"github.com/secure-smart-city/platform/constructs/golambda"
)

// TestGoLambdaBuildIsReproducible: two independent synths of the same function produce the
// same asset hash. The hash is of the built output (AssetHashType OUTPUT), so this holds only
// if go build gives identical binaries.
func TestGoLambdaBuildIsReproducible(t *testing.T) {
	var keys []string
	for i := 0; i < 2; i++ {
		app := newApp(t, nil)
		s := awscdk.NewStack(app, jsii.String("Repro"), &awscdk.StackProps{
			Env: &awscdk.Environment{Account: jsii.String(testAccount), Region: jsii.String(testRegion)},
		})
		testFunction(s, "Fn", false)
		tmpl := templateOf(t, app, "Repro")
		for _, f := range tmpl.Resources("AWS::Lambda::Function") {
			key, _ := compliance.Get(f.Properties, "Code", "S3Key").(string)
			keys = append(keys, key)
		}
	}
	if len(keys) != 2 || keys[0] == "" || keys[0] != keys[1] {
		t.Errorf("asset keys across two builds: %v; want two identical keys", keys)
	}
}

// TestGoLambdaDefaults: the function as built, property by property.
func TestGoLambdaDefaults(t *testing.T) {
	tmpl := synthWeakenings(t)["Compliant-lambda-hardening"]
	fns := tmpl.Resources("AWS::Lambda::Function")
	if len(fns) != 1 {
		t.Fatalf("%d functions, want 1", len(fns))
	}
	p := fns[0].Properties
	want := map[string]any{
		"Runtime": "provided.al2023", "Handler": "bootstrap", "MemorySize": 256.0, "Timeout": 30.0,
		"ReservedConcurrentExecutions": 10.0,
	}
	for k, v := range want {
		if p[k] != v {
			t.Errorf("%s = %v, want %v", k, p[k], v)
		}
	}
	if a := compliance.Get(p, "Architectures", 0); a != "arm64" {
		t.Errorf("architecture %v, want arm64", a)
	}
	if l := compliance.Get(p, "LoggingConfig", "ApplicationLogLevel"); l != "INFO" {
		t.Errorf("application log level %v, want INFO", l)
	}
	for _, lg := range tmpl.Resources("AWS::Logs::LogGroup") {
		if compliance.Get(lg.Properties, "RetentionInDays") != 365.0 || lg.Attr("DeletionPolicy") != "Retain" {
			t.Errorf("log group %s: retention %v, deletion %q; want 365 days, Retain", lg.ID, compliance.Get(lg.Properties, "RetentionInDays"), lg.Attr("DeletionPolicy"))
		}
	}
	for _, r := range tmpl.Resources("AWS::IAM::Role") {
		if compliance.Get(r.Properties, "ManagedPolicyArns") != nil {
			t.Errorf("role %s has managed policies %v; want only its grants", r.ID, compliance.Get(r.Properties, "ManagedPolicyArns"))
		}
	}
	// The async variant has its destination and bounded retries.
	async := synthWeakenings(t)["Compliant-lambda-async-failure-destination"]
	cfgs := async.Resources("AWS::Lambda::EventInvokeConfig")
	if len(cfgs) != 1 || compliance.Get(cfgs[0].Properties, "MaximumRetryAttempts") != 2.0 {
		t.Errorf("async invoke config %v; want one with 2 retries", cfgs)
	}
	// The stream source, as built.
	stream := synthWeakenings(t)["Compliant-stream-source-hardening"]
	for _, m := range stream.Resources("AWS::Lambda::EventSourceMapping") {
		for k, v := range map[string]any{"BatchSize": 500.0, "MaximumRetryAttempts": 5.0, "MaximumBatchingWindowInSeconds": 1.0,
			"MaximumRecordAgeInSeconds": 86400.0, "ParallelizationFactor": 1.0, "StartingPosition": "TRIM_HORIZON"} {
			if m.Properties[k] != v {
				t.Errorf("event source mapping %s = %v, want %v", k, m.Properties[k], v)
			}
		}
	}
}

// TestGoLambdaPropsErrors: bad props are refused with the field and value named.
func TestGoLambdaPropsErrors(t *testing.T) {
	app := newApp(t, nil)
	s := awscdk.NewStack(app, jsii.String("ProcessorProps"), nil)
	k := platformKey(s)
	cases := []struct {
		props *golambda.Props
		want  string
	}{
		{&golambda.Props{EncryptionKey: k.Resource}, "Entry (the Go main package"},
		{&golambda.Props{Entry: testEntry}, "EncryptionKey is required"},
		{&golambda.Props{Entry: testEntry, EncryptionKey: k.Resource, MemoryMiB: 64}, "MemoryMiB 64 must be between 128 and 10240"},
		{&golambda.Props{Entry: testEntry, EncryptionKey: k.Resource, Timeout: 20 * time.Minute}, "Timeout 20m0s must be between 1s and 15m"},
		{&golambda.Props{Entry: testEntry, EncryptionKey: k.Resource, LogLevel: "TRACE"}, `LogLevel "TRACE" must be`},
		{&golambda.Props{Entry: testEntry, EncryptionKey: k.Resource, ReservedConcurrency: -1}, "ReservedConcurrency -1 must be at least 1"},
	}
	for i, c := range cases {
		fn := golambda.New(constructs.NewConstruct(s, jsii.String("C"+string(rune('A'+i)))), "Fn", c.props)
		if got := validationErrors(fn); !strings.Contains(got, c.want) {
			t.Errorf("props %+v: errors %q, want %q", c.props, got, c.want)
		}
	}
	fn := testFunction(awscdk.NewStack(app, jsii.String("ProcessorStream"), nil), "Stream", false)
	fn.AddKinesisSource(nil, &golambda.KinesisSourceProps{BatchSize: new(10)})
	if got := validationErrors(fn); !strings.Contains(got, "Kinesis BatchSize 10 must be between 100 and 10000") {
		t.Errorf("batch size 10: errors %q", got)
	}
}

// TestGoLambdaZeroIsNotDefault: a stream source's 0 retries and 0 s batching window are kept
// (nil means the default), and a function built after props errors is complete, so that its
// callers need no nil checks; synth still stops on the errors.
func TestGoLambdaZeroIsNotDefault(t *testing.T) {
	app := newApp(t, nil)
	s := awscdk.NewStack(app, jsii.String("GoLambdaZero"), nil)
	fn := testFunction(s, "Fn", false)
	window := time.Duration(0)
	fn.AddKinesisSource(importedStream(s), &golambda.KinesisSourceProps{RetryAttempts: new(0), MaxBatchingWindow: &window})
	tmpl := templateOf(t, app, "GoLambdaZero")
	ms := tmpl.Resources("AWS::Lambda::EventSourceMapping")
	if len(ms) != 1 || ms[0].Properties["MaximumRetryAttempts"] != 0.0 || ms[0].Properties["MaximumBatchingWindowInSeconds"] != nil && ms[0].Properties["MaximumBatchingWindowInSeconds"] != 0.0 {
		t.Errorf("event source mappings %v; want MaximumRetryAttempts 0 and no batching window", ms)
	}

	bad := awscdk.NewStack(newApp(t, nil), jsii.String("GoLambdaBad"), nil)
	var got string
	for i, p := range []*golambda.Props{
		{Entry: testEntry, MemoryMiB: 64},                               // no key, bad memory
		{Entry: "../outside", EncryptionKey: platformKey(bad).Resource}, // not inside the module
		{Entry: "handler", ModuleDir: t.TempDir(), EncryptionKey: nil},  // no go.mod
	} {
		f := golambda.New(bad, "Bad"+string(rune('A'+i)), p)
		if f.Resource == nil || f.Role == nil || f.LogGroup == nil {
			t.Fatalf("props %+v: incomplete function after an error: %+v", p, f)
		}
		f.AddKinesisSource(importedStream(f.Construct), nil) // usable, no panic
		_ = f.MetricErrors(nil)
		got += validationErrors(f) + "\n"
	}
	for _, want := range []string{"EncryptionKey is required", "MemoryMiB 64 must be between 128 and 10240",
		`Entry "../outside" must be a package directory inside ModuleDir`, "holds no go.mod"} {
		if !strings.Contains(got, want) {
			t.Errorf("errors %q, want %q", got, want)
		}
	}
}

// importedStream is a stream of another stack or team, by ARN.
func importedStream(s constructs.Construct) awskinesis.IStream {
	return awskinesis.Stream_FromStreamArn(s, jsii.String("ImportedStream"),
		jsii.String("arn:aws:kinesis:"+testRegion+":"+testAccount+":stream/elsewhere"))
}
