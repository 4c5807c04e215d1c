package test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/jsii-runtime-go"
	"github.com/google/go-cmp/cmp"

	"github.com/secure-smart-city/platform/compliance"
	"github.com/secure-smart-city/platform/fleetspec"
	"github.com/secure-smart-city/platform/stacks"
)

// grownThings is how many things the grown fleet adds to the dev fleet file.
const grownThings = 40

// grownFleet is the dev fleet file with grownThings more declared things, spread over its
// classes and districts, named so that no other text could contain them by accident.
func grownFleet(t *testing.T) (*fleetspec.Fleet, []string) {
	t.Helper()
	f := fleetOf(t)
	var added []string
	for i := range grownThings {
		name := fmt.Sprintf("grown-thing-%04d", i)
		f.Things = append(f.Things, fleetspec.Thing{
			Name: name, Class: f.Classes[i%len(f.Classes)].ID, District: f.Districts[i%len(f.Districts)].ID, Serial: fmt.Sprintf("GROWN-%04d", i),
		})
		added = append(added, name)
	}
	if err := f.Validate(); err != nil {
		t.Fatalf("grown fleet: %v", err)
	}
	return f, added
}

// grownOperations is the Operations stack of the dev platform built from grownFleet, and what
// its Lambda assets hold, synthesized once.
type grownOperations struct {
	tmpl compliance.Template
	// assets maps each Lambda function of the stack to the files of its asset (name -> bytes).
	assets map[string]map[string][]byte
	added  []string
}

var (
	grownOnce sync.Once
	grown     *grownOperations
)

func synthGrown(t *testing.T) *grownOperations {
	t.Helper()
	grownOnce.Do(func() {
		fleet, added := grownFleet(t)
		app := newApp(t, map[string]any{"stage": string(stacks.StageDev)})
		cfg := stacks.Config{Stage: stacks.StageDev, Fleet: fleet, Account: testAccount, Region: testRegion}
		// stacks.NewPlatform, with the checks on the Operations stack alone: the Fleet stack
		// does grow with declared things (its own checks run in the shared synths), and what
		// its cdk-nag packs say about a grown fleet is not this test's subject.
		f := stacks.NewFoundation(app, cfg)
		fl := stacks.NewFleet(app, cfg, f)
		in := stacks.NewIngestion(app, cfg, f)
		ops := stacks.NewOperations(app, cfg, f, fl, in)
		stacks.NewOTA(cfg, f, ops)
		stacks.ApplyChecks(ops.Stack)
		asm := synthOrFail(t, app)
		defer func() { _ = os.RemoveAll(*asm.Directory()) }()
		g := &grownOperations{assets: map[string]map[string][]byte{}, added: added}
		tmpl, err := compliance.FromValue(asm.GetStackByName(jsii.String("SmartCity-dev-Operations")).Template())
		if err != nil {
			t.Fatal(err)
		}
		g.tmpl = tmpl
		for _, fn := range tmpl.Resources("AWS::Lambda::Function") {
			key, _ := compliance.Get(fn.Properties, "Code", "S3Key").(string)
			dir := filepath.Join(*asm.Directory(), "asset."+strings.TrimSuffix(key, ".zip"))
			files := map[string][]byte{}
			err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				data, err := os.ReadFile(path)
				files[strings.TrimPrefix(path, dir+string(filepath.Separator))] = data
				return err
			})
			if err != nil || len(files) == 0 {
				t.Fatalf("function %s: asset %s unreadable (%v, %d files)", fn.ID, dir, err, len(files))
			}
			g.assets[fn.ID] = files
		}
		grown = g
	})
	if grown == nil {
		t.Fatal("the grown fleet's platform failed to synthesize")
	}
	return grown
}

// thingToken splits text (a template, a JSON file, a binary) into runs of thing-name
// characters; a thing name (none of the fleets' has a colon) that occurs delimited is a token.
var thingToken = regexp.MustCompile(`[A-Za-z0-9_-]+`)

// thingNamesIn returns the names that occur in data, sorted.
func thingNamesIn(data []byte, names map[string]bool) []string {
	found := map[string]bool{}
	for _, tok := range thingToken.FindAll(data, -1) {
		if names[string(tok)] {
			found[string(tok)] = true
		}
	}
	// Small texts are also searched as substrings, which a name glued to other characters
	// (after a colon, say) would escape.
	if len(data) < 1<<20 {
		for n := range names {
			if bytes.Contains(data, []byte(n)) {
				found[n] = true
			}
		}
	}
	out := make([]string, 0, len(found))
	for n := range found {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// TestOperationsDoesNotGrowWithTheFleet: no declared thing's name (of config/fleet.<stage>.json,
// or of 40 more things added to the dev fleet) appears in the Operations template or in any
// file of its Lambda assets, and adding things leaves the Operations template unchanged:
// the same resources, the same properties, the same asset hashes.
func TestOperationsDoesNotGrowWithTheFleet(t *testing.T) {
	g := synthGrown(t)
	names := map[string]bool{}
	for _, stage := range []stacks.Stage{stacks.StageDev, stacks.StageProd} {
		for _, th := range stageFleet(t, stage).Things {
			names[th.Name] = true
		}
	}
	for _, n := range g.added {
		names[n] = true
	}
	for n := range names {
		if strings.Contains(n, ":") {
			t.Fatalf("thing name %q has a colon; thingToken would miss it in binaries", n)
		}
	}
	templates := map[string]compliance.Template{"grown dev": g.tmpl}
	_, templates["dev"] = operations(t)
	templates["prod"] = synthOnce(t, stacks.StageProd).templates["SmartCity-prod-Operations"]
	for which, tmpl := range templates {
		if len(tmpl.Resources("AWS::Lambda::Function")) == 0 {
			t.Fatalf("%s Operations template has no functions: not the stack under test", which)
		}
		if found := thingNamesIn([]byte(mustJSON(t, tmpl)), names); len(found) > 0 {
			t.Errorf("%s Operations template names things %v", which, found)
		}
	}
	fleetFiles := 0
	for fn, files := range g.assets {
		for name, data := range files {
			if name == "fleet.json" {
				fleetFiles++
			}
			if found := thingNamesIn(data, names); len(found) > 0 {
				t.Errorf("function %s bundles %s naming things %v", fn, name, found)
			}
		}
	}
	// The command processor and both remediation functions ship the fleet's classes.
	if fleetFiles < 3 {
		t.Errorf("%d fleet.json files in the Operations assets, want at least 3: the assets read are not the functions'", fleetFiles)
	}

	_, base := operations(t)
	ids := func(tmpl compliance.Template) []string {
		var out []string
		for id := range mustMap(t, tmpl)["Resources"].(map[string]any) {
			out = append(out, id)
		}
		sort.Strings(out)
		return out
	}
	if diff := cmp.Diff(ids(base), ids(g.tmpl)); diff != "" {
		t.Errorf("Operations resources with %d more things (-dev fleet +grown):\n%s", grownThings, diff)
	}
	if diff := cmp.Diff(mustMap(t, base), mustMap(t, g.tmpl)); diff != "" {
		t.Errorf("Operations template changes when things are added (-dev fleet +grown):\n%s", diff)
	}
	t.Logf("Operations: %d resources with %d and with %d declared things", len(ids(base)), len(fleetOf(t).Things), len(fleetOf(t).Things)+grownThings)
}
