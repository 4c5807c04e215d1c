package remediate

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/secure-smart-city/platform/fleetspec"
)

func TestLoadFleetReadsTheRuntimeCopy(t *testing.T) {
	data, err := testFleet().RuntimeJSON()
	if err != nil {
		t.Fatalf("RuntimeJSON: %v", err)
	}
	path := filepath.Join(t.TempDir(), "fleet.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := LoadFleet(path)
	if err != nil {
		t.Fatalf("LoadFleet: %v", err)
	}
	if _, ok := f.Class("street_light"); !ok || len(f.Things) != 0 {
		t.Errorf("runtime copy: classes %v, things %v", f.Classes, f.Things)
	}
}

// TestScopeMember: the registry decides, by thing type, whatever the fleet file declares.
func TestScopeMember(t *testing.T) {
	reg := newFakeRegistry()
	reg.register("light-0001", streetLightType)
	reg.register("sl-jitp-9", streetLightType)
	reg.register("pk-1", testPrefix+"_parking")
	reg.register("sl-prod-1", "smartcity_prod_street_light")
	reg.register("bare", "")
	s := testScope(reg)
	s.Fleet.Things = []fleetspec.Thing{{Name: "declared-only", Class: "street_light", District: "old_town", Serial: "S"}}
	var got []string
	for _, name := range []string{"light-0001", "sl-jitp-9", "pk-1", "sl-prod-1", "bare", "declared-only", "intruder-7"} {
		ok, why, err := s.Member(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		if ok != (why == "") {
			t.Errorf("%s: member %v with reason %q", name, ok, why)
		}
		if ok {
			got = append(got, name)
		}
	}
	if diff := cmp.Diff([]string{"light-0001", "sl-jitp-9"}, got); diff != "" {
		t.Errorf("members (-want +got):\n%s", diff)
	}
}

func TestLoadFleetRejects(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string]string{
		"not JSON":         "name: smartcity",
		"unknown field":    `{"name":"smartcity","things":[],"extra":1}`,
		"invalid fleet":    `{"name":"smartcity","classes":[],"things":[{"name":"a"}]}`,
		"references a CSR": `{"name":"smartcity","districts":[{"id":"d","name":"D"}],"classes":[{"id":"c","name":"C"}],"things":[{"name":"a","class":"c","district":"d","serial":"S1","csr":"a.csr"}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, "fleet.json")
			if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := LoadFleet(path); err == nil {
				t.Errorf("LoadFleet accepted %s", data)
			}
		})
	}
	if _, err := LoadFleet(filepath.Join(dir, "missing.json")); err == nil {
		t.Errorf("LoadFleet of a missing file succeeded")
	}
}

func TestZeroScopeHoldsNothing(t *testing.T) {
	reg := newFakeRegistry()
	reg.register("light-0001", streetLightType)
	for _, s := range []Scope{{}, {Fleet: testFleet(), Things: testScope(reg).Things}, {Fleet: testFleet(), ThingTypePrefix: testPrefix}} {
		if ok, _, err := s.Member(context.Background(), "light-0001"); ok || err != nil {
			t.Errorf("scope %+v holds light-0001 (err %v)", s, err)
		}
	}
	if reg.describeCalls != 0 {
		t.Errorf("an incomplete scope called the registry %d times", reg.describeCalls)
	}
}
