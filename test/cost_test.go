package test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
	"github.com/google/go-cmp/cmp"

	"github.com/secure-smart-city/platform/cmd/cost/estimate"
	"github.com/secure-smart-city/platform/compliance"
	"github.com/secure-smart-city/platform/constructs/securestore"
	"github.com/secure-smart-city/platform/stacks"
)

// costTemplates converts a synth's templates for the cost model.
func costTemplates(s *synthesized) map[string]estimate.Template {
	out := map[string]estimate.Template{}
	for name, tmpl := range s.templates {
		out[name] = estimate.Template(tmpl)
	}
	return out
}

// TestReadmeCostSection: the README's generated cost section is what `make cost` writes for
// the prod synth, the committed figures and us-east-1 prices.
func TestReadmeCostSection(t *testing.T) {
	root := moduleRoot(t)
	inv, err := estimate.Read(costTemplates(synthOnce(t, stacks.StageProd)))
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Unknown) > 0 {
		t.Errorf("the prod templates hold resource types the cost model does not price: %q", inv.Unknown)
	}
	fig, err := estimate.LoadFigures(filepath.Join(root, "bench", "telemetry.json"))
	if err != nil {
		t.Fatal(err)
	}
	prices, err := estimate.Prices("us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	res, err := estimate.Estimate(inv, fig, prices, estimate.Params{Devices: 100000, PerMinute: 1, Bytes: 1024})
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	got, ok := estimate.Section(string(readme))
	if !ok {
		t.Fatal("README.md has no generated cost section")
	}
	if diff := cmp.Diff(estimate.Markdown(res, prices, "docs/cost.svg"), got); diff != "" {
		t.Errorf("README cost section is stale; run make cost (-want +got):\n%s", diff)
	}
	if _, err := os.Stat(filepath.Join(root, "docs", "cost.svg")); err != nil {
		t.Errorf("the README shows docs/cost.svg: %v", err)
	}
}

// tablesOf returns a template's tables by logical id.
func tablesOf(tmpl compliance.Template) map[string]compliance.Resource {
	out := map[string]compliance.Resource{}
	for _, r := range tmpl.Resources("AWS::DynamoDB::Table") {
		out[r.ID] = r
	}
	return out
}

