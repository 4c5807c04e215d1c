package main

import (
	"io"
	"os"
	"strings"
	"testing"

	"github.com/secure-smart-city/platform/fleetspec"
)

func TestIdentityOf(t *testing.T) {
	fleet, err := fleetspec.Load("../../config/fleet.dev.json")
	if err != nil {
		t.Fatal(err)
	}
	declared, ok := fleet.Thing("sl-old-town-001")
	if !ok {
		t.Fatal("sl-old-town-001 is not in the fleet file")
	}
	good := []struct {
		name                    string
		thing, class, district  string
		wantClass, wantDistrict string
	}{
		{"declared thing", declared.Name, "", "", declared.Class, declared.District},
		{"declared thing, matching flags", declared.Name, declared.Class, declared.District, declared.Class, declared.District},
		{"run-time thing", "aq-harbour-901", "air_quality", "harbour", "air_quality", "harbour"},
	}
	for _, c := range good {
		dc, district, err := identityOf(fleet, c.thing, c.class, c.district)
		if err != nil || dc.ID != c.wantClass || district != c.wantDistrict {
			t.Errorf("%s: %q, %q, %v; want %q, %q", c.name, dc.ID, district, err, c.wantClass, c.wantDistrict)
		}
	}
	bad := []struct {
		name                   string
		thing, class, district string
		wantIn                 string
	}{
		{"run-time thing without flags", "not-in-fleet", "", "", "pass --class and --district"},
		{"run-time thing without district", "not-in-fleet", "air_quality", "", "pass --class and --district"},
		{"run-time thing without class", "not-in-fleet", "", "harbour", "pass --class and --district"},
		{"unknown class", "not-in-fleet", "street_lamp", "harbour", `device class "street_lamp" is not in fleet file`},
		{"unknown district", "not-in-fleet", "air_quality", "atlantis", `district "atlantis" is not in fleet file`},
		{"declared thing, other class", declared.Name, "air_quality", "", `--class "air_quality" contradicts it`},
		{"declared thing, other district", declared.Name, "", "harbour", `--district "harbour" contradicts it`},
	}
	for _, c := range bad {
		if _, _, err := identityOf(fleet, c.thing, c.class, c.district); err == nil || !strings.Contains(err.Error(), c.wantIn) {
			t.Errorf("%s: %v, want an error containing %q", c.name, err, c.wantIn)
		}
	}
}

// TestHelpNamesTheDomainConfiguration: -h points at the domain configuration the README
// documents, not the account's default iot:Data-ATS endpoint.
func TestHelpNamesTheDomainConfiguration(t *testing.T) {
	stderr := os.Stderr
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	os.Stderr = w
	runErr := run([]string{"-h"})
	os.Stderr = stderr
	_ = w.Close()
	out, _ := io.ReadAll(r)
	if runErr != nil {
		t.Fatalf("run -h: %v", runErr)
	}
	help := string(out)
	for _, want := range []string{"describe-domain-configuration", "_devices", "-district", "-class"} {
		if !strings.Contains(help, want) {
			t.Errorf("-h does not mention %q:\n%s", want, help)
		}
	}
	if strings.Contains(help, "Data-ATS") {
		t.Errorf("-h still points at the iot:Data-ATS endpoint:\n%s", help)
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
		{[]string{"--thing", "sl-new-001", "--fleet", "../../config/fleet.dev.json"}, "pass --class and --district"},
		{[]string{"--thing", "sl-new-001", "--class", "street_light", "--district", "nowhere", "--fleet", "../../config/fleet.dev.json"}, `district "nowhere"`},
		{[]string{"extra"}, "unexpected arguments"},
	}
	for _, c := range cases {
		err := run(c.args)
		if err == nil || !strings.Contains(err.Error(), c.wantIn) {
			t.Errorf("run(%q) = %v, want an error containing %q", c.args, err, c.wantIn)
		}
	}
}
