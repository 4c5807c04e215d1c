package test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	telcontract "github.com/secure-smart-city/platform/lambdas/telemetry/contract"

	"github.com/google/go-cmp/cmp"

	"github.com/secure-smart-city/platform/compliance"
	"github.com/secure-smart-city/platform/constructs/ingest"
	"github.com/secure-smart-city/platform/fleetspec"
	"github.com/secure-smart-city/platform/stacks"
)

// checkIngestionProcessor checks how the processor reads the stream and what it may do.
func checkIngestionProcessor(t *testing.T, tmpl compliance.Template, cfg stacks.Config) {
	stream := oneResource(t, tmpl, "AWS::Kinesis::Stream", "TelemetryStream")
	fn := oneResource(t, tmpl, "AWS::Lambda::Function", "TelemetryProcessor")

	t.Run("the processor consumes the stream in hardened batches", func(t *testing.T) {
		var maps []compliance.Resource
		for _, m := range tmpl.Resources("AWS::Lambda::EventSourceMapping") {
			if refText(compliance.Get(m.Properties, "EventSourceArn")) == refText(map[string]any{"Fn::GetAtt": []any{stream.ID, "Arn"}}) {
				maps = append(maps, m)
			}
		}
		if len(maps) != 1 {
			t.Fatalf("%d event source mappings on the stream, want 1", len(maps))
		}
		p := maps[0].Properties
		want := map[string]any{
			"BatchSize": 500.0, "BisectBatchOnFunctionError": true, "MaximumRetryAttempts": 5.0,
			"FunctionResponseTypes": []any{"ReportBatchItemFailures"}, "StartingPosition": "TRIM_HORIZON",
			"FunctionName": map[string]any{"Ref": fn.ID},
		}
		for k, v := range want {
			if !cmp.Equal(p[k], v) {
				t.Errorf("event source mapping %s = %v, want %v", k, p[k], v)
			}
		}
		dest := refText(compliance.Get(p, "DestinationConfig", "OnFailure", "Destination"))
		if !strings.Contains(dest, "TelemetryProcessorFailures") {
			t.Errorf("on-failure destination %s, want the processor's Failures queue", dest)
		}
	})

	t.Run("the processor may do exactly what lambdas/telemetry does", func(t *testing.T) {
		roleID, _ := compliance.Get(fn.Properties, "Role", "Fn::GetAtt", 0).(string)
		got := roleStatements(tmpl, roleID)
		var stateOK, putOK, headOK, listOK, fieldOK bool
		for _, st := range got {
			res := refText(st.Resources)
			for _, r := range st.Resources {
				if r == "*" && !(len(st.Actions) == 2 && st.Actions[0] == "xray:PutTelemetryRecords") {
					t.Errorf("processor: %v on Resource *", st.Actions)
				}
			}
			for _, a := range st.Actions {
				svc := strings.SplitN(a, ":", 2)[0]
				switch svc {
				case "dynamodb":
					if !strings.Contains(res, "DeviceState") {
						t.Errorf("processor: %s on %s, want only the telemetry state table", a, res)
					}
				case "s3":
					if !strings.Contains(res, "TelemetryArchive") {
						t.Errorf("processor: %s on %s, want only the archive", a, res)
					}
				}
			}
			switch k := strings.Join(st.Actions, ","); {
			case k == strings.Join(sorted(ingest.StateActions), ","):
				stateOK = strings.Contains(res, "DeviceState") && len(st.Resources) == 1
			case k == "s3:PutObject":
				putOK = len(st.Resources) == 2 && strings.Contains(refText(st.Resources[0]), "/accepted/*") && strings.Contains(refText(st.Resources[1]), "/rejected/*")
			case k == "s3:GetObject":
				headOK = len(st.Resources) == 1 && strings.Contains(res, "/accepted/*")
			case k == "s3:ListBucket":
				listOK = len(st.Resources) == 1 && !strings.Contains(res, "/")
			case strings.HasPrefix(k, "dynamodb:") || strings.HasPrefix(k, "s3:"):
				t.Errorf("processor: unexpected statement %v on %s", st.Actions, res)
			case strings.Contains(res, "FieldKey"):
				fieldOK = k == "kms:GenerateDataKey" && cmp.Equal(st.Conditions, fieldConditions(cfg.Fleet))
				if !fieldOK {
					t.Errorf("processor: field key statement %v %s", st.Actions, refText(st.Conditions))
				}
			}
		}
		if !stateOK || !putOK || !headOK || !listOK || !fieldOK {
			t.Errorf("processor grants: table %v, put %v, head %v, list %v, field key %v; want all", stateOK, putOK, headOK, listOK, fieldOK)
		}
	})

	t.Run("the processor gets the fleet, the table, the bucket and the field key", func(t *testing.T) {
		vars, _ := compliance.Get(fn.Properties, "Environment", "Variables").(map[string]any)
		if got := vars[telcontract.EnvRulePrefix]; got != cfg.RulePrefix() {
			t.Errorf("environment %s = %v, want %s (the processor checks a Basic Ingest topic's rule against the class)", telcontract.EnvRulePrefix, got, cfg.RulePrefix())
		}
		for name, want := range map[string]string{telcontract.EnvStateTable: "DeviceState", telcontract.EnvArchiveBucket: "TelemetryArchive", telcontract.EnvFieldKeyID: "FieldKey"} {
			if !strings.Contains(refText(vars[name]), want) {
				t.Errorf("environment %s = %s, want a reference to %s", name, refText(vars[name]), want)
			}
		}
	})
}

