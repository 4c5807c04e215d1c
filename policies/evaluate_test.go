package policies

import (
	"testing"

	"github.com/secure-smart-city/platform/topics"
)

// TestDeviceIsolation: a device policy lets device A reach only A's own resources.
func TestDeviceIsolation(t *testing.T) {
	ruleA := topics.RuleName("smartcity_dev", streetLight.ID)
	ruleOther := topics.RuleName("smartcity_dev", airQuality.ID)
	doc := Device(streetLight)
	a := CityThing("A", ruleA, "old_town")
	arn := func(r Resource) string { return testPrefix + string(r) }

	cases := []struct {
		name   string
		action string
		res    string
		want   bool
	}{
		{"connect as A", ActionConnect, arn(Client("A")), true},
		{"publish A telemetry", ActionPublish, arn(Topic(topics.Telemetry(ruleA, "old_town", "A"))), true},
		{"publish A shadow update", ActionPublish, arn(Topic(topics.ShadowUpdate("A"))), true},
		{"publish A shadow get", ActionPublish, arn(Topic(topics.ShadowGet("A"))), true},
		{"publish A job update", ActionPublish, arn(Topic(topics.JobsPrefix("A") + "job-1/update")), true},
		{"subscribe A commands", ActionSubscribe, arn(TopicFilter(topics.Command("A"))), true},
		{"receive A commands", ActionReceive, arn(Topic(topics.Command("A"))), true},
		{"subscribe A shadow delta", ActionSubscribe, arn(TopicFilter(topics.ShadowDelta("A"))), true},
		{"subscribe A shadow responses (MQTT #)", ActionSubscribe, arn(TopicFilter(topics.ShadowPrefix("A") + "#")), true},
		{"receive A shadow accepted", ActionReceive, arn(Topic(topics.Accepted(topics.ShadowUpdate("A")))), true},
		{"receive A job notify", ActionReceive, arn(Topic(topics.JobsPrefix("A") + "notify-next")), true},

		{"connect as B", ActionConnect, arn(Client("B")), false},
		{"connect as AB", ActionConnect, arn(Client("AB")), false},
		{"publish telemetry as B", ActionPublish, arn(Topic(topics.Telemetry(ruleA, "old_town", "B"))), false},
		{"publish A telemetry to another class's rule", ActionPublish, arn(Topic(topics.Telemetry(ruleOther, "old_town", "A"))), false},
		{"publish A telemetry under another district", ActionPublish, arn(Topic(topics.Telemetry(ruleA, "harbour", "A"))), false},
		{"publish A telemetry under a district prefix", ActionPublish, arn(Topic(topics.Telemetry(ruleA, "old", "A"))), false},
		{"publish A telemetry without the district level", ActionPublish, arn(Topic("$aws/rules/" + ruleA + "/things/A/telemetry")), false},
		{"publish B shadow update", ActionPublish, arn(Topic(topics.ShadowUpdate("B"))), false},
		{"publish A shadow accepted (a response topic)", ActionPublish, arn(Topic(topics.Accepted(topics.ShadowUpdate("A")))), false},
		{"publish B job", ActionPublish, arn(Topic(topics.JobsPrefix("B") + "get")), false},
		{"publish to A's own command topic", ActionPublish, arn(Topic(topics.Command("A"))), false},
		{"subscribe B commands", ActionSubscribe, arn(TopicFilter(topics.Command("B"))), false},
		{"subscribe all commands", ActionSubscribe, arn(TopicFilter(topics.Command("+"))), false},
		{"subscribe B shadow", ActionSubscribe, arn(TopicFilter(topics.ShadowDelta("B"))), false},
		{"subscribe A telemetry", ActionSubscribe, arn(TopicFilter(topics.Telemetry(ruleA, "old_town", "A"))), false},
		{"receive B commands", ActionReceive, arn(Topic(topics.Command("B"))), false},
		{"receive B shadow", ActionReceive, arn(Topic(topics.ShadowDelta("B"))), false},
		{"update A shadow over HTTP", ActionUpdateThingShadow, arn(Thing("A")), false},
		{"retain publish", ActionRetainPublish, arn(Topic(topics.ShadowUpdate("A"))), false},
	}
	for _, c := range cases {
		if got := AllowsThing(doc, c.action, c.res, a); got != c.want {
			t.Errorf("%s: AllowsThing(%s, %s) = %v, want %v", c.name, c.action, c.res, got, c.want)
		}
	}
}

