package remediate

import (
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
	var got []string
	for _, name := range []string{"light-0001", "light-0003", "light-0004", "intruder-7", ""} {
		if knownThing(f, name) {
			got = append(got, name)
		}
	}
	if diff := cmp.Diff([]string{"light-0001", "light-0003"}, got); diff != "" {
		t.Errorf("known things (-want +got):\n%s", diff)
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

func TestKnownThingWithoutFleet(t *testing.T) {
	if knownThing(nil, "light-0001") || knownThing(&fleetspec.Fleet{}, "light-0001") {
		t.Errorf("knownThing found a thing in an empty fleet")
	}
}
