package test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/secure-smart-city/platform/compliance"
	"github.com/secure-smart-city/platform/constructs/securestore"
)

// flowStacks turns a shared synth into the flow proofs' input; pinned variants carry the
// test account, the environment-agnostic one none.
func flowStacks(variant string, s *synthesized) []compliance.StackTemplate {
	acct := testAccount
	if strings.Contains(variant, "agnostic") {
		acct = "unknown-account"
	}
	var out []compliance.StackTemplate
	for _, name := range stackNames(s) {
		out = append(out, compliance.StackTemplate{Name: name, Template: copyTemplate(s.templates[name]), Account: acct, Region: testRegion})
	}
	return out
}

func copyTemplate(t compliance.Template) compliance.Template {
	data, _ := json.Marshal(t)
	var out compliance.Template
	_ = json.Unmarshal(data, &out)
	return out
}

func flowResults(t *testing.T, stacks []compliance.StackTemplate, without map[string]bool) map[string]compliance.FlowResult {
	t.Helper()
	res, err := compliance.EvaluateFlowsWithout(stacks, without)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]compliance.FlowResult{}
	for _, r := range res {
		out[r.ID] = r
	}
	return out
}

// TestFlowTableHolds: every flow of the table comes out as the table says in dev, prod and the
// environment-agnostic synth, and every alarm action (ALARM and OK, 2 per alarm) is a case.
func TestFlowTableHolds(t *testing.T) {
	for variant, s := range synthVariants(t) {
		stacks := flowStacks(variant, s)
		res, err := compliance.EvaluateFlows(stacks)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if !r.Holds() {
				t.Errorf("%s: flow %s: %v", variant, r.ID, r.Failures)
			}
		}
		alarms := 0
		for _, st := range stacks {
			alarms += len(st.Template.Resources("AWS::CloudWatch::Alarm"))
		}
		byID := flowResults(t, stacks, nil)
		if got := byID["alarm-to-topic"].Cases; alarms == 0 || got != 2*alarms {
			t.Errorf("%s: alarm-to-topic has %d cases for %d alarms, want 2 per alarm", variant, got, alarms)
		}
		if variant == "dev" {
			t.Logf("dev flow table:\n%s", compliance.FlowTable(res))
		}
	}
}

// TestFlowWeakening: for every flow that must be allowed, removing the statements that allow
// it makes the flow fail: no row passes whatever the policies say.
func TestFlowWeakening(t *testing.T) {
	stacks := flowStacks("dev", synthOnce(t, "dev"))
	for id, r := range flowResults(t, stacks, nil) {
		if !r.Allow {
			continue
		}
		if len(r.AllowedBy) == 0 {
			t.Errorf("flow %s: no allowing statement recorded", id)
			continue
		}
		without := map[string]bool{}
		for _, w := range r.AllowedBy {
			without[w] = true
		}
		if weak := flowResults(t, stacks, without)[id]; weak.Holds() {
			t.Errorf("flow %s still holds without %v", id, r.AllowedBy)
		}
	}
}

// topicPolicy returns the alert topic's policy statements in a copy of the templates.
func topicStatements(t *testing.T, stacks []compliance.StackTemplate) (*map[string]any, []any) {
	t.Helper()
	for _, st := range stacks {
		for _, p := range st.Template.Resources("AWS::SNS::TopicPolicy") {
			doc := p.Properties["PolicyDocument"].(map[string]any)
			return &doc, doc["Statement"].([]any)
		}
	}
	t.Fatal("no topic policy")
	return nil, nil
}

func withStatements(t *testing.T, stacks []compliance.StackTemplate, edit func(sid string, st map[string]any) (keep bool)) {
	t.Helper()
	doc, sts := topicStatements(t, stacks)
	var out []any
	for _, s := range sts {
		m := s.(map[string]any)
		sid, _ := m["Sid"].(string)
		if edit(sid, m) {
			out = append(out, m)
		}
	}
	(*doc)["Statement"] = out
}