// TestDeviceTelemetryFollowsTheRegistry: the telemetry grant comes from the connected thing's
// registry entry, not from a list: a thing provisioned at run time in any district publishes
// its own telemetry, and only there; a thing without a thing type or district publishes none.
func TestDeviceTelemetryFollowsTheRegistry(t *testing.T) {
	rule := topics.RuleName("smartcity_dev", streetLight.ID)
	other := topics.RuleName("smartcity_dev", airQuality.ID)
	doc := Device(streetLight)
	telemetry := func(rule, district, thing string) string {
		return testPrefix + string(Topic(topics.Telemetry(rule, district, thing)))
	}
	newThing := CityThing("sl-harbour-901", rule, "harbour")
	cases := []struct {
		name  string
		thing RegisteredThing
		topic string
		want  bool
	}{
		{"run-time thing, own telemetry", newThing, telemetry(rule, "harbour", newThing.Name), true},
		{"run-time thing, declared district of another", newThing, telemetry(rule, "old_town", newThing.Name), false},
		{"run-time thing, as a declared thing", newThing, telemetry(rule, "harbour", "sl-old-town-001"), false},
		{"run-time thing, another class's rule", newThing, telemetry(other, "harbour", newThing.Name), false},
		{"no thing type", RegisteredThing{Name: "x", Attributes: map[string]string{topics.DistrictAttribute: "harbour"}}, telemetry(rule, "harbour", "x"), false},
		{"no district", RegisteredThing{Name: "x", Type: rule}, telemetry(rule, "harbour", "x"), false},
		{"empty district", CityThing("x", rule, ""), telemetry(rule, "", "x"), false},
		{"district attribute under another name", RegisteredThing{Name: "x", Type: rule, Attributes: map[string]string{"District": "harbour"}}, telemetry(rule, "harbour", "x"), false},
		// The type decides the rule: a thing registered as an air quality sensor publishes to
		// that rule only, whichever class's policy it holds.
		{"registered as another class, own type's rule", CityThing("x", other, "harbour"), telemetry(other, "harbour", "x"), true},
		{"registered as another class, policy's rule", CityThing("x", other, "harbour"), telemetry(rule, "harbour", "x"), false},
	}
	for _, c := range cases {
		if got := AllowsThing(doc, ActionPublish, c.topic, c.thing); got != c.want {
			t.Errorf("%s: publish %s = %v, want %v", c.name, c.topic, got, c.want)
		}
	}
	// A certificate whose client id is not its attached thing resolves no thing variable.
	req := newThing.Request(ActionPublish, telemetry(rule, "harbour", newThing.Name))
	req.ClientID = "other"
	if Evaluate(doc, req) {
		t.Error("telemetry allowed with a client id that is not the attached thing")
	}
	// Allows knows no type or attributes, so it cannot reach telemetry.
	if Allows(doc, ActionPublish, telemetry(rule, "harbour", newThing.Name), newThing.Name) {
		t.Error("Allows without a registry entry reached telemetry")
	}
}

