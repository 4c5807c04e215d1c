package policies

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func sampleDoc() Document {
	return Document{Statements: []Statement{
		{
			Sid: "Connect", Effect: Allow, Actions: []string{ActionConnect},
			Resources:  []Resource{Client("${iot:Connection.Thing.ThingName}")},
			Conditions: Conditions{"Bool": {IsAttachedKey: {"true"}}},
		},
		{Effect: Deny, Actions: []string{ActionAll}, Resources: []Resource{AnyResource}},
	}}
}

func TestRenderLiteralPrefix(t *testing.T) {
	got := sampleDoc().Render(ARNPrefix("aws", "eu-west-1", "123456789012"))
	want := map[string]any{
		"Version": "2012-10-17",
		"Statement": []any{
			map[string]any{
				"Sid": "Connect", "Effect": "Allow", "Action": []any{"iot:Connect"},
				"Resource":  []any{"arn:aws:iot:eu-west-1:123456789012:client/${iot:Connection.Thing.ThingName}"},
				"Condition": map[string]any{"Bool": map[string]any{"iot:Connection.Thing.IsAttached": []any{"true"}}},
			},
			map[string]any{"Effect": "Deny", "Action": []any{"iot:*"}, "Resource": []any{"*"}},
		},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Render (-want +got):\n%s", d)
	}
}

func TestCloudFormationEscapesPolicyVariables(t *testing.T) {
	doc := sampleDoc()
	doc.Statements[0].Resources = append(doc.Statements[0].Resources, "arn:aws:iot:eu-west-1:123456789012:client/${iot:ClientId}")
	got := doc.CloudFormation()
	stmts := got["Statement"].([]any)
	res := stmts[0].(map[string]any)["Resource"]
	want := []any{
		map[string]any{"Fn::Sub": "arn:${AWS::Partition}:iot:${AWS::Region}:${AWS::AccountId}:client/${!iot:Connection.Thing.ThingName}"},
		map[string]any{"Fn::Sub": "arn:aws:iot:eu-west-1:123456789012:client/${!iot:ClientId}"},
	}
	if d := cmp.Diff(want, res); d != "" {
		t.Errorf("resources (-want +got):\n%s", d)
	}
	if r := stmts[1].(map[string]any)["Resource"]; !cmp.Equal(r, []any{"*"}) {
		t.Errorf("deny-all resource = %v, want plain *", r)
	}
	// Conditions are not inside Fn::Sub, so they stay unescaped.
	cond := stmts[0].(map[string]any)["Condition"]
	if !cmp.Equal(cond, map[string]any{"Bool": map[string]any{IsAttachedKey: []any{"true"}}}) {
		t.Errorf("condition = %v", cond)
	}
}

func TestMarshalJSONRoundTrip(t *testing.T) {
	doc := sampleDoc()
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	stmts, err := parseDocument(b)
	if err != nil {
		t.Fatal(err)
	}
	var got []Statement
	for _, s := range stmts {
		got = append(got, s.st)
	}
	if d := cmp.Diff(doc.Statements, got); d != "" {
		t.Errorf("round trip (-want +got):\n%s", d)
	}
}

func TestResourceHelpers(t *testing.T) {
	cases := []struct {
		got  Resource
		want string
	}{
		{Client("sl-001"), "client/sl-001"},
		{Topic("city/things/sl-001/commands"), "topic/city/things/sl-001/commands"},
		{TopicFilter("city/things/+/commands"), "topicfilter/city/things/+/commands"},
		{Thing("sl-001"), "thing/sl-001"},
	}
	for _, c := range cases {
		if string(c.got) != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
