package fleetspec_test

import (
	"strings"
	"testing"

	"github.com/secure-smart-city/platform/fleetspec"
)

func TestRemediationModeDefaults(t *testing.T) {
	cases := []struct {
		class fleetspec.DeviceClass
		want  fleetspec.Remediation
	}{
		{fleetspec.DeviceClass{ID: "street_light"}, fleetspec.RemediationAuto},
		{fleetspec.DeviceClass{ID: "traffic_signal"}, fleetspec.RemediationNotifyOnly},
		{fleetspec.DeviceClass{ID: "traffic_signal", Remediation: fleetspec.RemediationAuto}, fleetspec.RemediationAuto},
		{fleetspec.DeviceClass{ID: "camera", Remediation: fleetspec.RemediationNotifyOnly}, fleetspec.RemediationNotifyOnly},
	}
	for _, c := range cases {
		if got := c.class.RemediationMode(); got != c.want {
			t.Errorf("%s (remediation %q): RemediationMode = %q, want %q", c.class.ID, c.class.Remediation, got, c.want)
		}
	}
}

// The committed fleets keep traffic signals out of automated quarantine, and the runtime copy
// the quarantine function reads carries the mode.
func TestFleetFilesTrafficSignalsNotifyOnly(t *testing.T) {
	for _, stage := range []string{"dev", "prod"} {
		f, err := fleetspec.Load("../config/fleet." + stage + ".json")
		if err != nil {
			t.Fatal(err)
		}
		data, err := f.RuntimeJSON()
		if err != nil {
			t.Fatal(err)
		}
		rt, err := fleetspec.ParseRuntime(data)
		if err != nil {
			t.Fatal(err)
		}
		c, ok := rt.Class("traffic_signal")
		if !ok {
			t.Fatalf("%s: no traffic_signal class", stage)
		}
		if c.Remediation != fleetspec.RemediationNotifyOnly {
			t.Errorf("%s: traffic_signal remediation = %q in the runtime copy, want notify-only", stage, c.Remediation)
		}
	}
}

func TestRemediationValidation(t *testing.T) {
	f, err := fleetspec.Load("../config/fleet.dev.json")
	if err != nil {
		t.Fatal(err)
	}
	f.Classes[0].Remediation = "quarantine-everything"
	_, err = f.RuntimeJSON() // validates the copy it writes
	if err == nil || !strings.Contains(err.Error(), "classes[0].remediation") || !strings.Contains(err.Error(), `"quarantine-everything"`) {
		t.Fatalf("remediation %q: err = %v, want one naming classes[0].remediation and the value", "quarantine-everything", err)
	}
}
