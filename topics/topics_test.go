package topics

import "testing"

func TestNames(t *testing.T) {
	rule := RuleName("smartcity_dev", "street_light")
	cases := []struct{ got, want string }{
		{rule, "smartcity_dev_street_light"},
		{Telemetry(rule, "sl-001"), "$aws/rules/smartcity_dev_street_light/things/sl-001/telemetry"},
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

func TestThingFromTelemetry(t *testing.T) {
	cases := []struct {
		topic string
		thing string
		ok    bool
	}{
		{"$aws/rules/r/things/sl-001/telemetry", "sl-001", true},
		{"things/sl-001/telemetry", "sl-001", true},
		{"things//telemetry", "", false},
		{"things/sl-001/commands", "", false},
		{"$aws/rules/r", "", false},
		{"", "", false},
	}
	for _, c := range cases {
		thing, ok := ThingFromTelemetry(c.topic)
		if thing != c.thing || ok != c.ok {
			t.Errorf("ThingFromTelemetry(%q) = %q, %v; want %q, %v", c.topic, thing, ok, c.thing, c.ok)
		}
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