// TestTableBillingPerStage: prod tables are provisioned with target tracking on reads and
// writes (the state table up to 40,000 units), dev tables on demand; logical ids unchanged.
func TestTableBillingPerStage(t *testing.T) {
	prod := synthOnce(t, stacks.StageProd).templates["SmartCity-prod-Foundation"]
	dev := synthOnce(t, stacks.StageDev).templates["SmartCity-dev-Foundation"]
	for _, id := range []string{"DeviceState04EAA687", "ProvisioningAllowlist570E616A", "CommandAudit3694CD9D"} {
		if _, ok := tablesOf(prod)[id]; !ok {
			t.Errorf("prod: table %s missing (logical ids must not change)", id)
		}
		d, ok := tablesOf(dev)[id]
		if !ok {
			t.Errorf("dev: table %s missing (logical ids must not change)", id)
		} else if d.Properties["BillingMode"] != "PAY_PER_REQUEST" {
			t.Errorf("dev: table %s BillingMode %v, want PAY_PER_REQUEST", id, d.Properties["BillingMode"])
		}
	}
	inv, err := estimate.Read(map[string]estimate.Template{"SmartCity-prod-Foundation": estimate.Template(prod)})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]estimate.Scaling{
		"DeviceState04EAA687":           {Min: 5, Max: 40000, Target: 70},
		"ProvisioningAllowlist570E616A": {Min: 1, Max: 100, Target: 70},
		"CommandAudit3694CD9D":          {Min: 1, Max: 100, Target: 70},
	}
	for _, tb := range inv.Tables {
		w, ok := want[tb.ID]
		if !ok {
			continue
		}
		if tb.OnDemand || tb.WriteScale == nil || tb.ReadScale == nil {
			t.Errorf("prod: table %s is not provisioned with autoscaling on reads and writes: %+v", tb.ID, tb)
			continue
		}
		if *tb.WriteScale != w || *tb.ReadScale != w || tb.WCU != w.Min || tb.RCU != w.Min {
			t.Errorf("prod: table %s capacity %+v / %+v (base %v/%v), want %+v", tb.ID, *tb.WriteScale, *tb.ReadScale, tb.WCU, tb.RCU, w)
		}
		if !tb.PITR {
			t.Errorf("prod: table %s lost point-in-time recovery", tb.ID)
		}
		delete(want, tb.ID)
	}
	if len(want) > 0 {
		t.Errorf("prod: tables not found: %v", want)
	}
	devInv, err := estimate.Read(map[string]estimate.Template{"SmartCity-dev-Foundation": estimate.Template(dev)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range devInv.Tables {
		if !tb.OnDemand {
			t.Errorf("dev: table %s is provisioned", tb.ID)
		}
	}
}

func TestTableBillingContext(t *testing.T) {
	for _, c := range []struct {
		ctx  map[string]any
		want string
	}{
		{map[string]any{"tableBilling": "cheap"}, `context "tableBilling": want "provisioned" or "on-demand", got "cheap"`},
		{map[string]any{"stateTableCapacity": "40000"}, `context "stateTableCapacity": want <min>-<max> capacity units, e.g. 5-40000, got "40000"`},
		{map[string]any{"stateTableCapacity": "10-5"}, `context "stateTableCapacity": want 1 <= min <= max, got "10-5"`},
		{map[string]any{"stateTableCapacity": "0-5"}, `want 1 <= min <= max, got "0-5"`},
	} {
		c.ctx["fleetFile"] = filepath.Join(moduleRoot(t), "config", "fleet.dev.json")
		_, err := stacks.ConfigFromContext(newApp(t, c.ctx))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("context %v: error %v, want it to contain %q", c.ctx, err, c.want)
		}
	}
	for _, c := range []struct {
		ctx      map[string]any
		want     stacks.TableBilling
		wantText string
	}{
		{map[string]any{"stage": "prod"}, stacks.TableBilling{Provisioned: true, StateMin: 5, StateMax: 40000}, "prod default"},
		{map[string]any{"stage": "dev"}, stacks.TableBilling{Provisioned: false, StateMin: 5, StateMax: 40000}, "dev default"},
		{map[string]any{"stage": "prod", "tableBilling": "on-demand"}, stacks.TableBilling{Provisioned: false, StateMin: 5, StateMax: 40000}, "prod on demand"},
		{map[string]any{"stage": "dev", "tableBilling": "provisioned", "stateTableCapacity": "2-300"}, stacks.TableBilling{Provisioned: true, StateMin: 2, StateMax: 300}, "dev provisioned"},
	} {
		c.ctx["fleetFile"] = filepath.Join(moduleRoot(t), "config", "fleet."+c.ctx["stage"].(string)+".json")
		cfg, err := stacks.ConfigFromContext(newApp(t, c.ctx))
		if err != nil {
			t.Errorf("%s: %v", c.wantText, err)
			continue
		}
		if got := cfg.Billing(); got != c.want {
			t.Errorf("%s: billing %+v, want %+v", c.wantText, got, c.want)
		}
	}
}

func TestTableCapacityPropsErrors(t *testing.T) {
	app := newApp(t, nil)
	stack := awscdk.NewStack(app, jsii.String("Capacity"), nil)
	for name, c := range map[string]struct {
		cap  securestore.TableCapacity
		want []string
	}{
		"zero minimum": {securestore.TableCapacity{MinReadCapacity: 0, MaxReadCapacity: 5, MinWriteCapacity: 1, MaxWriteCapacity: 5},
			[]string{"Capacity.MinReadCapacity must be at least 1, got 0"}},
		"max below min": {securestore.TableCapacity{MinReadCapacity: 1, MaxReadCapacity: 5, MinWriteCapacity: 9, MaxWriteCapacity: 5},
			[]string{"Capacity.MaxWriteCapacity (5) is below MinWriteCapacity (9)"}},
		"target out of range": {securestore.TableCapacity{MinReadCapacity: 1, MaxReadCapacity: 5, MinWriteCapacity: 1, MaxWriteCapacity: 5, TargetUtilizationPercent: intp(95)},
			[]string{"Capacity.TargetUtilizationPercent must be 20 to 90, got 95"}},
	} {
		tbl := securestore.NewTable(stack, strings.ReplaceAll(name, " ", ""), &securestore.TableProps{PartitionKey: "pk", Capacity: &c.cap})
		got := validationErrors(tbl)
		for _, w := range c.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: validation %q, want %q", name, got, w)
			}
		}
	}
}

