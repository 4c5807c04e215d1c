package topics

import "testing"

func TestNames(t *testing.T) {
	rule := RuleName("smartcity_dev", "street_light")
	cases := []struct{ got, want string }{
		{rule, "smartcity_dev_street_light"},
		{Telemetry(rule, "old_town", "sl-001"), "$aws/rules/smartcity_dev_street_light/districts/old_town/things/sl-001/telemetry"},
		{Command("sl-001"), "city/things/sl-001/commands"},
		{ShadowPrefix("sl-001"), "$aws/things/sl-001/shadow/"},
		{JobsPrefix("sl-001"), "$aws/things/sl-001/jobs/"},
		{ShadowUpdate("sl-001"), "$aws/things/sl-001/shadow/update"},
		{ShadowDelta("sl-001"), "$aws/things/sl-001/shadow/update/delta"},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

func TestTelemetryOrigin(t *testing.T) {
	cases := []struct {
		topic, district, thing string
		ok                     bool
	}{
		{"$aws/rules/r/districts/old_town/things/sl-001/telemetry", "old_town", "sl-001", true},
		{"districts/old_town/things/sl-001/telemetry", "old_town", "sl-001", true},
		{Telemetry("r", "harbour", "ts-9"), "harbour", "ts-9", true},
		{"districts//things/sl-001/telemetry", "", "", false},
		{"districts/old_town/things//telemetry", "", "", false},
		{"districts/old_town/things/a/b/telemetry", "", "", false},
		{"districts/old_town/things/sl-001/commands", "", "", false},
		{"things/sl-001/telemetry", "", "", false},
		{"$aws/rules/r", "", "", false},
		{"", "", "", false},
	}
	for _, c := range cases {
		district, thing, ok := TelemetryOrigin(c.topic)
		if district != c.district || thing != c.thing || ok != c.ok {
			t.Errorf("TelemetryOrigin(%q) = %q, %q, %v; want %q, %q, %v", c.topic, district, thing, ok, c.district, c.thing, c.ok)
		}
	}
}

func TestOwnTelemetry(t *testing.T) {
	want := "$aws/rules/${iot:Connection.Thing.ThingTypeName}/districts/${iot:Connection.Thing.Attributes[district]}/things/${iot:Connection.Thing.ThingName}/telemetry"
	if OwnTelemetry != want {
		t.Errorf("OwnTelemetry = %q, want %q", OwnTelemetry, want)
	}
}

func TestRequestTopics(t *testing.T) {
	cases := []struct{ got, want string }{
		{ShadowGet("sl-001"), "$aws/things/sl-001/shadow/get"},
		{ShadowDelete("sl-001"), "$aws/things/sl-001/shadow/delete"},
		{Accepted(ShadowUpdate("sl-001")), "$aws/things/sl-001/shadow/update/accepted"},
		{Rejected(ShadowGet("sl-001")), "$aws/things/sl-001/shadow/get/rejected"},
		{Provision("smartcity_claim"), "$aws/provisioning-templates/smartcity_claim/provision/json"},
		{Accepted(CreateCertificateFromCSR), "$aws/certificates/create-from-csr/json/accepted"},
		{Rejected(Provision("t")), "$aws/provisioning-templates/t/provision/json/rejected"},
		{ClaimClientID("SN-0042"), "claim.SN-0042"},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
