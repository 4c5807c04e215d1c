package remediate

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/secure-smart-city/platform/fleetspec"
)

func TestParseFleet(t *testing.T) {
	got, err := ParseFleet([]byte(`{"name":"smartcity","districts":[{"id":"old_town","name":"Old Town"}],
		"classes":[{"id":"street_light","name":"Street light","fields":[],"commands":[]}],
		"things":[{"name":"light-0001","class":"street_light","district":"old_town","serial":"SN-0001"}],
		"provisioning":{"claim":true}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := &fleetspec.Fleet{
		Name:         "smartcity",
		Districts:    []fleetspec.District{{ID: "old_town", Name: "Old Town"}},
		Classes:      []fleetspec.DeviceClass{{ID: "street_light", Name: "Street light", Fields: []fleetspec.Field{}, Commands: []fleetspec.Command{}}},
		Things:       []fleetspec.Thing{{Name: "light-0001", Class: "street_light", District: "old_town", Serial: "SN-0001"}},
		Provisioning: fleetspec.Provisioning{Claim: true},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(fleetspec.Fleet{}), cmp.FilterPath(func(p cmp.Path) bool {
		return p.Last().String() == ".idx"
	}, cmp.Ignore())); diff != "" {
		t.Errorf("fleet (-want +got):\n%s", diff)
	}
	if !knownThing(got, "light-0001") || knownThing(got, "light-0002") || knownThing(nil, "light-0001") {
		t.Errorf("knownThing disagrees with the parsed fleet")
	}
}

func TestParseFleetRejects(t *testing.T) {
	for name, data := range map[string]string{
		"unknown field": `{"name":"smartcity","things":[{"name":"a"}],"extra":1}`,
		"no things":     `{"name":"smartcity","things":[]}`,
		"trailing data": `{"name":"smartcity","things":[{"name":"a"}]} {}`,
		"not JSON":      `name: smartcity`,
		"wrong type":    `{"name":"smartcity","things":"a"}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseFleet([]byte(data)); err == nil {
				t.Errorf("ParseFleet accepted %s", data)
			}
		})
	}
}

func TestLoadFleet(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fleet.json")
	if err := os.WriteFile(path, []byte(`{"name":"smartcity","things":[{"name":"light-0001"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := LoadFleet(path)
	if err != nil || !knownThing(f, "light-0001") {
		t.Errorf("LoadFleet = %v, %v", f, err)
	}
	if _, err := LoadFleet(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Errorf("LoadFleet of a missing file succeeded")
	}
}
