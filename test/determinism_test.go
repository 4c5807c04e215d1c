package test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/jsii-runtime-go"

	"github.com/secure-smart-city/platform/constructs/golambda"
	"github.com/secure-smart-city/platform/internal/clierr"
)

var (
	appOnce sync.Once
	appBin  string
	appErr  error
)

// appBinary builds the CDK app (the module's main package) once per test binary, so each run
// below is the app exactly as `cdk synth` starts it, minus the CLI.
func appBinary(t *testing.T) string {
	t.Helper()
	appOnce.Do(func() {
		dir, err := os.MkdirTemp("", "smartcity-app-")
		if err != nil {
			appErr = err
			return
		}
		appBin = filepath.Join(dir, "app")
		cmd := exec.Command("go", "build", "-o", appBin, ".")
		cmd.Dir = moduleRoot(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			appErr = errors.New(string(out))
		}
	})
	if appErr != nil {
		t.Fatalf("go build the app: %v", appErr)
	}
	return appBin
}

// runApp runs the app in the module root as the CDK CLI does: context in CDK_CONTEXT_JSON
// (cdk.json's, plus extra), output in CDK_OUTDIR, with the caller's AWS and CDK variables
// replaced by env. Node 22 from node_modules comes first on PATH.
func runApp(t *testing.T, outdir string, extra map[string]any, env ...string) (stderr string, code int) {
	t.Helper()
	ctx := cdkContext(t)
	for k, v := range extra {
		ctx[k] = v
	}
	ctxJSON, err := json.Marshal(ctx)
	if err != nil {
		t.Fatal(err)
	}
	root := moduleRoot(t)
	cmd := exec.Command(appBinary(t))
	cmd.Dir = root
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "CDK_") && !strings.HasPrefix(kv, "PATH=") && !strings.HasPrefix(kv, "JSII_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env,
		"PATH="+filepath.Join(root, "node_modules", ".bin")+string(os.PathListSeparator)+os.Getenv("PATH"),
		"CDK_OUTDIR="+outdir, "CDK_CONTEXT_JSON="+string(ctxJSON))
	cmd.Env = append(cmd.Env, env...)
	var errBuf bytes.Buffer
	cmd.Stderr = &errBuf
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("run the app: %v", err)
	}
	return errBuf.String(), code
}

// TestSynthIsDeterministic: the same commit synthesizes the same bytes whatever region and
// account the machine's environment names, because without account and region in context the
// stacks are environment-agnostic. Asset hashes are compared too: they hash the Go builds,
// which must be reproducible for this to hold.
func TestSynthIsDeterministic(t *testing.T) {
	if testing.Short() {
		t.Skip("two full synths")
	}
	envs := [][]string{
		{"AWS_REGION=eu-west-1", "AWS_DEFAULT_REGION=eu-west-1", "CDK_DEFAULT_REGION=eu-west-1", "CDK_DEFAULT_ACCOUNT=111111111111"},
		{"AWS_REGION=us-east-1", "CDK_DEFAULT_REGION=ap-southeast-2", "CDK_DEFAULT_ACCOUNT=222222222222"},
	}
	var outs []map[string][]byte
	for _, env := range envs {
		dir := t.TempDir()
		if stderr, code := runApp(t, dir, nil, env...); code != 0 {
			t.Fatalf("synth with %v: exit %d\n%s", env, code, stderr)
		}
		outs = append(outs, readAssembly(t, dir))
	}
	a, b := outs[0], outs[1]
	var templates int
	for name := range a {
		if strings.HasSuffix(name, ".template.json") {
			templates++
		}
	}
	if templates != 4 {
		t.Errorf("got %d templates, want 4: %v", templates, slices.Sorted(mapKeys(a)))
	}
	for _, name := range slices.Sorted(mapKeys(a)) {
		if !bytes.Equal(a[name], b[name]) {
			t.Errorf("%s differs between the two environments", name)
		}
		for _, lit := range []string{"eu-west-1", "us-east-1", "ap-southeast-2", "111111111111", "222222222222"} {
			if bytes.Contains(a[name], []byte(lit)) {
				t.Errorf("%s names %q from the environment", name, lit)
			}
		}
	}
	for name := range b {
		if _, ok := a[name]; !ok {
			t.Errorf("%s exists only in the second synth", name)
		}
	}
}

