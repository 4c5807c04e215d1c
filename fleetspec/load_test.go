package fleetspec_test

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/secure-smart-city/platform/fleetspec"
)

const (
	devFleet  = "../config/fleet.dev.json"
	prodFleet = "../config/fleet.prod.json"
)

var (
	classIDs    = []string{"street_light", "traffic_signal", "air_quality", "waste_bin", "parking", "camera"}
	ignoreIndex = cmpopts.IgnoreUnexported(fleetspec.Fleet{})
)

func load(t *testing.T, path string) *fleetspec.Fleet {
	t.Helper()
	f, err := fleetspec.Load(path)
	if err != nil {
		t.Fatalf("Load(%s): %v", path, err)
	}
	return f
}

func classIDsOf(f *fleetspec.Fleet) []string {
	var ids []string
	for _, c := range f.Classes {
		ids = append(ids, c.ID)
	}
	return ids
}

func TestCommittedFleetsLoad(t *testing.T) {
	dev, prod := load(t, devFleet), load(t, prodFleet)
	for _, f := range []*fleetspec.Fleet{dev, prod} {
		if diff := cmp.Diff(classIDs, classIDsOf(f)); diff != "" {
			t.Errorf("%s classes (-want +got):\n%s", f.Path, diff)
		}
		if len(f.Districts) < 2 {
			t.Errorf("%s has %d districts, want at least 2", f.Path, len(f.Districts))
		}
		for _, id := range classIDs {
			if len(f.ThingsOf(id)) == 0 {
				t.Errorf("%s has no %s thing", f.Path, id)
			}
		}
		cam, _ := f.Class("camera")
		var sensitive []string
		for _, fd := range cam.Fields {
			if fd.Sensitive {
				sensitive = append(sensitive, fd.Name)
			}
		}
		if !slices.Contains(sensitive, "plate_reads") {
			t.Errorf("%s: camera's sensitive fields are %v, want plate_reads among them", f.Path, sensitive)
		}
	}
	// The stages differ in things and provisioning, never in what a device class is.
	if diff := cmp.Diff(dev.Classes, prod.Classes); diff != "" {
		t.Errorf("dev and prod classes differ (-dev +prod):\n%s", diff)
	}
	if dev.Name != "smartcity" || len(dev.Things) < 20 {
		t.Errorf("dev fleet %q has %d things, want smartcity with about 24", dev.Name, len(dev.Things))
	}
	if !dev.Provisioning.Claim || dev.Provisioning.CACertificate != "ca/dev-city-ca.pem" {
		t.Errorf("dev provisioning = %+v", dev.Provisioning)
	}
	if !prod.Provisioning.Claim || prod.Provisioning.CACertificate != "" {
		t.Errorf("prod provisioning = %+v, want claim and no CA", prod.Provisioning)
	}
	for _, th := range prod.Things {
		if th.CSR != "" {
			t.Errorf("prod thing %s references a CSR", th.Name)
		}
	}
}

func TestDevCSRs(t *testing.T) {
	f := load(t, devFleet)
	csrClasses := map[string]int{}
	for _, th := range f.Things {
		if th.CSR == "" {
			if _, err := f.CSRPEM(th); err == nil {
				t.Errorf("CSRPEM(%s) without a csr succeeded", th.Name)
			}
			continue
		}
		csrClasses[th.Class]++
		data, err := f.CSRPEM(th)
		if err != nil {
			t.Fatal(err)
		}
		block, _ := pem.Decode(data)
		if block == nil {
			t.Fatalf("%s: CSRPEM returned no PEM", th.Name)
		}
		csr, err := x509.ParseCertificateRequest(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		if csr.Subject.CommonName != th.Name {
			t.Errorf("%s: CSR CN is %q", th.Name, csr.Subject.CommonName)
		}
	}
	want := map[string]int{}
	for _, id := range classIDs {
		want[id] = 1
	}
	if diff := cmp.Diff(want, csrClasses); diff != "" {
		t.Errorf("CSRs per class (-want +got):\n%s", diff)
	}

	data, err := f.CACertificatePEM()
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatal("CACertificatePEM returned no PEM")
	}
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if !ca.IsCA || ca.Subject.CommonName != "Smart City Dev Device CA" {
		t.Errorf("dev CA: IsCA %v, CN %q", ca.IsCA, ca.Subject.CommonName)
	}
	if _, err := load(t, prodFleet).CACertificatePEM(); err == nil {
		t.Error("prod CACertificatePEM succeeded without a CA")
	}
}

