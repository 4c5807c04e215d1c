package clierr

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFromPanicKeepsValidationLinesOnly(t *testing.T) {
	// The text jsii panics with when CDK's synth-time validation fails (shape of
	// aws-cdk-lib's "Validation failed with the following errors" report).
	msg := errors.New("Error: Validation failed with the following errors:\n" +
		"  [SmartCity-dev-Ingestion/Telemetry] processor: MemoryMiB 64 must be between 128 and 10240\n" +
		"  [SmartCity-dev-Ingestion/Telemetry] processor: Timeout 0s must be between 1s and 15m\n" +
		"    at validateTree (/tmp/jsii-kernel-abc/node_modules/aws-cdk-lib/core/lib/private/synthesis.js:3:1)\n" +
		"    at Object.synthesize (/tmp/jsii-kernel-abc/node_modules/aws-cdk-lib/core/lib/private/synthesis.js:1:2)")
	want := []string{
		"SmartCity-dev-Ingestion/Telemetry: processor: MemoryMiB 64 must be between 128 and 10240",
		"SmartCity-dev-Ingestion/Telemetry: processor: Timeout 0s must be between 1s and 15m",
	}
	if diff := cmp.Diff(want, FromPanic(msg)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestFromPanicDropsJavaScriptStack(t *testing.T) {
	got := FromPanic("Error: Number of resources in stack 'SmartCity-dev-Fleet': 5012 is greater than allowed maximum of 500\n    at Stack.synthesize (/tmp/x.js:1:1)")
	want := []string{"Number of resources in stack 'SmartCity-dev-Fleet': 5012 is greater than allowed maximum of 500"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// A compiler's output is the cause: every line stays, indented under the first.
	got = FromPanic(fmt.Errorf("processor: go build ./lambdas/x failed: exit status 1\n./main.go:3:1: syntax error"))
	want = []string{"processor: go build ./lambdas/x failed: exit status 1\n    ./main.go:3:1: syntax error"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestLinesSplitsJoinedErrors(t *testing.T) {
	err := errors.Join(errors.New("a.json:1:2: name: bad"), errors.Join(errors.New("a.json:3:4: things[0].class: bad")))
	want := []string{"a.json:1:2: name: bad", "a.json:3:4: things[0].class: bad"}
	if diff := cmp.Diff(want, Lines(err)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestCheckToolchain(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"devDependencies": {"aws-cdk": "2.1148.1", "node": "22.23.3"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	node := func(version string) string {
		p := filepath.Join(t.TempDir(), "node")
		if err := os.WriteFile(p, []byte("#!/bin/sh\necho v"+version+"\n"), 0o700); err != nil {
			t.Fatal(err)
		}
		return p
	}
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	cases := []struct {
		name string
		env  map[string]string
		want string // "" means no error
	}{
		{"pinned CLI and Node", map[string]string{CliVersionEnv: "2.1148.1", "JSII_NODE": node("22.23.3")}, ""},
		{"no CLI (go run, go test)", map[string]string{"JSII_NODE": node("22.1.0")}, ""},
		{"global CLI", map[string]string{CliVersionEnv: "2.1100.0", "JSII_NODE": node("22.23.3")}, "the CDK CLI running this app is 2.1100.0, the repo pins aws-cdk 2.1148.1"},
		{"CLI 3", map[string]string{CliVersionEnv: "3.0.0", "JSII_NODE": node("22.23.3")}, "is 3.0.0"},
		{"system Node 20", map[string]string{"JSII_NODE": node("20.20.2")}, "the app runs on Node 20.20.2, the repo pins Node 22.23.3"},
		{"no Node", map[string]string{"JSII_NODE": filepath.Join(dir, "missing")}, "cannot run"},
	}
	for _, c := range cases {
		err := CheckToolchain(dir, env(c.env))
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "make deps") || strings.Contains(err.Error(), "\n")):
			t.Errorf("%s: got %v, want one line containing %q and make deps", c.name, err, c.want)
		}
	}
	if err := CheckToolchain(t.TempDir(), env(map[string]string{CliVersionEnv: "1.0.0"})); err != nil {
		t.Errorf("without package.json: %v", err)
	}
}

func TestAssemblyErrors(t *testing.T) {
	dir := t.TempDir()
	manifest := `{"artifacts": {
	  "SmartCity-dev-Fleet": {"type": "aws:cloudformation:stack", "metadata": {
	    "/SmartCity-dev-Fleet/Policy/Resource": [
	      {"type": "aws:cdk:warning", "data": "a warning"},
	      {"type": "aws:cdk:error", "data": "AwsSolutions-IAM5: The IAM entity contains wildcard permissions.\nSee the docs."}
	    ],
	    "/SmartCity-dev-Fleet/Bucket/Resource": [{"type": "aws:cdk:error", "data": "NIST.800.53.R5-S3BucketLoggingEnabled: no logs"}]
	  }},
	  "SmartCity-dev-Operations": {"type": "aws:cloudformation:stack", "additionalMetadataFile": "SmartCity-dev-Operations.metadata.json"},
	  "Tree": {"type": "cdk:tree"}
	}}`
	// Since cloud assembly schema 5x a stack's metadata may sit in its own file.
	extra := `{"/SmartCity-dev-Operations/Plain/Resource": [{"type": "aws:cdk:error", "data": "AwsSolutions-SQS4: no TLS"}]}`
	for name, data := range map[string]string{"manifest.json": manifest, "SmartCity-dev-Operations.metadata.json": extra} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	got, err := AssemblyErrors(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"[Error at /SmartCity-dev-Fleet/Bucket/Resource] NIST.800.53.R5-S3BucketLoggingEnabled: no logs",
		"[Error at /SmartCity-dev-Fleet/Policy/Resource] AwsSolutions-IAM5: The IAM entity contains wildcard permissions. See the docs.",
		"[Error at /SmartCity-dev-Operations/Plain/Resource] AwsSolutions-SQS4: no TLS",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