func TestEvaluateIsAttached(t *testing.T) {
	doc := Device(streetLight)
	arn := testPrefix + string(Client("A"))
	cases := []struct {
		name string
		req  Request
		want bool
	}{
		{"attached thing as client id", Request{Action: ActionConnect, Resource: arn, ClientID: "A", AttachedThing: "A"}, true},
		{"no attached thing", Request{Action: ActionConnect, Resource: arn, ClientID: "A"}, false},
		{"client id not the attached thing", Request{Action: ActionConnect, Resource: testPrefix + "client/B", ClientID: "B", AttachedThing: "A"}, false},
		{"relative resource", Request{Action: ActionConnect, Resource: "client/A", ClientID: "A", AttachedThing: "A"}, true},
		{"action case-insensitive", Request{Action: "IOT:CONNECT", Resource: arn, ClientID: "A", AttachedThing: "A"}, true},
	}
	for _, c := range cases {
		if got := Evaluate(doc, c.req); got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}

func TestQuarantineDeniesEverything(t *testing.T) {
	device := Device(streetLight)
	quarantined := Document{Statements: append(append([]Statement{}, device.Statements...), Quarantine().Statements...)}
	for _, c := range []struct{ action, res string }{
		{ActionConnect, "client/A"},
		{ActionPublish, "topic/" + topics.ShadowUpdate("A")},
		{ActionSubscribe, "topicfilter/" + topics.Command("A")},
	} {
		if !Allows(device, c.action, c.res, "A") {
			t.Fatalf("device policy does not allow %s %s", c.action, c.res)
		}
		if Allows(quarantined, c.action, c.res, "A") {
			t.Errorf("quarantined device may %s %s", c.action, c.res)
		}
	}
}

func TestClaimScope(t *testing.T) {
	doc := Claim("tmpl")
	cases := []struct {
		name string
		req  Request
		want bool
	}{
		{"connect in claim namespace", Request{Action: ActionConnect, Resource: "client/" + topics.ClaimClientID("SN1"), ClientID: topics.ClaimClientID("SN1")}, true},
		{"connect as a device", Request{Action: ActionConnect, Resource: "client/sl-001", ClientID: "sl-001"}, false},
		{"request a certificate", Request{Action: ActionPublish, Resource: "topic/" + topics.CreateCertificateFromCSR, ClientID: "claim.SN1"}, true},
		{"CreateKeysAndCertificate (cloud-made key)", Request{Action: ActionPublish, Resource: "topic/$aws/certificates/create/json", ClientID: "claim.SN1"}, false},
		{"register with the template", Request{Action: ActionPublish, Resource: "topic/" + topics.Provision("tmpl"), ClientID: "claim.SN1"}, true},
		{"register with another template", Request{Action: ActionPublish, Resource: "topic/" + topics.Provision("other"), ClientID: "claim.SN1"}, false},
		{"hear the certificate", Request{Action: ActionReceive, Resource: "topic/" + topics.Accepted(topics.CreateCertificateFromCSR), ClientID: "claim.SN1"}, true},
		{"subscribe to the rejection", Request{Action: ActionSubscribe, Resource: "topicfilter/" + topics.Rejected(topics.Provision("tmpl")), ClientID: "claim.SN1"}, true},
		{"publish telemetry", Request{Action: ActionPublish, Resource: "topic/" + topics.Telemetry("r", "old_town", "sl-001"), ClientID: "claim.SN1"}, false},
	}
	for _, c := range cases {
		if got := Evaluate(doc, c.req); got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}

func TestEvaluateVariablesAndConditions(t *testing.T) {
	doc := Document{Statements: []Statement{
		{Effect: Allow, Actions: []string{ActionPublish}, Resources: []Resource{Topic("lit/${*}/${iot:ClientId}")}},
		{Effect: Allow, Actions: []string{ActionReceive}, Resources: []Resource{Topic("attr/${iot:Connection.Thing.Attributes[zone]}")}},
		{Effect: Allow, Actions: []string{ActionSubscribe}, Resources: []Resource{TopicFilter("ip/*")},
			Conditions: Conditions{"IpAddress": {"aws:SourceIp": {"10.0.0.0/8"}}}},
		{Effect: Allow, Actions: []string{ActionConnect}, Resources: []Resource{Client("*")}},
		{Effect: Deny, Actions: []string{ActionConnect}, Resources: []Resource{Client("${iot:Connection.Thing.Attributes[x]}")}},
		{Effect: Allow, Actions: []string{ActionRetainPublish}, Resources: []Resource{Topic("t/${iot:Connection.Thing.ThingTypeName}/${iot:Connection.Thing.Attributes[zone]}")}},
		{Effect: Allow, Actions: []string{ActionGetRetainedMessage}, Resources: []Resource{Topic("t/${iot:Connection.Thing.Atributes[zone]}")}},
	}}
	zoned := RegisteredThing{Name: "c1", Type: "lamp", Attributes: map[string]string{"zone": "north", "x": "c1"}}
	cases := []struct {
		name string
		req  Request
		want bool
	}{
		{"${*} is a literal star", Request{Action: ActionPublish, Resource: "topic/lit/*/c1", ClientID: "c1"}, true},
		{"${*} is not a wildcard", Request{Action: ActionPublish, Resource: "topic/lit/x/c1", ClientID: "c1"}, false},
		{"client id variable", Request{Action: ActionPublish, Resource: "topic/lit/*/c2", ClientID: "c1"}, false},
		{"unresolved variable does not allow", Request{Action: ActionReceive, Resource: "topic/attr/north", ClientID: "c1"}, false},
		{"unknown condition does not allow", Request{Action: ActionSubscribe, Resource: "topicfilter/ip/x", ClientID: "c1"}, false},
		{"attribute variable", zoned.Request(ActionReceive, "topic/attr/north"), true},
		{"attribute variable, other value", zoned.Request(ActionReceive, "topic/attr/south"), false},
		{"attribute variable, client id not the thing", Request{Action: ActionReceive, Resource: "topic/attr/north", ClientID: "c2", AttachedThing: "c1", ThingAttributes: zoned.Attributes}, false},
		{"type and attribute variables", zoned.Request(ActionRetainPublish, "topic/t/lamp/north"), true},
		{"type variable, other type", zoned.Request(ActionRetainPublish, "topic/t/bench/north"), false},
		{"misspelled thing variable does not allow", zoned.Request(ActionGetRetainedMessage, "topic/t/north"), false},
		{"unresolved thing variable in Deny matches nothing", Request{Action: ActionConnect, Resource: "client/c9", ClientID: "c9", AttachedThing: "c9"}, true},
		{"resolved thing variable in Deny denies", Request{Action: ActionConnect, Resource: "client/c1", ClientID: "c1", AttachedThing: "c1", ThingAttributes: map[string]string{"x": "c1"}}, false},
	}
	for _, c := range cases {
		if got := Evaluate(doc, c.req); got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
	// A variable the model does not know (a certificate variable) makes a Deny apply.
	unknown := Document{Statements: []Statement{
		{Effect: Allow, Actions: []string{ActionConnect}, Resources: []Resource{Client("*")}},
		{Effect: Deny, Actions: []string{ActionConnect}, Resources: []Resource{Client("${iot:Certificate.Subject.Country}")}},
	}}
	if Evaluate(unknown, Request{Action: ActionConnect, Resource: "client/c1", ClientID: "c1"}) {
		t.Error("a Deny with a variable the model does not know did not apply")
	}
}