func TestRuntimeRoundTrip(t *testing.T) {
	f := load(t, devFleet)
	data, err := f.RuntimeJSON()
	if err != nil {
		t.Fatal(err)
	}
	rt, err := fleetspec.ParseRuntime(data)
	if err != nil {
		t.Fatalf("ParseRuntime: %v", err)
	}
	want := *f
	want.Path = ""
	want.Provisioning.CACertificate = ""
	want.Things = nil
	if diff := cmp.Diff(&want, rt, ignoreIndex); diff != "" {
		t.Errorf("runtime fleet (-want +got):\n%s", diff)
	}
	// RuntimeJSON must not change the fleet it copies.
	if th, _ := f.Thing("sl-old-town-001"); th.CSR == "" || f.Provisioning.CACertificate == "" || len(f.Things) != 24 {
		t.Error("RuntimeJSON changed the original fleet")
	}
	if _, ok := rt.Thing("sl-old-town-001"); ok {
		t.Error("the runtime copy still knows a declared thing")
	}
}

// TestRuntimeJSONNamesNoThing: no declared thing's name or serial reaches a function bundle,
// and the runtime copy is the same whatever things the file declares.
func TestRuntimeJSONNamesNoThing(t *testing.T) {
	f := load(t, devFleet)
	data, err := f.RuntimeJSON()
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Things) == 0 {
		t.Fatal("the dev fleet declares no things: nothing to check")
	}
	for _, th := range f.Things {
		if strings.Contains(string(data), `"`+th.Name+`"`) || strings.Contains(string(data), `"`+th.Serial+`"`) {
			t.Errorf("runtime copy names thing %s (serial %s)", th.Name, th.Serial)
		}
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if _, ok := doc["things"]; ok {
		t.Errorf("runtime copy has a things key: %v", doc["things"])
	}
	fewer := *f
	fewer.Things = f.Things[:1]
	again, err := fewer.RuntimeJSON()
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != string(data) {
		t.Error("the runtime copy changes with the declared things")
	}
}

func TestParseRuntimeRejectsThings(t *testing.T) {
	data, err := load(t, devFleet).RuntimeJSON()
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	doc["things"] = []any{map[string]any{"name": "sl-1", "class": "street_light", "district": "old_town", "serial": "S1"}}
	data, err = json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	_, err = fleetspec.ParseRuntime(data)
	probs := problems(t, err)
	if len(probs) != 1 || probs[0].Path != "things" || !strings.Contains(probs[0].Message, "must not list things (got 1)") {
		t.Errorf("got %v, want one problem at things", err)
	}
	// A copy with an empty or null list is fine: things are optional.
	for _, v := range []any{[]any{}, nil} {
		doc["things"] = v
		data, _ = json.Marshal(doc)
		if _, err := fleetspec.ParseRuntime(data); err != nil {
			t.Errorf("things %v: %v", v, err)
		}
	}
}

func TestParseRuntimeRejectsFileReferences(t *testing.T) {
	data, err := load(t, devFleet).RuntimeJSON()
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	at(doc, "provisioning")["caCertificate"] = "ca/x.pem"
	data, err = json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	_, err = fleetspec.ParseRuntime(data)
	var paths []string
	for _, p := range problems(t, err) {
		if p.File != "runtime fleet" || !strings.Contains(p.Message, "must not reference files") {
			t.Errorf("unexpected problem %q", p)
		}
		paths = append(paths, p.Path)
	}
	if diff := cmp.Diff([]string{"provisioning.caCertificate"}, paths); diff != "" {
		t.Errorf("problem paths (-want +got):\n%s", diff)
	}
}

