package test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/secure-smart-city/platform/compliance"
	"github.com/secure-smart-city/platform/constructs/fleet"
	"github.com/secure-smart-city/platform/policies"
	"github.com/secure-smart-city/platform/stacks"
	"github.com/secure-smart-city/platform/topics"
)

// dependsOn reports whether a resource depends on id (DependsOn).
func dependsOn(r compliance.Resource, id string) bool {
	for _, d := range compliance.List(r.Raw["DependsOn"]) {
		if d == id {
			return true
		}
	}
	return false
}

// TestFleetCertificates: certificates exist only for fleet file things with a CSR, are issued
// from that CSR (the key stays on the device), and are bound to their own thing, exclusively,
// and to their class policy.
func TestFleetCertificates(t *testing.T) {
	fl := stageFleet(t, stacks.StageDev)
	tmpl := fleetTemplate(t, stacks.StageDev)
	n := fleet.Names{Prefix: fl.RulePrefix("dev")}
	certs := map[string]compliance.Resource{}
	for _, c := range tmpl.Resources("AWS::IoT::Certificate") {
		certs[c.ID] = c
	}
	thingOfCert := map[string]string{}
	for _, a := range tmpl.Resources("AWS::IoT::ThingPrincipalAttachment") {
		thingOfCert[strings.TrimSuffix(strings.TrimPrefix(lit(a.Properties["Principal"]), "<"), ".Arn>")] = lit(a.Properties["ThingName"])
		if a.Properties["ThingPrincipalType"] != "EXCLUSIVE_THING" {
			t.Errorf("%s: ThingPrincipalType %v, want EXCLUSIVE_THING", a.ID, a.Properties["ThingPrincipalType"])
		}
	}
	policyOfCert := map[string]string{}
	for _, a := range tmpl.Resources("AWS::IoT::PolicyPrincipalAttachment") {
		policyOfCert[strings.TrimSuffix(strings.TrimPrefix(lit(a.Properties["Principal"]), "<"), ".Arn>")] = lit(a.Properties["PolicyName"])
	}
	thingIDs := map[string]string{} // logical id -> thing name
	for _, r := range tmpl.Resources("AWS::IoT::Thing") {
		thingIDs["<"+r.ID+">"] = lit(r.Properties["ThingName"])
	}
	policyIDs := map[string]string{}
	for name, p := range iotPolicies(tmpl) {
		policyIDs["<"+p.ID+">"] = name
	}
	want := 0
	for _, th := range fl.Things {
		if th.CSR == "" {
			continue
		}
		want++
		csr, err := fl.CSRPEM(th)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for id, c := range certs {
			if c.Properties["CertificateSigningRequest"] != string(csr) {
				continue
			}
			found = true
			if c.Properties["Status"] != "ACTIVE" || c.Properties["CertificatePem"] != nil || c.Properties["CACertificatePem"] != nil {
				t.Errorf("%s: %v", id, c.Properties)
			}
			if got := thingIDs[thingOfCert[id]]; got != th.Name {
				t.Errorf("certificate of %s is attached to thing %q", th.Name, got)
			}
			if got := policyIDs[policyOfCert[id]]; got != n.Class(th.Class) {
				t.Errorf("certificate of %s has policy %q, want its class policy %q", th.Name, got, n.Class(th.Class))
			}
		}
		if !found {
			t.Errorf("no certificate issued from %s's CSR", th.Name)
		}
	}
	if len(certs) != want || len(thingOfCert) != want || len(policyOfCert) != want {
		t.Errorf("%d certificates, %d thing and %d policy attachments; want %d of each (one per CSR in the fleet file)", len(certs), len(thingOfCert), len(policyOfCert), want)
	}
	if _, v := checksByName(t, "iot-certificates-from-csr").Run(tmpl); len(v) > 0 {
		t.Errorf("iot-certificates-from-csr: %v", v)
	}
}

func checksByName(t *testing.T, name string) compliance.Check {
	t.Helper()
	c, ok := compliance.ByName(name)
	if !ok {
		t.Fatalf("no check %q", name)
	}
	return c
}

