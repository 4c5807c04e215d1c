package test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/secure-smart-city/platform/compliance"
	"github.com/secure-smart-city/platform/fleetspec"
	"github.com/secure-smart-city/platform/stacks"
)

func operations(t *testing.T) (*synthesized, compliance.Template) {
	t.Helper()
	s := synthOnce(t, stacks.StageDev)
	tmpl, ok := s.templates["SmartCity-dev-Operations"]
	if !ok {
		t.Fatal("no Operations stack")
	}
	return s, tmpl
}

// outputOf names what a cross-stack reference points at: the producing stack's output name.
func outputOf(v any) string {
	if n, ok := compliance.Get(v, "Fn::GetStackOutput", "OutputName").(string); ok {
		return n
	}
	if n, ok := compliance.Get(v, "Fn::ImportValue").(string); ok {
		return n
	}
	return ""
}

// alertTopicOutput is the Foundation output that exports the alert topic's ARN.
func alertTopicOutput(t *testing.T, s *synthesized) string {
	t.Helper()
	f := s.templates["SmartCity-dev-Foundation"]
	topics := f.Resources("AWS::SNS::Topic")
	if len(topics) != 1 {
		t.Fatalf("Foundation has %d topics, want the alert topic alone", len(topics))
	}
	outputs, _ := f["Outputs"].(map[string]any)
	for name, o := range outputs {
		if compliance.Get(o, "Value", "Ref") == topics[0].ID {
			return name
		}
	}
	t.Fatalf("Foundation exports no reference to %s", topics[0].ID)
	return ""
}

var apiName = regexp.MustCompile(`ApiName=[^ \]]+`)

func isAlertTopic(v any, output string) bool {
	if o := outputOf(v); o != "" {
		return o == output || strings.HasSuffix(o, ":"+output)
	}
	return false
}

// fleetOf is the dev fleet the app was built from.
func fleetOf(t *testing.T) *fleetspec.Fleet {
	t.Helper()
	f, err := fleetspec.Load(filepath.Join(moduleRoot(t), "config", "fleet.dev.json"))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// render turns a template value into a comparable string: literals as they are, references as
// ref:/att:/out: markers, joins concatenated.
func render(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return "<nil>"
	case map[string]any:
		if r, ok := x["Ref"].(string); ok {
			if r == "AWS::Partition" {
				return "aws"
			}
			return "ref:" + r
		}
		if g, ok := x["Fn::GetAtt"].([]any); ok && len(g) == 2 {
			return fmt.Sprintf("att:%v.%v", g[0], g[1])
		}
		if o := outputOf(x); o != "" {
			return "out:" + o
		}
		if parts, ok := compliance.Get(x, "Fn::Join", 1).([]any); ok {
			var b strings.Builder
			for _, p := range parts {
				b.WriteString(render(p))
			}
			return b.String()
		}
	}
	data, _ := json.Marshal(v)
	return string(data)
}

func renderAll(v any) []string {
	var out []string
	for _, x := range compliance.List(v) {
		out = append(out, render(x))
	}
	sort.Strings(out)
	return out
}

// statement is an IAM statement in comparable form.
type statement struct {
	Actions, Resources []string
	Condition          string
}

// policyOf returns the statements of every AWS::IAM::Policy attached to the role.
func policyOf(tmpl compliance.Template, roleID string) []statement {
	var out []statement
	for _, p := range tmpl.Resources("AWS::IAM::Policy") {
		attached := false
		for _, r := range compliance.List(p.Properties["Roles"]) {
			if compliance.Get(r, "Ref") == roleID {
				attached = true
			}
		}
		if !attached {
			continue
		}
		for _, st := range compliance.List(compliance.Get(p.Properties, "PolicyDocument", "Statement")) {
			s := statement{Resources: renderAll(compliance.Get(st, "Resource"))}
			for _, a := range compliance.List(compliance.Get(st, "Action")) {
				s.Actions = append(s.Actions, fmt.Sprint(a))
			}
			sort.Strings(s.Actions)
			if c := compliance.Get(st, "Condition"); c != nil {
				s.Condition = render(c)
			}
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return strings.Join(out[i].Actions, ",") < strings.Join(out[j].Actions, ",") })
	return out
}

// roleID returns the logical id of the role a RoleArn value refers to.
func roleID(t *testing.T, v any) string {
	t.Helper()
	id, ok := compliance.Get(v, "Fn::GetAtt", 0).(string)
	if !ok {
		t.Fatalf("%v is not a role in this stack", v)
	}
	return id
}

// trustsIoTOfThisAccount reports whether a role may be assumed only by AWS IoT acting for this
// account.
func trustsIoTOfThisAccount(tmpl compliance.Template, id string) bool {
	for _, r := range tmpl.Resources("AWS::IAM::Role") {
		if r.ID != id {
			continue
		}
		sts := compliance.List(compliance.Get(r.Properties, "AssumeRolePolicyDocument", "Statement"))
		return len(sts) == 1 && compliance.Get(sts[0], "Principal", "Service") == "iot.amazonaws.com" &&
			compliance.Get(sts[0], "Condition", "StringEquals", "aws:SourceAccount") == testAccount
	}
	return false
}

