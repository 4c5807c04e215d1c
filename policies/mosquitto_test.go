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
	body, err := MosquittoACL(Device(streetLight, "smartcity_dev_street_light"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"pattern write $aws/rules/smartcity_dev_street_light/things/%u/telemetry",
		"pattern write $aws/things/%u/shadow/update",
		"pattern write $aws/things/%u/shadow/get",
		"pattern write $aws/things/%u/shadow/delete",
		"pattern write $aws/things/%u/jobs/#",
		"pattern read city/things/%u/commands",
		"pattern read $aws/things/%u/shadow/#",
		"pattern read $aws/things/%u/jobs/#",
	}
	if d := cmp.Diff(want, aclLines(body)); d != "" {
		t.Errorf("ACL (-want +got):\n%s", d)
	}
}

func TestMosquittoACLClaimAndQuarantine(t *testing.T) {
	body, err := MosquittoACL(Claim("tmpl"))
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

	for _, docs := range [][]Document{{Quarantine()}, {Device(streetLight, "r"), Quarantine()}} {
		body, err := MosquittoACL(docs...)
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
		"attribute variable":  allow(ActionPublish, Topic("city/${iot:Connection.Thing.Attributes[zone]}")),
		"any resource":        allow(ActionPublish, AnyResource),
		"percent":             allow(ActionPublish, Topic("city/100%")),
		"partial deny":        {Statements: []Statement{{Effect: Deny, Actions: []string{ActionPublish}, Resources: []Resource{Topic("city/x")}}}},
		"conditional denyall": {Statements: []Statement{{Effect: Deny, Actions: []string{ActionAll}, Resources: []Resource{AnyResource}, Conditions: Conditions{"Bool": {IsAttachedKey: {"false"}}}}}},
	}
	for name, doc := range cases {
		if _, err := MosquittoACL(doc); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	// A whole-topic "*" and ${iot:ClientId} have MQTT equivalents.
	body, err := MosquittoACL(allow(ActionPublish, Topic("*")), allow(ActionReceive, Topic("c/${iot:ClientId}")))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"pattern write #", "pattern read c/%c"}, aclLines(body)); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}
