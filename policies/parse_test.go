package policies

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestResolveResourceShapes(t *testing.T) {
	cases := []struct {
		name string
		in   any
		want Resource
	}{
		{"star", "*", AnyResource},
		{"literal arn", "arn:aws:iot:eu-west-1:123456789012:topic/a/b", "topic/a/b"},
		{"relative", "topic/a/b", "topic/a/b"},
		{"client id with colons", "arn:aws:iot:eu-west-1:123456789012:client/a:b:c", "client/a:b:c"},
		{"arn wildcard", "arn:aws:iot:eu-west-1:123456789012:*", AnyResource},
		{"short arn wildcard", "arn:aws:iot:*", AnyResource},
		{"non-iot arn", "arn:aws:s3:::b/k", "arn:aws:s3:::b/k"},
		{"sub escaped", map[string]any{"Fn::Sub": "arn:${AWS::Partition}:iot:${AWS::Region}:${AWS::AccountId}:client/${!iot:Connection.Thing.ThingName}"},
			"client/${iot:Connection.Thing.ThingName}"},
		{"sub with variables", map[string]any{"Fn::Sub": []any{"arn:${AWS::Partition}:iot:${AWS::Region}:${AWS::AccountId}:topic/$aws/rules/${Rule}/things/${!iot:Connection.Thing.ThingName}/telemetry",
			map[string]any{"Rule": "smartcity_street_light"}}},
			"topic/$aws/rules/smartcity_street_light/things/${iot:Connection.Thing.ThingName}/telemetry"},
		{"sub with a reference", map[string]any{"Fn::Sub": "arn:${AWS::Partition}:iot:${AWS::Region}:${AWS::AccountId}:topic/$aws/rules/${TopicRule}/x"},
			"topic/$aws/rules/⟨TopicRule⟩/x"},
		{"join", map[string]any{"Fn::Join": []any{"", []any{"arn:", map[string]any{"Ref": "AWS::Partition"}, ":iot:", map[string]any{"Ref": "AWS::Region"}, ":",
			map[string]any{"Ref": "AWS::AccountId"}, ":topicfilter/city/things/${iot:Connection.Thing.ThingName}/commands"}}},
			"topicfilter/city/things/${iot:Connection.Thing.ThingName}/commands"},
		{"join with getatt", map[string]any{"Fn::Join": []any{"/", []any{"arn:aws:iot:eu-west-1:123456789012:thing", map[string]any{"Fn::GetAtt": []any{"Thing", "Name"}}}}},
			"thing/⟨Thing.Name⟩"},
	}
	for _, c := range cases {
		got, err := resolveResource(c.in)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		name, doc, want string
	}{
		{"not json", `{`, "not JSON"},
		{"not an object", `[]`, "not a JSON object"},
		{"old version", `{"Version":"2008-10-17","Statement":[]}`, "Version"},
		{"no version", `{"Statement":[]}`, "Version"},
		{"unknown key", `{"Version":"2012-10-17","Statement":[],"Foo":1}`, "Foo"},
		{"not action", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotAction":"iot:Connect","Resource":"*"}]}`, "NotAction"},
		{"not resource", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","NotResource":"*"}]}`, "NotResource"},
		{"bad effect", `{"Version":"2012-10-17","Statement":[{"Effect":"allow","Action":"iot:Connect","Resource":"*"}]}`, "Effect"},
		{"no resource", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect"}]}`, "Resource"},
		{"intrinsic action", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":{"Ref":"A"},"Resource":"*"}]}`, "Action"},
		{"bare ref", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":{"Ref":"PolicyArn"}}]}`, "unresolved reference"},
		{"malformed arn", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"arn:aws:iot:eu"}]}`, "not a valid ARN"},
	}
	for _, c := range cases {
		_, err := CheckJSON(c.doc)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to mention %q", c.name, err, c.want)
		}
	}
}

func TestParseShapes(t *testing.T) {
	// A single statement object, string Action and Resource, boolean condition value.
	stmts, err := parseDocument(map[string]any{
		"Version": "2012-10-17",
		"Statement": map[string]any{
			"Sid": "One", "Effect": "Allow", "Action": "iot:Connect",
			"Resource":  "arn:aws:iot:eu-west-1:123456789012:client/${iot:Connection.Thing.ThingName}",
			"Condition": map[string]any{"Bool": map[string]any{IsAttachedKey: true}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := Statement{
		Sid: "One", Effect: Allow, Actions: []string{"iot:Connect"},
		Resources:  []Resource{"client/${iot:Connection.Thing.ThingName}"},
		Conditions: Conditions{"Bool": {IsAttachedKey: {"true"}}},
	}
	if len(stmts) != 1 {
		t.Fatalf("got %d statements", len(stmts))
	}
	if d := cmp.Diff(want, stmts[0].st); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	if !strings.Contains(stmts[0].raw, `"Sid":"One"`) {
		t.Errorf("raw = %s", stmts[0].raw)
	}
}
