package compliance

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

func loadStacks(t *testing.T, path, account string) []StackTemplate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]Template
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out []StackTemplate
	for name, tmpl := range m {
		out = append(out, StackTemplate{Name: name, Template: tmpl, Account: account, Region: "eu-west-1"})
	}
	return out
}

// TestAlarmFlowFixtures: an alarm reaching its topic through Fn::GetStackOutput, with the
// topic's CloudWatch allow (compliant) and without it (noncompliant), in an environment-pinned
// and an environment-agnostic synth.
func TestAlarmFlowFixtures(t *testing.T) {
	for _, account := range []string{"123456789012", "unknown-account"} {
		w, err := NewWorld(loadStacks(t, "testdata/flows/compliant.json", account))
		if err != nil {
			t.Fatal(err)
		}
		cases, err := alarmTopicCases(w, w.Account, nil)
		if err != nil || len(cases) != 1 || len(cases[0].Steps) != 3 {
			t.Fatalf("%s: cases %+v, %v", account, cases, err)
		}
		for _, s := range cases[0].Steps {
			if d, err := w.Decide(s); err != nil || !d.Allowed {
				t.Errorf("%s: compliant: %s on %s: %+v %v", account, s.Action, s.Resource, d, err)
			}
		}
		if !strings.Contains(cases[0].Steps[0].Resource, ":"+w.Account+":") {
			t.Errorf("%s: topic ARN %s lacks the account %s", account, cases[0].Steps[0].Resource, w.Account)
		}

		w, err = NewWorld(loadStacks(t, "testdata/flows/noncompliant.json", account))
		if err != nil {
			t.Fatal(err)
		}
		cases, err = alarmTopicCases(w, w.Account, nil)
		if err != nil || len(cases) != 1 {
			t.Fatalf("%s: cases %+v, %v", account, cases, err)
		}
		if d, err := w.Decide(cases[0].Steps[0]); err != nil || d.Allowed {
			t.Errorf("%s: noncompliant: publish %+v %v", account, d, err)
		}
	}
}

func TestResolve(t *testing.T) {
	w, err := NewWorld([]StackTemplate{{Name: "S", Account: "123456789012", Region: "eu-west-1", Template: Template{
		"Resources": map[string]any{
			"Fn":   map[string]any{"Type": "AWS::Lambda::Function", "Properties": map[string]any{"FunctionName": "f"}},
			"Role": map[string]any{"Type": "AWS::IAM::Role", "Properties": map[string]any{"Path": "/p/"}},
		},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		in   string
		want string
	}{
		{`{"Fn::GetAtt":["Fn","Arn"]}`, "arn:aws:lambda:eu-west-1:123456789012:function:f"},
		{`{"Fn::Sub":"${Fn.Arn}:x ${!Literal}"}`, "arn:aws:lambda:eu-west-1:123456789012:function:f:x ${Literal}"},
		{`{"Fn::Join":["/",[{"Ref":"AWS::Partition"},{"Ref":"Fn"}]]}`, "aws/f"},
		{`{"Fn::GetAtt":["Role","Arn"]}`, "arn:aws:iam::123456789012:role/p/S-Role"},
		{`{"Fn::Select":[1,["a","b"]]}`, "b"},
	} {
		var v any
		if err := json.Unmarshal([]byte(c.in), &v); err != nil {
			t.Fatal(err)
		}
		got, err := w.Str("S", v)
		if err != nil || got != c.want {
			t.Errorf("%s = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	if _, err := w.Str("S", map[string]any{"Fn::GetStackOutput": map[string]any{"StackName": "Missing", "OutputName": "X"}}); err == nil {
		t.Error("a reference to a missing stack resolved")
	}
	if _, err := w.Str("S", map[string]any{"Fn::If": []any{"c", "a", "b"}}); err == nil {
		t.Error("an unsupported intrinsic resolved")
	}
}

// TestEveryFlowIsDescribed keeps the table readable in the README: unique ids, both ends named.
func TestEveryFlowIsDescribed(t *testing.T) {
	seen := map[string]bool{}
	refused := 0
	for _, f := range Flows {
		if f.ID == "" || f.From == "" || f.To == "" || f.Cases == nil || seen[f.ID] {
			t.Errorf("flow %+v: id, from, to and cases are required and ids unique", f.ID)
		}
		seen[f.ID] = true
		if !f.Allow {
			refused++
		}
	}
	if refused < 5 {
		t.Errorf("%d refused flows, want the attacks of issue 11 (>= 5)", refused)
	}
}

// TestCheckFlowsSkipsAbsentFlows: an app without the platform's resources (a test app of one
// construct) gets no flow findings, while the platform's stacks with the alarm allow deleted do.
func TestCheckFlowsSkipsAbsentFlows(t *testing.T) {
	if got := CheckFlows([]StackTemplate{{Name: "Empty", Template: Template{"Resources": map[string]any{}}}}); len(got) != 0 {
		t.Errorf("empty app: %v", got)
	}
	got := CheckFlows(loadStacks(t, "testdata/flows/noncompliant.json", "123456789012"))
	found := false
	for _, l := range got {
		if strings.Contains(l, "flow alarm-to-topic") && strings.Contains(l, "no resource policy statement allows cloudwatch.amazonaws.com") {
			found = true
		}
	}
	if !found {
		t.Errorf("noncompliant fixture: alarm-to-topic not reported: %v", got)
	}
}