// TestCostStreamCapacityPerStage: the telemetry stream is provisioned with
// stacks.DefaultProdStreamShards shards in prod (a steady fleet pays shard-hours, not
// on-demand's per-GB charges) and on demand in dev; the Stream's logical id is unchanged.
func TestCostStreamCapacityPerStage(t *testing.T) {
	for stage, want := range map[stacks.Stage]estimate.Stream{
		stacks.StageProd: {OnDemand: false, Shards: stacks.DefaultProdStreamShards},
		stacks.StageDev:  {OnDemand: true},
	} {
		name := "SmartCity-" + string(stage) + "-Ingestion"
		tmpl := synthOnce(t, stage).templates[name]
		inv, err := estimate.Read(map[string]estimate.Template{name: estimate.Template(tmpl)})
		if err != nil {
			t.Fatal(err)
		}
		if len(inv.Streams) != 1 {
			t.Fatalf("%s: %d streams, want 1", stage, len(inv.Streams))
		}
		s := inv.Streams[0]
		if !strings.HasPrefix(s.ID, "TelemetryStream") {
			t.Errorf("%s: stream %s, want the Telemetry construct's Stream (logical id must not change)", stage, s.ID)
		}
		if s.OnDemand != want.OnDemand || s.Shards != want.Shards {
			t.Errorf("%s: stream on-demand %v with %d shards, want on-demand %v with %d", stage, s.OnDemand, s.Shards, want.OnDemand, want.Shards)
		}
	}
}

// TestCostStreamShardsContext: streamShards overrides the stage's default, 0 meaning on
// demand; a bad value is an error naming the key.
func TestCostStreamShardsContext(t *testing.T) {
	for _, c := range []struct {
		ctx  map[string]any
		want string
	}{
		{map[string]any{"streamShards": "many"}, `context "streamShards": want a whole number of shards (0 for on-demand), got "many"`},
		{map[string]any{"streamShards": "-1"}, `context "streamShards": -1 shards is outside 0 (on-demand) to 10000`},
		{map[string]any{"streamShards": 2.5}, `context "streamShards": want a whole number of shards (0 for on-demand), got 2.5`},
	} {
		c.ctx["fleetFile"] = filepath.Join(moduleRoot(t), "config", "fleet.dev.json")
		_, err := stacks.ConfigFromContext(newApp(t, c.ctx))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("context %v: error %v, want it to contain %q", c.ctx, err, c.want)
		}
	}
	for _, c := range []struct {
		ctx  map[string]any
		want int
	}{
		{map[string]any{"stage": "prod"}, stacks.DefaultProdStreamShards},
		{map[string]any{"stage": "dev"}, 0},
		{map[string]any{"stage": "prod", "streamShards": "0"}, 0},
		{map[string]any{"stage": "dev", "streamShards": "8"}, 8},
	} {
		c.ctx["fleetFile"] = filepath.Join(moduleRoot(t), "config", "fleet."+c.ctx["stage"].(string)+".json")
		cfg, err := stacks.ConfigFromContext(newApp(t, c.ctx))
		if err != nil {
			t.Errorf("%v: %v", c.ctx, err)
			continue
		}
		if got := cfg.Shards(); got != c.want {
			t.Errorf("%v: %d shards, want %d", c.ctx, got, c.want)
		}
	}
}
