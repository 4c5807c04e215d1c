// Package test holds the platform's synth tests: snapshots of every stack, the secure-default
// checks over the whole app, proofs that each check fails on a weakened construct, construct
// unit tests and the cdk-nag compliance test. One jsii runtime serves the whole package, and
// the app is synthesized once per stage (see synthOnce).
package test

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/cxapi"
	"github.com/aws/jsii-runtime-go"

	"github.com/secure-smart-city/platform/compliance"
	"github.com/secure-smart-city/platform/fleetspec"
	"github.com/secure-smart-city/platform/stacks"
)

var update = flag.Bool("update", false, "rewrite the golden templates in testdata/")

// testEnv pins the synthesized environment so templates do not depend on the caller's
// CDK_DEFAULT_* variables. synthAgnostic also synthesizes dev environment-agnostic, as
// `cdk synth` without AWS credentials does, for the compliance tests: suppressions and checks
// must hold for token-laden ARNs as well as concrete ones.
const (
	testAccount = "111111111111"
	testRegion  = "eu-central-1"
)

// synthesized is one stage's synthesized app.
type synthesized struct {
	platform  *stacks.Platform
	templates map[string]compliance.Template // by stack name
	errors    []string                       // error annotations (nag findings, policy checks)
	warnings  []string
	// gate is what main's post-synth check (stacks.CheckTemplates) reports.
	gate []string
}

var (
	synthMu    sync.Mutex
	synthCache = map[string]*synthesized{}
)

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	jsii.Close()
	os.Exit(code)
}

// cdkContext returns cdk.json's context (feature flags), so tests build the app the CLI builds.
func cdkContext(t testing.TB) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(moduleRoot(t), "cdk.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Context map[string]any `json:"context"`
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		t.Fatalf("cdk.json: %v", err)
	}
	return cfg.Context
}

func moduleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test directory")
		}
		dir = parent
	}
}

// newApp returns an app with cdk.json's feature flags, synthesizing into a temporary directory.
func newApp(t testing.TB, extra map[string]any) awscdk.App {
	t.Helper()
	ctx := cdkContext(t)
	for k, v := range extra {
		ctx[k] = v
	}
	out, err := os.MkdirTemp("", "smartcity-synth-")
	if err != nil {
		t.Fatal(err)
	}
	return awscdk.NewApp(&awscdk.AppProps{Context: &ctx, Outdir: jsii.String(out)})
}

// synthOnce builds and synthesizes the whole platform for a stage, in the pinned test
// environment, once per test binary.
func synthOnce(t testing.TB, stage stacks.Stage) *synthesized {
	t.Helper()
	return synthCached(t, stage, true)
}

// synthAgnostic synthesizes the dev platform with no account or region, once per test binary.
func synthAgnostic(t testing.TB) *synthesized {
	t.Helper()
	return synthCached(t, stacks.StageDev, false)
}

// synthVariants are the synths every compliance test covers.
func synthVariants(t testing.TB) map[string]*synthesized {
	t.Helper()
	return map[string]*synthesized{
		"dev": synthOnce(t, stacks.StageDev), "prod": synthOnce(t, stacks.StageProd), "dev (environment-agnostic)": synthAgnostic(t),
	}
}

func synthCached(t testing.TB, stage stacks.Stage, pinned bool) *synthesized {
	t.Helper()
	synthMu.Lock()
	defer synthMu.Unlock()
	key := fmt.Sprintf("%s/%v", stage, pinned)
	if s, ok := synthCache[key]; ok {
		return s
	}
	app := newApp(t, map[string]any{"stage": string(stage)})
	fleet, err := fleetspec.Load(filepath.Join(moduleRoot(t), "config", "fleet."+string(stage)+".json"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := stacks.Config{Stage: stage, Fleet: fleet}
	if pinned {
		cfg.Account, cfg.Region = testAccount, testRegion
	}
	s := &synthesized{platform: stacks.NewPlatform(app, cfg), templates: map[string]compliance.Template{}}
	asm := synthOrFail(t, app)
	defer func() { _ = os.RemoveAll(*asm.Directory()) }()
	gate, err := stacks.CheckTemplates(asm, cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.gate = gate
	for _, st := range *asm.Stacks() {
		tmpl, err := compliance.FromValue(st.Template())
		if err != nil {
			t.Fatalf("stack %s: %v", *st.StackName(), err)
		}
		s.templates[*st.StackName()] = tmpl
		for _, a := range annotations(t, st) {
			line := a.path + ": " + a.text
			if a.err {
				s.errors = append(s.errors, line)
			} else {
				s.warnings = append(s.warnings, line)
			}
		}
	}
	synthCache[key] = s
	return s
}

// templateOf synthesizes app and returns stack's template.
func templateOf(t *testing.T, app awscdk.App, stack string) compliance.Template {
	t.Helper()
	tmpl, err := compliance.FromValue(synthOrFail(t, app).GetStackByName(jsii.String(stack)).Template())
	if err != nil {
		t.Fatal(err)
	}
	return tmpl
}

// synthOrFail synthesizes app; CDK fails synth on any error annotation (an unsuppressed
// cdk-nag finding, an IoT policy finding, a props error), and this turns that failure into a
// test failure that lists every violation.
func synthOrFail(t testing.TB, app awscdk.App) (asm cxapi.CloudAssembly) {
	t.Helper()
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		msg := fmt.Sprint(r)
		if m := reportPath.FindStringSubmatch(msg); m != nil {
			if data, err := os.ReadFile(m[1]); err == nil {
				var rep struct {
					PluginReports []struct {
						Violations []struct {
							RuleName, Description string
							ViolatingConstructs   []struct{ ConstructPath string }
						}
					}
				}
				if json.Unmarshal(data, &rep) == nil {
					var b strings.Builder
					for _, p := range rep.PluginReports {
						for _, v := range p.Violations {
							for _, c := range v.ViolatingConstructs {
								fmt.Fprintf(&b, "\n  %s: %s", c.ConstructPath, v.Description)
							}
						}
					}
					msg += b.String()
				}
			}
		}
		t.Fatalf("synth failed: %s", msg)
	}()
	return app.Synth(nil)
}

var reportPath = regexp.MustCompile(`found in: (\S+validation-report\.json)`)

var assetHash = regexp.MustCompile(`[0-9a-f]{64}`)

// normalize replaces asset hashes, which change with any Lambda source, so snapshots show
// what the templates declare rather than what the code hashed to.
func normalize(t testing.TB, tmpl compliance.Template) any {
	t.Helper()
	data, err := json.Marshal(tmpl)
	if err != nil {
		t.Fatal(err)
	}
	data = assetHash.ReplaceAll(data, []byte("<asset-hash>"))
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func stackNames(s *synthesized) []string {
	names := make([]string, 0, len(s.templates))
	for n := range s.templates {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func TestSynthesizesFourStacks(t *testing.T) {
	for _, stage := range []stacks.Stage{stacks.StageDev, stacks.StageProd} {
		s := synthOnce(t, stage)
		var want []string
		for _, part := range []string{"Fleet", "Foundation", "Ingestion", "Operations"} {
			want = append(want, "SmartCity-"+string(stage)+"-"+part)
		}
		if got := stackNames(s); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("stage %s: stacks %v, want %v", stage, got, want)
		}
	}
}