func only(t *testing.T, tmpl compliance.Template, typ string, pick func(compliance.Resource) bool) compliance.Resource {
	t.Helper()
	var found []compliance.Resource
	for _, r := range tmpl.Resources(typ) {
		if pick == nil || pick(r) {
			found = append(found, r)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d %s resources match, want 1", len(found), typ)
	}
	return found[0]
}

// TestAcceptedFindingPatternsMatchUnresolvedARNs: cdk-nag renders an unresolved partition,
// region or account as "<AWS::Region>" and the like, colons included. A suppression pattern that
// matches a pinned stack's ARN must match the environment-agnostic one too, or `cdk synth`
// without an account fails where the tests (which pin one) pass.
func TestAcceptedFindingPatternsMatchUnresolvedARNs(t *testing.T) {
	families := []string{
		"Resource::arn:%s:iot:%s:%s:thing/*",
		"Resource::arn:%s:iot:%s:%s:cert/*",
		"Resource::arn:%s:logs:%s:%s:log-group:API-Gateway-Execution-Logs_*",
		"Resource::arn:%s:logs:%s:%s:log-group:API-Gateway-Access-Logs_*:*",
	}
	variants := [][3]string{
		{"aws", testRegion, testAccount},
		{"aws", "us-east-1", "<AWS::AccountId>"},
		{"<AWS::Partition>", "<AWS::Region>", "<AWS::AccountId>"},
	}
	for _, a := range stacks.AcceptedFindings {
		for _, pattern := range a.AppliesToPattern {
			re, err := regexp.Compile(pattern)
			if err != nil {
				t.Errorf("%s: pattern %q: %v", a.Where, pattern, err)
				continue
			}
			for _, f := range families {
				if !re.MatchString(fmt.Sprintf(f, variants[0][0], variants[0][1], variants[0][2])) {
					continue
				}
				for _, v := range variants[1:] {
					if s := fmt.Sprintf(f, v[0], v[1], v[2]); !re.MatchString(s) {
						t.Errorf("%s: pattern %q matches the pinned ARN but not %q", a.Where, pattern, s)
					}
				}
			}
		}
	}
}

// mustMap is a template as plain JSON values.
func mustMap(t *testing.T, tmpl compliance.Template) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(mustJSON(t, tmpl)), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestOperationsNoClientChosenMetricDimension: no metric filter in any stack takes a dimension
// from a value a client chooses (the client id), and none over the IoT logs has a dimension
// at all. A client could otherwise name a victim in its refused CONNECTs (framing) or send
// about 1,000 random client ids an hour, after which CloudWatch Logs disables the filter
// (blinding). Who misbehaved is found at alarm time from principalId.
func TestOperationsNoClientChosenMetricDimension(t *testing.T) {
	s, _ := operations(t)
	filters := 0
	for name, tmpl := range s.templates {
		for _, f := range tmpl.Resources("AWS::Logs::MetricFilter") {
			filters++
			for _, mt := range compliance.List(f.Properties["MetricTransformations"]) {
				dims, _ := json.Marshal(compliance.Get(mt, "Dimensions"))
				if strings.Contains(strings.ToLower(string(dims)), "clientid") {
					t.Errorf("%s %s: dimension from the client id %s", name, f.ID, dims)
				}
				if isFleetIoTLogs(render(f.Properties["LogGroupName"])) && compliance.Get(mt, "Dimensions") != nil {
					t.Errorf("%s %s: a metric filter over the IoT logs has dimensions %s", name, f.ID, dims)
				}
			}
		}
	}
	if filters == 0 {
		t.Fatal("no metric filters found: the detection is gone")
	}
}

// TestOperationsExistingAccount: an account that already has the account singletons and whose
// Lambda concurrency limit is still 10. The stage leaves the three singletons out and says at
// synth what it then depends on; no function reserves concurrency, each records why, synth
// warns, and the post-synth checks still pass.
func TestOperationsExistingAccount(t *testing.T) {
	app := newApp(t, map[string]any{"stage": "dev"})
	cfg := stacks.Config{Stage: stacks.StageDev, Fleet: fleetOf(t), Account: testAccount, Region: testRegion,
		Existing:                stacks.ExistingSingletons{IoTLogging: true, AuditConfiguration: true, APIGatewayAccount: true},
		LambdaConcurrencyBudget: 10}
	p := stacks.NewPlatform(app, cfg)
	asm := synthOrFail(t, app)
	defer func() { _ = os.RemoveAll(*asm.Directory()) }()
	gate, err := stacks.CheckTemplates(asm, cfg)
	if err != nil || len(gate) > 0 {
		t.Fatalf("post-synth checks: %v %v", err, gate)
	}
	if !p.Concurrency.Unreserved || p.Concurrency.Reserved == 0 {
		t.Errorf("concurrency plan %+v, want the reservations removed", p.Concurrency)
	}
	var warnings []string
	functions := 0
	for _, st := range *asm.Stacks() {
		tmpl, err := compliance.FromValue(st.Template())
		if err != nil {
			t.Fatal(err)
		}
		for _, typ := range []string{"AWS::IoT::Logging", "AWS::IoT::AccountAuditConfiguration", "AWS::ApiGateway::Account"} {
			if n := len(tmpl.Resources(typ)); n != 0 {
				t.Errorf("%s: %d %s in an account that has one", *st.StackName(), n, typ)
			}
		}
		for _, fn := range tmpl.Resources("AWS::Lambda::Function") {
			functions++
			if v := fn.Properties["ReservedConcurrentExecutions"]; v != nil {
				t.Errorf("%s %s reserves %v with a budget of 10", *st.StackName(), fn.ID, v)
			}
			if compliance.Get(fn.Raw, "Metadata", compliance.UnreservedConcurrencyMetadata) == nil {
				t.Errorf("%s %s: no %s metadata", *st.StackName(), fn.ID, compliance.UnreservedConcurrencyMetadata)
			}
		}
		for _, a := range annotations(t, st) {
			if !a.err {
				warnings = append(warnings, a.text)
			}
		}
	}
	if functions == 0 {
		t.Fatal("no functions")
	}
	all := strings.Join(warnings, "\n")
	for _, w := range []string{stacks.WarningExistingIoTLogging, stacks.WarningExistingAuditConfiguration, stacks.WarningExistingAPIGatewayAccount,
		"lambdaConcurrencyBudget 10 leaves room for 0 reserved executions"} {
		if !strings.Contains(all, w) {
			t.Errorf("no synth warning %q; warnings:\n%s", w, all)
		}
	}
	if !strings.Contains(stacks.WarningExistingIoTLogging, "Connect and Disconnect events at INFO") {
		t.Error("the IoT logging warning must say detection needs Connect events at INFO")
	}
	// The default budget (Lambda's default quota of 1,000) holds every reservation.
	dev := synthOnce(t, stacks.StageDev)
	if c := dev.platform.Concurrency; c.Unreserved || c.Reserved == 0 || c.Reserved > stacks.DefaultLambdaConcurrencyBudget-stacks.MinUnreservedConcurrency {
		t.Errorf("default concurrency plan %+v, want every reservation kept within %d", c, stacks.DefaultLambdaConcurrencyBudget)
	}
	for _, typ := range []string{"AWS::IoT::Logging", "AWS::IoT::AccountAuditConfiguration", "AWS::ApiGateway::Account"} {
		n := 0
		for _, tmpl := range dev.templates {
			n += len(tmpl.Resources(typ))
		}
		if n != 1 {
			t.Errorf("default dev: %d %s, want 1", n, typ)
		}
	}
}

// TestOperationsAccountContext: the context keys for existing accounts, their defaults and
// their errors.
func TestOperationsAccountContext(t *testing.T) {
	fleetFile := filepath.Join(moduleRoot(t), "config", "fleet.dev.json")
	for _, c := range []struct {
		ctx  map[string]any
		want func(stacks.Config) bool
		err  string
	}{
		{map[string]any{}, func(c stacks.Config) bool {
			return c.Existing == stacks.ExistingSingletons{} && c.LambdaConcurrencyBudget == stacks.DefaultLambdaConcurrencyBudget
		}, ""},
		{map[string]any{"existingIotLogging": "true", "existingAuditConfiguration": true, "existingApiGatewayAccount": "false", "lambdaConcurrencyBudget": "10"},
			func(c stacks.Config) bool {
				return c.Existing == stacks.ExistingSingletons{IoTLogging: true, AuditConfiguration: true} && c.LambdaConcurrencyBudget == 10
			}, ""},
		{map[string]any{"lambdaConcurrencyBudget": 3000.0}, func(c stacks.Config) bool { return c.LambdaConcurrencyBudget == 3000 }, ""},
		{map[string]any{"existingIotLogging": "yes"}, nil, `context "existingIotLogging": want true or false, got "yes"`},
		{map[string]any{"lambdaConcurrencyBudget": "ten"}, nil, `context "lambdaConcurrencyBudget": want a whole number, got "ten"`},
		{map[string]any{"lambdaConcurrencyBudget": "0"}, nil, `context "lambdaConcurrencyBudget": 0 must be at least 1`},
	} {
		c.ctx["fleetFile"] = fleetFile
		cfg, err := stacks.ConfigFromContext(newApp(t, c.ctx))
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%v: error %v, want %q", c.ctx, err, c.err)
		case c.err == "" && (err != nil || !c.want(cfg)):
			t.Errorf("%v: %+v %+v, %v", c.ctx, cfg.Existing, cfg.LambdaConcurrencyBudget, err)
		}
	}
}
