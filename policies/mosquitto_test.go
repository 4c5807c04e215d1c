package policies

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/secure-smart-city/platform/topics"
)

// aclLines returns the non-comment lines of an ACL body.
func aclLines(body string) []string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

func TestMosquittoACLDevice(t *testing.T) {
	rule := topics.RuleName("smartcity_dev", streetLight.ID)
	reg := Registry{
		CityThing("sl-old-town-001", rule, "old_town"),
		CityThing("sl-harbour-901", rule, "harbour"),
	}
	body, err := MosquittoACL(reg, Device(streetLight))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"pattern write $aws/things/%u/shadow/update",
		"pattern write $aws/things/%u/shadow/get",
		"pattern write $aws/things/%u/jobs/#",
		"pattern read city/things/%u/commands",
		"pattern read $aws/things/%u/shadow/#",
		"pattern read $aws/things/%u/jobs/#",
		"user sl-old-town-001",
		"topic write $aws/rules/smartcity_dev_street_light/districts/old_town/things/sl-old-town-001/telemetry",
		"user sl-harbour-901",
		"topic write $aws/rules/smartcity_dev_street_light/districts/harbour/things/sl-harbour-901/telemetry",
	}
	if d := cmp.Diff(want, aclLines(body)); d != "" {
		t.Errorf("ACL (-want +got):\n%s", d)
	}
}

// TestMosquittoACLRegistryErrors: a type or attribute variable with no expansion, and a
// registry entry the ACL could not carry safely, fail with a message naming them.
func TestMosquittoACLRegistryErrors(t *testing.T) {
	rule := topics.RuleName("smartcity_dev", streetLight.ID)
	device := Device(streetLight)
	cases := []struct {
		name   string
		reg    Registry
		docs   []Document
		wantIn string
	}{
		{"empty registry", nil, []Document{device}, "${iot:Connection.Thing.ThingTypeName} has no expansion: the registry has no things"},
		{"thing without a type", Registry{{Name: "x", Attributes: map[string]string{"district": "harbour"}}}, []Document{device},
			`${iot:Connection.Thing.ThingTypeName} has no expansion for thing "x": it has no thing type`},
		{"thing without a district", Registry{{Name: "x", Type: rule}}, []Document{device},
			`${iot:Connection.Thing.Attributes[district]} has no expansion for thing "x": it has no attribute "district"`},
		{"client id beside an attribute", Registry{CityThing("x", rule, "harbour")},
			[]Document{{Statements: []Statement{{Effect: Allow, Actions: []string{ActionPublish}, Resources: []Resource{Topic("d/${iot:Connection.Thing.Attributes[district]}/${iot:ClientId}")}}}}},
			"${iot:ClientId} has no expansion beside a thing type or attribute variable"},
		{"unknown variable", Registry{CityThing("x", rule, "harbour")},
			[]Document{{Statements: []Statement{{Effect: Allow, Actions: []string{ActionPublish}, Resources: []Resource{Topic("d/${iot:Certificate.Subject.Country}")}}}}},
			"policy variable ${iot:Certificate.Subject.Country} has no mosquitto equivalent"},
		{"wildcard in an attribute value", Registry{CityThing("x", rule, "#")}, []Document{device}, `attribute district value "#"`},
		{"line break in a thing type", Registry{{Name: "x", Type: "a\ntopic readwrite #"}}, []Document{device}, "thing type"},
		{"space in a thing name", Registry{CityThing("x y", rule, "harbour")}, []Document{device}, `thing name "x y"`},
		{"duplicate thing", Registry{CityThing("x", rule, "harbour"), CityThing("x", rule, "old_town")}, []Document{device}, `thing name "x" also at registry[0]`},
	}
	for _, c := range cases {
		_, err := MosquittoACL(c.reg, c.docs...)
		if err == nil || !strings.Contains(err.Error(), c.wantIn) {
			t.Errorf("%s: err = %v, want it to contain %q", c.name, err, c.wantIn)
		}
	}
}

func TestMosquittoACLClaimAndQuarantine(t *testing.T) {
	body, err := MosquittoACL(nil, Claim("tmpl"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"pattern write " + topics.CreateCertificateFromCSR,
		"pattern write " + topics.Provision("tmpl"),
		"pattern read " + topics.Accepted(topics.CreateCertificateFromCSR),
		"pattern read " + topics.Rejected(topics.CreateCertificateFromCSR),
		"pattern read " + topics.Accepted(topics.Provision("tmpl")),
		"pattern read " + topics.Rejected(topics.Provision("tmpl")),
	}
	if d := cmp.Diff(want, aclLines(body)); d != "" {
		t.Errorf("claim ACL (-want +got):\n%s", d)
	}

	reg := Registry{CityThing("x", "r", "harbour")}
	for _, docs := range [][]Document{{Quarantine()}, {Device(streetLight), Quarantine()}} {
		body, err := MosquittoACL(reg, docs...)
		if err != nil {
			t.Fatal(err)
		}
		if lines := aclLines(body); len(lines) != 0 {
			t.Errorf("deny-all ACL has lines %v", lines)
		}
	}
}

func TestMosquittoACLErrors(t *testing.T) {
	allow := func(action string, r Resource) Document {
		return Document{Statements: []Statement{{Effect: Allow, Actions: []string{action}, Resources: []Resource{r}}}}
	}
	cases := map[string]Document{
		"star mid topic":      allow(ActionPublish, Topic("city/*/x")),
		"star in a level":     allow(ActionPublish, Topic("city/a*")),
		"question mark":       allow(ActionSubscribe, TopicFilter("city/?")),
		"literal plus":        allow(ActionReceive, Topic("city/+/x")),
		"attribute missing":   allow(ActionPublish, Topic("city/${iot:Connection.Thing.Attributes[zone]}")),
		"unknown variable":    allow(ActionPublish, Topic("city/${iot:Connection.Thing.Zone}")),
		"any resource":        allow(ActionPublish, AnyResource),
		"percent":             allow(ActionPublish, Topic("city/100%")),
		"partial deny":        {Statements: []Statement{{Effect: Deny, Actions: []string{ActionPublish}, Resources: []Resource{Topic("city/x")}}}},
		"conditional denyall": {Statements: []Statement{{Effect: Deny, Actions: []string{ActionAll}, Resources: []Resource{AnyResource}, Conditions: Conditions{"Bool": {IsAttachedKey: {"false"}}}}}},
	}
	for name, doc := range cases {
		if _, err := MosquittoACL(Registry{CityThing("x", "r", "harbour")}, doc); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	// A whole-topic "*" and ${iot:ClientId} have MQTT equivalents.
	body, err := MosquittoACL(nil, allow(ActionPublish, Topic("*")), allow(ActionReceive, Topic("c/${iot:ClientId}")))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"pattern write #", "pattern read c/%c"}, aclLines(body)); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}