func TestLookups(t *testing.T) {
	loaded := load(t, devFleet)
	// A fleet built in code has no index: lookups must agree with the loaded one.
	built := &fleetspec.Fleet{Name: loaded.Name, Districts: loaded.Districts, Classes: loaded.Classes, Things: loaded.Things}
	for name, f := range map[string]*fleetspec.Fleet{"loaded": loaded, "built": built} {
		if c, ok := f.Class("street_light"); !ok || c.Name != "Street light" {
			t.Errorf("%s: Class(street_light) = %q, %v", name, c.Name, ok)
		}
		if _, ok := f.Class("street_lamp"); ok {
			t.Errorf("%s: Class(street_lamp) found", name)
		}
		if d, ok := f.District("harbour"); !ok || d.Name != "Harbour" {
			t.Errorf("%s: District(harbour) = %+v, %v", name, d, ok)
		}
		if _, ok := f.District("moon"); ok {
			t.Errorf("%s: District(moon) found", name)
		}
		if th, ok := f.Thing("cam-university-001"); !ok || th.Class != "camera" || th.District != "university" {
			t.Errorf("%s: Thing(cam-university-001) = %+v, %v", name, th, ok)
		}
		if _, ok := f.Thing("nobody"); ok {
			t.Errorf("%s: Thing(nobody) found", name)
		}
		var got []string
		for _, th := range f.ThingsOf("street_light") {
			got = append(got, th.Name)
		}
		want := []string{"sl-old-town-001", "sl-old-town-002", "sl-harbour-001", "sl-university-001"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: ThingsOf(street_light) (-want +got):\n%s", name, diff)
		}
		if got := f.ThingsOf("nothing"); len(got) != 0 {
			t.Errorf("%s: ThingsOf(nothing) = %v", name, got)
		}
	}

	// Lambdas share one fleet across goroutines; run with -race to check.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for _, th := range loaded.Things {
				if _, ok := loaded.Thing(th.Name); !ok {
					t.Errorf("Thing(%s) not found", th.Name)
				}
				loaded.ThingsOf(th.Class)
			}
		})
	}
	wg.Wait()
}

// A fleet changed after loading must not be answered from a stale index.
func TestLookupAfterChange(t *testing.T) {
	f := load(t, prodFleet)
	f.Things = append(f.Things, fleetspec.Thing{Name: "late", Class: "camera", District: "riverside", Serial: "L1"})
	if _, ok := f.Thing("late"); !ok {
		t.Error("Thing(late) not found after append")
	}
	if n := len(f.ThingsOf("camera")); n != 2 {
		t.Errorf("ThingsOf(camera) has %d things after append, want 2", n)
	}
}

func TestDefaults(t *testing.T) {
	if got := (fleetspec.DeviceClass{}).MessageLimit(); got != 4096 {
		t.Errorf("default MessageLimit = %d, want 4096", got)
	}
	c := fleetspec.DeviceClass{MaxMessageBytes: 512}
	if got := c.MessageLimit(); got != 512 || c.MaxMessageBytes != 512 {
		t.Errorf("MessageLimit = %d (MaxMessageBytes now %d), want 512", got, c.MaxMessageBytes)
	}
	if got := (fleetspec.Field{}).StringLimit(); got != 256 {
		t.Errorf("default StringLimit = %d, want 256", got)
	}
	if got := (fleetspec.Field{MaxLength: 32}).StringLimit(); got != 32 {
		t.Errorf("StringLimit = %d, want 32", got)
	}
	var f fleetspec.Fleet
	f.Name = "smartcity"
	if got := f.RulePrefix("dev"); got != "smartcity_dev" {
		t.Errorf("RulePrefix = %q", got)
	}
}
