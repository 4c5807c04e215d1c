package fleet

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/secure-smart-city/platform/topics"
)

// These tests cover the package's pure parts (names, template bodies, log levels) without a
// jsii runtime; the constructs are tested by the synth tests in test/.

func TestNamesCheck(t *testing.T) {
	n := Names{Prefix: "smartcity_dev"}
	if errs := n.check([]string{"street_light", "camera"}, []string{"old_town"}); len(errs) > 0 {
		t.Errorf("valid names: %v", errs)
	}
	cases := map[string]struct {
		n         Names
		classes   []string
		districts []string
	}{
		`class id "claim" is reserved`:                                       {n, []string{"claim"}, nil},
		`class id "quarantine" is reserved`:                                  {n, []string{"quarantine"}, nil},
		`class id "district_a" must not start`:                               {n, []string{"district_a"}, nil},
		`Prefix "bad prefix" must be`:                                        {Names{Prefix: "bad prefix"}, nil, nil},
		`provisioning template name "` + strings.Repeat("x", 31) + `_claim"`: {Names{Prefix: strings.Repeat("x", 31)}, nil, nil},
		`district "` + strings.Repeat("d", 120) + `": group name`:            {n, nil, []string{strings.Repeat("d", 120)}},
	}
	for want, c := range cases {
		if got := strings.Join(c.n.check(c.classes, c.districts), "\n"); !strings.Contains(got, want) {
			t.Errorf("errors %q do not contain %q", got, want)
		}
	}
}

func TestTemplateBodies(t *testing.T) {
	n := Names{Prefix: "smartcity_dev"}
	for name, tmpl := range map[string]ProvisioningTemplate{"jitp": JITPTemplate(), "claim": ClaimTemplate(n)} {
		body, err := tmpl.JSON()
		if err != nil {
			t.Fatal(err)
		}
		var v map[string]any
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		res, _ := v["Resources"].(map[string]any)
		if len(res) != 3 || res["thing"] == nil || res["certificate"] == nil || res["policy"] == nil {
			t.Errorf("%s: resources %v, want thing, certificate and policy", name, res)
		}
		if strings.Contains(body, "CertificateSigningRequest") || strings.Contains(strings.ToLower(body), "createkeys") {
			t.Errorf("%s: the template makes a certificate itself: %s", name, body)
		}
		again, _ := tmpl.JSON()
		if again != body {
			t.Errorf("%s: rendering is not deterministic", name)
		}
	}
	claim, _ := ClaimTemplate(n).JSON()
	for _, want := range []string{`"ThingName":{"Ref":"ThingName"}`, `["smartcity_dev_",{"Ref":"Class"}]`, `["smartcity_dev_district_",{"Ref":"District"}]`} {
		if !strings.Contains(claim, want) {
			t.Errorf("claim template lacks %s: %s", want, claim)
		}
	}
}

func TestCheckLevels(t *testing.T) {
	ok := []struct {
		def    Level
		events map[string]Level
	}{
		{LevelInfo, nil},
		{LevelDebug, nil},
		{LevelWarn, map[string]Level{EventDisconnect: LevelInfo}},
		{LevelError, map[string]Level{EventDisconnect: LevelDebug, "Connect": LevelInfo}},
	}
	for _, c := range ok {
		if errs := checkLevels(c.def, c.events); len(errs) > 0 {
			t.Errorf("%s %v: %v", c.def, c.events, errs)
		}
	}
	bad := []struct {
		def    Level
		events map[string]Level
		want   string
	}{
		{LevelWarn, nil, "drops the INFO Disconnect entries"},
		{LevelInfo, map[string]Level{EventDisconnect: LevelError}, "level ERROR for Disconnect"},
		{LevelDisabled, nil, "turns IoT logging off"},
		{LevelInfo, map[string]Level{"Publish-In": LevelDisabled}, "EventLevels[Publish-In] DISABLED"},
		{"LOUD", nil, `Level "LOUD"`},
	}
	for _, c := range bad {
		if got := strings.Join(checkLevels(c.def, c.events), "\n"); !strings.Contains(got, c.want) {
			t.Errorf("%s %v: errors %q do not contain %q", c.def, c.events, got, c.want)
		}
	}
}

func TestEstimateResources(t *testing.T) {
	// The dev fleet: 6 classes, 3 districts, 24 things, 6 with a CSR; the synthesized stack
	// holds 157 resources, so the estimate must be at least that.
	if got := estimateResources(6, 3, 24, 6); got < 157 || got > 200 {
		t.Errorf("estimate %d for the dev fleet, which synthesizes 157 resources", got)
	}
	if diff := cmp.Diff([]string{"district", "class", "serial"}, SearchableAttributes); diff != "" {
		t.Error(diff)
	}
}