// TestFleetDevicePolicies: one policy per class, as policies.Device renders it, reaching
// only its own class's telemetry rule.
func TestFleetDevicePolicies(t *testing.T) {
	fl := stageFleet(t, stacks.StageDev)
	tmpl := fleetTemplate(t, stacks.StageDev)
	n := fleet.Names{Prefix: fl.RulePrefix("dev")}
	pols := iotPolicies(tmpl)
	var wantNames []string
	for _, c := range fl.Classes {
		wantNames = append(wantNames, n.Class(c.ID))
	}
	wantNames = append(wantNames, n.Quarantine(), n.ClaimPolicy())
	if diff := cmp.Diff(sorted(wantNames), namesOf(tmpl, "AWS::IoT::Policy", "PolicyName")); diff != "" {
		t.Errorf("IoT policies (-want +got):\n%s", diff)
	}
	prefix := policies.ARNPrefix("aws", testRegion, testAccount)
	for _, c := range fl.Classes {
		p, ok := pols[n.Class(c.ID)]
		if !ok {
			t.Errorf("no policy for class %s", c.ID)
			continue
		}
		doc := policyDocument(t, p.Properties["PolicyDocument"])
		if diff := cmp.Diff(policies.Device(c).Render(prefix), doc.Render(prefix)); diff != "" {
			t.Errorf("class %s policy differs from policies.Device (-want +got):\n%s", c.ID, diff)
		}
		thing := "probe-001"
		for _, other := range fl.Classes {
			topic := prefix + "topic/" + topics.Telemetry(n.Class(other.ID), "old_town", thing)
			// The thing is registered as this class in old_town, as provisioning makes it.
			probe := policies.CityThing(thing, n.Class(c.ID), "old_town")
			if got := policies.AllowsThing(doc, policies.ActionPublish, topic, probe); got != (other.ID == c.ID) {
				t.Errorf("class %s policy: publish to %s's telemetry rule allowed = %v", c.ID, other.ID, got)
			}
		}
		if f, err := policies.CheckJSON(p.Properties["PolicyDocument"]); err != nil || len(f) > 0 {
			t.Errorf("class %s policy: findings %v, %v", c.ID, f, err)
		}
	}
}

// TestDevicePolicyIsolation: under its class policy as deployed, device A reaches its own
// client id, telemetry, shadow, jobs and commands, and nothing of device B (same class) or
// of another class; it cannot connect without its thing attached; the quarantine policy
// denies A everything its own policy allowed.
func TestDevicePolicyIsolation(t *testing.T) {
	fl := stageFleet(t, stacks.StageDev)
	tmpl := fleetTemplate(t, stacks.StageDev)
	n := fleet.Names{Prefix: fl.RulePrefix("dev")}
	pols := iotPolicies(tmpl)
	a, b := "sl-old-town-001", "sl-old-town-002"
	doc := policyDocument(t, pols[n.Class("street_light")].Properties["PolicyDocument"])
	rule, other := n.Class("street_light"), n.Class("traffic_signal")
	type req struct{ action, typ, name string }
	own := func(x string) []req {
		return []req{
			{policies.ActionConnect, "client", x},
			{policies.ActionPublish, "topic", topics.Telemetry(rule, "old_town", x)},
			{policies.ActionPublish, "topic", topics.ShadowUpdate(x)},
			{policies.ActionPublish, "topic", topics.ShadowGet(x)},
			{policies.ActionPublish, "topic", topics.JobsPrefix(x) + "get"},
			{policies.ActionSubscribe, "topicfilter", topics.Command(x)},
			{policies.ActionSubscribe, "topicfilter", topics.ShadowDelta(x)},
			{policies.ActionSubscribe, "topicfilter", topics.JobsPrefix(x) + "notify"},
			{policies.ActionReceive, "topic", topics.Command(x)},
			{policies.ActionReceive, "topic", topics.ShadowDelta(x)},
		}
	}
	thingA := policies.CityThing(a, rule, "old_town")
	for _, r := range own(a) {
		if !policies.AllowsThing(doc, r.action, iotARN(r.typ, r.name), thingA) {
			t.Errorf("device A denied its own %s %s/%s", r.action, r.typ, r.name)
		}
	}
	denied := append(own(b), []req{
		{policies.ActionPublish, "topic", topics.Telemetry(other, "old_town", a)},
		{policies.ActionPublish, "topic", topics.Telemetry(rule, "harbour", a)},
		{policies.ActionPublish, "topic", topics.Command(a)},
		{policies.ActionPublish, "topic", topics.Command(b)},
		{policies.ActionSubscribe, "topicfilter", "city/things/+/commands"},
		{policies.ActionSubscribe, "topicfilter", "$aws/things/+/shadow/update/delta"},
		{policies.ActionReceive, "topic", "$aws/things/" + b + "/shadow/get/accepted"},
		{policies.ActionRetainPublish, "topic", topics.ShadowUpdate(a)},
		// Erasing the shadow would erase the desired state operators set (issue 12).
		{policies.ActionPublish, "topic", topics.ShadowDelete(a)},
		{policies.ActionUpdateThingShadow, "thing", b},
		{policies.ActionConnect, "client", "claim.x"},
	}...)
	for _, r := range denied {
		if policies.AllowsThing(doc, r.action, iotARN(r.typ, r.name), thingA) {
			t.Errorf("device A allowed %s %s/%s", r.action, r.typ, r.name)
		}
	}
	if policies.Evaluate(doc, policies.Request{Action: policies.ActionConnect, Resource: iotARN("client", a), ClientID: a}) {
		t.Error("device A may connect without its thing attached to the certificate")
	}
	quarantined := doc
	quarantined.Statements = append(append([]policies.Statement{}, doc.Statements...),
		policyDocument(t, pols[n.Quarantine()].Properties["PolicyDocument"]).Statements...)
	for _, r := range own(a) {
		if policies.AllowsThing(quarantined, r.action, iotARN(r.typ, r.name), thingA) {
			t.Errorf("quarantined device A still allowed %s %s/%s", r.action, r.typ, r.name)
		}
	}
}