// TestIngestionDoesNotGrowWithTheFleet synthesizes the Ingestion stack for the dev fleet and
// for the same fleet with 40 more things: the two have the same resources, and neither the
// template nor any file of the processor's asset names a thing of either fleet.
func TestIngestionDoesNotGrowWithTheFleet(t *testing.T) {
	fleet, err := fleetspec.Load(filepath.Join(moduleRoot(t), "config", "fleet.dev.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(fleet.Things) == 0 {
		t.Fatal("the dev fleet declares no things: this test would prove nothing")
	}
	more := *fleet
	more.Things = append([]fleetspec.Thing(nil), fleet.Things...)
	for i := range 40 {
		c, d := fleet.Classes[i%len(fleet.Classes)].ID, fleet.Districts[i%len(fleet.Districts)].ID
		more.Things = append(more.Things, fleetspec.Thing{Name: fmt.Sprintf("scale-%s-%04d", c, i), Class: c, District: d, Serial: fmt.Sprintf("SN-SCALE-%04d", i)})
	}
	if err := more.Validate(); err != nil {
		t.Fatalf("the bigger fleet is not valid: %v", err)
	}

	small, smallFiles := synthIngestion(t, fleet)
	big, bigFiles := synthIngestion(t, &more)

	count := func(tmpl compliance.Template) map[string]int {
		n := map[string]int{}
		for _, r := range tmpl.Resources("") {
			n[r.Type]++
		}
		return n
	}
	if diff := cmp.Diff(count(small), count(big)); diff != "" {
		t.Errorf("resources per type with %d and %d things (-fewer +more):\n%s", len(fleet.Things), len(more.Things), diff)
	}
	if len(smallFiles) == 0 || smallFiles[telcontract.FleetFile] == nil {
		t.Fatalf("processor asset files %v, want %s among them", fileNames(smallFiles), telcontract.FleetFile)
	}
	if !bytes.Equal(smallFiles[telcontract.FleetFile], bigFiles[telcontract.FleetFile]) {
		t.Error("the bundled fleet changed when things were added")
	}
	for label, synth := range map[string]struct {
		tmpl  compliance.Template
		files map[string][]byte
	}{"dev fleet": {small, smallFiles}, "bigger fleet": {big, bigFiles}} {
		tmplJSON, err := json.Marshal(synth.tmpl)
		if err != nil {
			t.Fatal(err)
		}
		for _, th := range more.Things {
			if bytes.Contains(tmplJSON, []byte(th.Name)) {
				t.Errorf("%s: the Ingestion template names thing %s", label, th.Name)
			}
			for name, data := range synth.files {
				if bytes.Contains(data, []byte(th.Name)) {
					t.Errorf("%s: the processor's asset file %s names thing %s", label, name, th.Name)
				}
			}
		}
	}
	var runtime fleetspec.Fleet
	if err := json.Unmarshal(smallFiles[telcontract.FleetFile], &runtime); err != nil || len(runtime.Classes) != len(fleet.Classes) || len(runtime.Districts) != len(fleet.Districts) {
		t.Errorf("bundled fleet: %d classes, %d districts (%v); want the fleet's %d and %d", len(runtime.Classes), len(runtime.Districts), err, len(fleet.Classes), len(fleet.Districts))
	}
}

// synthIngestion synthesizes the Foundation and Ingestion stacks for fleet and returns the
// Ingestion template and the files of the telemetry processor's asset, by name.
func synthIngestion(t *testing.T, fleet *fleetspec.Fleet) (compliance.Template, map[string][]byte) {
	t.Helper()
	app := newApp(t, map[string]any{"stage": string(stacks.StageDev)})
	cfg := stacks.Config{Stage: stacks.StageDev, Fleet: fleet, Account: testAccount, Region: testRegion}
	stacks.NewIngestion(app, cfg, stacks.NewFoundation(app, cfg))
	asm := synthOrFail(t, app)
	t.Cleanup(func() {
		if err := os.RemoveAll(*asm.Directory()); err != nil {
			t.Errorf("remove the cloud assembly: %v", err)
		}
	})
	var tmpl compliance.Template
	for _, st := range *asm.Stacks() {
		if *st.StackName() == cfg.StackName("Ingestion") {
			var err error
			if tmpl, err = compliance.FromValue(st.Template()); err != nil {
				t.Fatal(err)
			}
		}
	}
	if tmpl == nil {
		t.Fatal("no Ingestion stack")
	}
	fn := oneResource(t, tmpl, "AWS::Lambda::Function", "TelemetryProcessor")
	key, _ := compliance.Get(fn.Properties, "Code", "S3Key").(string)
	hash := strings.TrimSuffix(key, ".zip")
	if hash == "" || hash == key {
		t.Fatalf("processor code key %v is not <hash>.zip", compliance.Get(fn.Properties, "Code"))
	}
	dir := filepath.Join(*asm.Directory(), "asset."+hash)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("processor asset: %v", err)
	}
	files := map[string][]byte{}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = data
	}
	return tmpl, files
}

func fileNames(m map[string][]byte) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