// TestTemplatesSetThingTypeAndDistrict: both provisioning paths set the thing type from the
// class and the district attribute in the fleet file's format, and write the same attribute
// set as a declared thing.
func TestTemplatesSetThingTypeAndDistrict(t *testing.T) {
	n := Names{Prefix: "smartcity_dev"}
	cases := map[string]struct {
		tmpl                ProvisioningTemplate
		thingType, district any
		groups              []any
		params              []string
	}{
		"jitp": {
			tmpl: JITPTemplate(), thingType: ref(CertOrganizationalUnit), district: ref(CertStateName),
			groups: []any{ref(CertOrganizationalUnit), ref(CertDistinguishedNameQual)},
			params: []string{CertCommonName, CertSerialNumber, CertOrganizationalUnit, CertDistinguishedNameQual, CertStateName, CertID},
		},
		"claim": {
			tmpl: ClaimTemplate(n), thingType: join("smartcity_dev_", ref("Class")), district: ref("District"),
			groups: []any{join("smartcity_dev_", ref("Class")), join("smartcity_dev_district_", ref("District"))},
			params: []string{"SerialNumber", "ThingName", "Class", "District", CertID},
		},
	}
	for name, c := range cases {
		thing := c.tmpl.Resources["thing"].Properties
		if diff := cmp.Diff(c.thingType, thing["ThingTypeName"]); diff != "" {
			t.Errorf("%s: thing type (-want +got):\n%s", name, diff)
		}
		attrs, _ := thing["AttributePayload"].(map[string]any)
		if diff := cmp.Diff(c.district, attrs[AttrDistrict]); diff != "" {
			t.Errorf("%s: district attribute (-want +got):\n%s", name, diff)
		}
		var keys []string
		for k := range attrs {
			keys = append(keys, k)
		}
		if diff := cmp.Diff([]string{AttrDistrict, AttrSerial}, keys, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
			t.Errorf("%s: attributes (-want +got):\n%s", name, diff)
		}
		if diff := cmp.Diff(c.groups, thing["ThingGroups"]); diff != "" {
			t.Errorf("%s: groups (-want +got):\n%s", name, diff)
		}
		var params []string
		for p := range c.tmpl.Parameters {
			params = append(params, p)
		}
		if diff := cmp.Diff(c.params, params, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
			t.Errorf("%s: parameters (-want +got):\n%s", name, diff)
		}
		// The policy is the class's: the same value as the thing type.
		if diff := cmp.Diff(c.thingType, c.tmpl.Resources["policy"].Properties["PolicyName"]); diff != "" {
			t.Errorf("%s: policy (-want +got):\n%s", name, diff)
		}
	}
	if AttrDistrict != topics.DistrictAttribute {
		t.Errorf("district attribute %q, the device policy reads %q", AttrDistrict, topics.DistrictAttribute)
	}
}

// TestTemplatesNeverChangeAnExistingThing: on a thing that already exists, neither template
// replaces or merges its type, attributes or groups ("Provisioning templates", Override
// settings: DO_NOTHING leaves the resource as is), so provisioning a certificate for an
// existing thing name cannot move it to another class or district or out of quarantine.
func TestTemplatesNeverChangeAnExistingThing(t *testing.T) {
	want := map[string]string{"AttributePayload": "DO_NOTHING", "ThingTypeName": "DO_NOTHING", "ThingGroups": "DO_NOTHING"}
	for name, tmpl := range map[string]ProvisioningTemplate{"jitp": JITPTemplate(), "claim": ClaimTemplate(Names{Prefix: "smartcity_dev"})} {
		if diff := cmp.Diff(want, tmpl.Resources["thing"].OverrideSettings); diff != "" {
			t.Errorf("%s: thing override settings (-want +got):\n%s", name, diff)
		}
		// The rendered body carries them (an omitted setting would fall back to AWS's default).
		body, err := tmpl.JSON()
		if err != nil {
			t.Fatal(err)
		}
		var parsed struct {
			Resources map[string]struct{ OverrideSettings map[string]string }
		}
		if err := json.Unmarshal([]byte(body), &parsed); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, parsed.Resources["thing"].OverrideSettings); diff != "" {
			t.Errorf("%s: rendered override settings (-want +got):\n%s", name, diff)
		}
	}
}