// TestTopicPolicyWeakening: deleting the topic's CloudWatch allow fails every alarm's flow;
// deleting the Deny for other roles lets any same-account role with sns:Publish publish; and
// the naive Deny (ArnNotLike aws:PrincipalArn alone, without the aws:PrincipalIsAWSService
// guard) blocks CloudWatch, since a service principal has no aws:PrincipalArn.
func TestTopicPolicyWeakening(t *testing.T) {
	s := synthOnce(t, "dev")
	cases := []struct {
		name  string
		edit  func(sid string, st map[string]any) bool
		fails string
	}{
		{"no CloudWatch allow", func(sid string, _ map[string]any) bool { return sid != securestore.AllowAlarmsSid }, "alarm-to-topic"},
		{"no role deny", func(sid string, _ map[string]any) bool { return sid != securestore.DenyOtherRolesSid }, "unlisted-role-to-topic"},
		{"no service deny", func(sid string, _ map[string]any) bool { return sid != securestore.DenyOtherServicesSid }, ""},
		{"naive principal deny", func(sid string, st map[string]any) bool {
			if sid == securestore.DenyOtherRolesSid {
				delete(st["Condition"].(map[string]any), "Bool")
			}
			return true
		}, "alarm-to-topic"},
	}
	for _, c := range cases {
		stacks := flowStacks("dev", s)
		withStatements(t, stacks, c.edit)
		res := flowResults(t, stacks, nil)
		if c.fails == "" {
			// Without the service Deny the alarm allow still scopes CloudWatch; the table holds.
			for id, r := range res {
				if !r.Holds() {
					t.Errorf("%s: flow %s fails: %v", c.name, id, r.Failures)
				}
			}
			continue
		}
		if res[c.fails].Holds() {
			t.Errorf("%s: flow %s still holds", c.name, c.fails)
		}
		if lines := compliance.CheckFlows(stacks); len(lines) == 0 {
			t.Errorf("%s: the synth-time check reports nothing", c.name)
		}
	}
}

// TestKeyPoliciesCarryGrantGuard: every key of both stages carries CT.KMS.PR.3, and grants for
// AWS resources still pass (flow grants-for-aws-resources).
func TestKeyPoliciesCarryGrantGuard(t *testing.T) {
	c, _ := compliance.ByName("kms-grant-guard")
	for variant, s := range synthVariants(t) {
		n := 0
		for _, name := range stackNames(s) {
			k, v := c.Run(s.templates[name])
			n += k
			for _, msg := range v {
				t.Errorf("%s %s: %s", variant, name, msg)
			}
		}
		if n < 3 {
			t.Errorf("%s: %d keys inspected, want every key (>= 3)", variant, n)
		}
		res := flowResults(t, flowStacks(variant, s), nil)
		for _, id := range []string{"grants-for-aws-resources", "grants-not-for-aws-resources"} {
			if !res[id].Holds() {
				t.Errorf("%s: flow %s: %v", variant, id, res[id].Failures)
			}
		}
	}
}

// TestCfnLintSecure runs cfn-lint over every synthesized template of dev and prod (the shared
// synth, written to a temporary directory): 0 errors; warnings are reported, not failed.
func TestCfnLintSecure(t *testing.T) {
	bin, err := exec.LookPath("cfn-lint")
	if err != nil {
		t.Skip("SKIPPED: cfn-lint is not on PATH, so the templates were not linted (pip install cfn-lint)")
	}
	dir := t.TempDir()
	var files []string
	for _, variant := range []string{"dev", "prod"} {
		s := synthVariants(t)[variant]
		for _, name := range stackNames(s) {
			data, err := json.MarshalIndent(s.templates[name], "", " ")
			if err != nil {
				t.Fatal(err)
			}
			f := filepath.Join(dir, name+".template.json")
			if err := os.WriteFile(f, data, 0o644); err != nil {
				t.Fatal(err)
			}
			files = append(files, f)
		}
	}
	sort.Strings(files)
	out, err := exec.Command(bin, append([]string{"--format", "parseable", "--"}, files...)...).CombinedOutput()
	var errs []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		// parseable: file:line:col:line:col:RULE:message
		parts := strings.SplitN(l, ":", 7)
		if len(parts) == 7 && strings.HasPrefix(parts[5], "E") {
			errs = append(errs, l)
		} else if l != "" {
			t.Logf("cfn-lint: %s", l)
		}
	}
	if len(errs) > 0 {
		t.Errorf("cfn-lint reports %d errors:\n%s", len(errs), strings.Join(errs, "\n"))
	}
	if err != nil && len(errs) == 0 {
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode()&2 != 0 {
			t.Errorf("cfn-lint failed: %v\n%s", err, out)
		}
	}
	t.Logf("cfn-lint linted %d templates: %d errors", len(files), len(errs))
}

// TestFlowTableInReadme: the README's "### Flow proofs" table lists every flow with the
// verdict the dev synth gives it.
func TestFlowTableInReadme(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(moduleRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(data), "### Flow proofs")
	if !ok {
		t.Fatal(`README.md has no "### Flow proofs" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	res, err := compliance.EvaluateFlows(flowStacks("dev", synthOnce(t, "dev")))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		row := ""
		for _, l := range strings.Split(section, "\n") {
			if strings.HasPrefix(l, "| `"+r.ID+"` |") {
				row = l
			}
		}
		if row == "" || !strings.HasSuffix(row, "| "+r.Verdict()+" |") {
			t.Errorf("README flow row for %s is %q, want verdict %s", r.ID, row, r.Verdict())
		}
	}
}
