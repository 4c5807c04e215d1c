package main

import (
	"strings"
	"testing"

	"github.com/secure-smart-city/platform/fleetspec"
)

func TestClassOf(t *testing.T) {
	fleet, err := fleetspec.Load("../../config/fleet.dev.json")
	if err != nil {
		t.Fatal(err)
	}
	dc, err := classOf(fleet, "sl-old-town-001", "")
	if err != nil || dc.ID != "street_light" {
		t.Errorf("thing's own class: %q, %v", dc.ID, err)
	}
	dc, err = classOf(fleet, "not-in-fleet", "air_quality")
	if err != nil || dc.ID != "air_quality" {
		t.Errorf("explicit class: %q, %v", dc.ID, err)
	}
	if _, err := classOf(fleet, "not-in-fleet", ""); err == nil || !strings.Contains(err.Error(), "--class") {
		t.Errorf("unknown thing: %v", err)
	}
	if _, err := classOf(fleet, "sl-old-town-001", "street_lamp"); err == nil || !strings.Contains(err.Error(), `"street_lamp"`) {
		t.Errorf("unknown class: %v", err)
	}
}

func TestRunRejectsBadInvocations(t *testing.T) {
	cases := []struct {
		args   []string
		wantIn string
	}{
		{[]string{"--fleet", "../../config/fleet.dev.json"}, "--thing is required"},
		{[]string{"--thing", "sl-old-town-001", "--fleet", "missing.json"}, "fleet file missing.json"},
		{[]string{"--thing", "sl-old-town-001", "--fleet", "../../config/fleet.dev.json", "--stage", "Prod!"}, "invalid stage"},
		{[]string{"--thing", "sl-old-town-001", "--fleet", "../../config/fleet.dev.json", "--endpoint", "h", "--cert", "missing.crt", "--key", "k", "--ca", "c"}, "read certificate file missing.crt"},
		{[]string{"extra"}, "unexpected arguments"},
	}
	for _, c := range cases {
		err := run(c.args)
		if err == nil || !strings.Contains(err.Error(), c.wantIn) {
			t.Errorf("run(%q) = %v, want an error containing %q", c.args, err, c.wantIn)
		}
	}
}