// readAssembly returns the files that must not depend on the machine: templates, asset
// manifests, and the names of the asset directories (which are their hashes).
func readAssembly(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, e := range entries {
		name := e.Name()
		switch {
		case e.IsDir() && strings.HasPrefix(name, "asset."):
			out[name] = nil
		case strings.HasSuffix(name, ".template.json"), strings.HasSuffix(name, ".assets.json"):
			data, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			out[name] = data
		}
	}
	return out
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// TestAppErrorsAreOneLineEach: a bad fleet file, a bad context value and a foreign CDK CLI or
// Node each stop the app with exit 1 and one "error: " line per problem, naming the file,
// line, column, field and value, and no Go panic or goroutine trace.
func TestAppErrorsAreOneLineEach(t *testing.T) {
	dir := t.TempDir()
	fleet := filepath.Join(dir, "fleet.json")
	if err := os.WriteFile(fleet, []byte(`{
  "name": "smartcity",
  "districts": [{"id": "north", "name": "North"}],
  "classes": [{"id": "parking", "name": "Parking", "maxMessageBytes": "1024"}],
  "things": [{"name": "pk-1", "class": "parkng", "district": "north", "serial": "S1"}]
}`), 0o600); err != nil {
		t.Fatal(err)
	}
	fakeNode := filepath.Join(dir, "node")
	if err := os.WriteFile(fakeNode, []byte("#!/bin/sh\necho v20.20.2\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		ctx   map[string]any
		env   []string
		lines []string
	}{
		{
			name: "fleet file",
			ctx:  map[string]any{"fleetFile": fleet},
			lines: []string{
				`error: ` + fleet + `:4:71: classes[0].maxMessageBytes: expected an integer, got string "1024"`,
				`error: ` + fleet + `:5:40: things[0].class: unknown device class "parkng"`,
			},
		},
		{
			name:  "context",
			ctx:   map[string]any{"stage": "qa"},
			lines: []string{`error: context "stage": unknown stage "qa" (want "dev" or "prod")`},
		},
		{
			name:  "foreign CDK CLI",
			env:   []string{"CDK_CLI_VERSION=2.1000.0"},
			lines: []string{"error: the CDK CLI running this app is 2.1000.0, the repo pins aws-cdk "},
		},
		{
			name:  "foreign Node",
			env:   []string{"JSII_NODE=" + fakeNode},
			lines: []string{"error: the app runs on Node 20.20.2, the repo pins Node 22."},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			stderr, code := runApp(t, t.TempDir(), c.ctx, c.env...)
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			got := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
			if len(got) != len(c.lines) {
				t.Fatalf("got %d lines, want %d:\n%s", len(got), len(c.lines), stderr)
			}
			for i := range got {
				if !strings.HasPrefix(got[i], c.lines[i]) {
					t.Errorf("line %d:\n got %s\nwant %s...", i, got[i], c.lines[i])
				}
			}
			if strings.Contains(c.name, "foreign") && !strings.Contains(stderr, "make deps") {
				t.Errorf("%q does not say to run make deps", stderr)
			}
			for _, bad := range []string{"panic:", "goroutine ", "abnormally"} {
				if strings.Contains(stderr, bad) {
					t.Errorf("stderr contains %q:\n%s", bad, stderr)
				}
			}
		})
	}
}

// TestPropsErrorBeatsItsSymptom: a construct that refuses its props records a validation error
// and still returns a complete value, so the caller's next grant works and synth reports the
// error with the construct's path. Should a later jsii call panic all the same ("grantee is
// required"), what main prints is the props error, not that panic.
func TestPropsErrorBeatsItsSymptom(t *testing.T) {
	app := newApp(t, nil)
	stack := awscdk.NewStack(app, jsii.String("Props"), nil)
	key := awskms.NewKey(stack, jsii.String("Key"), &awskms.KeyProps{EnableKeyRotation: jsii.Bool(true)})
	table := awsdynamodb.NewTable(stack, jsii.String("Table"), &awsdynamodb.TableProps{
		PartitionKey: &awsdynamodb.Attribute{Name: jsii.String("id"), Type: awsdynamodb.AttributeType_STRING},
	})
	problems := clierr.Build(app, func() {
		golambda.New(stack, "Fn", &golambda.Props{Entry: "lambdas/telemetry", EncryptionKey: key, MemoryMiB: 64})
		table.GrantReadData(nil) // a symptom: a panic after the props error
	})
	want := []string{"Props/Fn: golambda: MemoryMiB 64 must be between 128 and 10240"}
	if !slices.Equal(problems, want) {
		t.Errorf("got %q, want %q", problems, want)
	}

	// The function returned after the error is complete: granting to it works, and synth's
	// own validation reports the same line.
	app2 := newApp(t, nil)
	stack2 := awscdk.NewStack(app2, jsii.String("Props"), nil)
	fn := golambda.New(stack2, "Fn", &golambda.Props{Entry: "lambdas/telemetry", MemoryMiB: 64,
		EncryptionKey: awskms.NewKey(stack2, jsii.String("Key"), &awskms.KeyProps{EnableKeyRotation: jsii.Bool(true)})})
	awsdynamodb.NewTable(stack2, jsii.String("Table"), &awsdynamodb.TableProps{
		PartitionKey: &awsdynamodb.Attribute{Name: jsii.String("id"), Type: awsdynamodb.AttributeType_STRING},
	}).GrantReadData(fn.Role)
	_, problems = clierr.Synth(app2)
	if !slices.Equal(problems, want) {
		t.Errorf("synth: got %q, want %q", problems, want)
	}
}
