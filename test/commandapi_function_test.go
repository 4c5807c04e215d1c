package test

import (
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/google/go-cmp/cmp"

	"github.com/secure-smart-city/platform/compliance"
	"github.com/secure-smart-city/platform/lambdas/command/contract"
	"github.com/secure-smart-city/platform/topics"
)

// attachedStatements returns every statement attached to a role: its inline policies and
// the managed policies (of this template) that name it.
func attachedStatements(tmpl compliance.Template, roleID string) []any {
	var out []any
	for _, typ := range []string{"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"} {
		for _, p := range tmpl.Resources(typ) {
			for _, r := range compliance.List(compliance.Get(p.Properties, "Roles")) {
				if refs(r, roleID) {
					out = append(out, compliance.List(compliance.Get(p.Properties, "PolicyDocument", "Statement"))...)
				}
			}
		}
	}
	return out
}

// TestCommandAPIFunctionIAM: the command function publishes only to the command topic
// namespace and reads things and updates shadows only by the thing pattern: no statement names
// a thing, so the role does not grow with the fleet, and never "*"; it reads the state table with
// GetItem only and uses the audit table with PutItem and GetItem only (never UpdateItem,
// DeleteItem or BatchWriteItem).
func TestCommandAPIFunctionIAM(t *testing.T) {
	fx := commandAPI(t)
	arn := func(kind, name string) string {
		return "arn:aws:iot:" + testRegion + ":" + testAccount + ":" + kind + "/" + name
	}
	wantTopics := []string{arn("topic", topics.CommandFilter)}
	wantThings := []string{arn("thing", "*")}
	byAction := map[string][]any{}
	for _, st := range attachedStatements(fx.tmpl, fx.roleID) {
		if compliance.Get(st, "Effect") != "Allow" {
			continue
		}
		for _, a := range compliance.List(compliance.Get(st, "Action")) {
			byAction[a.(string)] = append(byAction[a.(string)], compliance.List(compliance.Get(st, "Resource"))...)
		}
	}
	strs := func(l []any) []string {
		var out []string
		for _, v := range l {
			s, ok := v.(string)
			if !ok {
				s = mustJSON(t, v)
			}
			out = append(out, s)
		}
		sort.Strings(out)
		return out
	}
	if diff := cmp.Diff(wantTopics, strs(byAction["iot:Publish"])); diff != "" {
		t.Errorf("iot:Publish resources (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantThings, strs(byAction["iot:UpdateThingShadow"])); diff != "" {
		t.Errorf("iot:UpdateThingShadow resources (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantThings, strs(byAction["iot:DescribeThing"])); diff != "" {
		t.Errorf("iot:DescribeThing resources (-want +got):\n%s", diff)
	}
	// The thing-scoped managed policies are gone: one per 50-odd things no longer.
	if n := len(fx.tmpl.Resources("AWS::IAM::ManagedPolicy")); n != 0 {
		t.Errorf("%d managed policies, want none", n)
	}
	for _, th := range fx.fleet.Things {
		if strings.Contains(mustJSON(t, attachedStatements(fx.tmpl, fx.roleID)), th.Name) {
			t.Errorf("the function's IAM names thing %s", th.Name)
		}
	}
	for action, res := range byAction {
		if !strings.HasPrefix(action, "iot:") && !strings.HasPrefix(action, "dynamodb:") {
			continue
		}
		for _, r := range res {
			if r == "*" && !compliance.UnscopableActions[action] {
				t.Errorf("%s on Resource *", action)
			}
			if s, ok := r.(string); ok && strings.HasPrefix(action, "iot:") && action != "iot:DescribeEndpoint" &&
				!strings.HasPrefix(s, "arn:aws:iot:"+testRegion+":"+testAccount+":topic/city/things/") &&
				!strings.HasPrefix(s, "arn:aws:iot:"+testRegion+":"+testAccount+":thing/") {
				t.Errorf("%s on %s: outside the fleet's command topics and things", action, s)
			}
		}
	}
	var iot, dynamo []string
	for action := range byAction {
		switch {
		case strings.HasPrefix(action, "iot:"):
			iot = append(iot, action)
		case strings.HasPrefix(action, "dynamodb:"):
			dynamo = append(dynamo, action)
		}
	}
	sort.Strings(iot)
	sort.Strings(dynamo)
	if diff := cmp.Diff([]string{"iot:DescribeEndpoint", "iot:DescribeThing", "iot:Publish", "iot:UpdateThingShadow"}, iot); diff != "" {
		t.Errorf("IoT actions (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"dynamodb:GetItem", "dynamodb:PutItem"}, dynamo); diff != "" {
		t.Errorf("DynamoDB actions (-want +got):\n%s", diff)
	}
	onlyTable := func(action, tableID string) {
		res := byAction[action]
		ok := len(res) > 0
		for _, r := range res {
			ok = ok && refs(r, tableID)
		}
		if !ok {
			t.Errorf("%s on %v, want only table %s", action, res, tableID)
		}
	}
	onlyTable("dynamodb:PutItem", fx.auditID)
	// GetItem: the state table (GET) and the audit table (an Idempotency-Key's first answer).
	var getTables []string
	for _, r := range byAction["dynamodb:GetItem"] {
		for _, id := range []string{fx.stateID, fx.auditID} {
			if refs(r, id) {
				getTables = append(getTables, id)
			}
		}
	}
	sort.Strings(getTables)
	wantGet := []string{fx.stateID, fx.auditID}
	sort.Strings(wantGet)
	if diff := cmp.Diff(wantGet, getTables); diff != "" || len(byAction["dynamodb:GetItem"]) != 2 {
		t.Errorf("dynamodb:GetItem on %v, want exactly the state and audit tables", byAction["dynamodb:GetItem"])
	}

	fn := one(t, fx.tmpl, "AWS::Lambda::Function")
	env, _ := compliance.Get(fn.Properties, "Environment", "Variables").(map[string]any)
	if !refs(env["STATE_TABLE"], fx.stateID) || !refs(env["AUDIT_TABLE"], fx.auditID) {
		t.Errorf("environment %v, want STATE_TABLE and AUDIT_TABLE from the tables", env)
	}
	if env[contract.EnvThingTypePrefix] != fx.fleet.RulePrefix("test") {
		t.Errorf("%s = %v, want %s", contract.EnvThingTypePrefix, env[contract.EnvThingTypePrefix], fx.fleet.RulePrefix("test"))
	}
	if _, set := env["IOT_DATA_ENDPOINT"]; set {
		t.Error("IOT_DATA_ENDPOINT set though no endpoint was given: it must never be looked up at synth")
	}
}

// TestCommandAPIAccountRole: API Gateway's account-wide CloudWatch role can only write logs,
// and only to API Gateway execution and access log groups; it and the account setting
// survive a stack deletion; the stage waits for them.
func TestCommandAPIAccountRole(t *testing.T) {
	fx := commandAPI(t)
	account := one(t, fx.tmpl, "AWS::ApiGateway::Account")
	roleID, _ := compliance.Get(account.Properties, "CloudWatchRoleArn", "Fn::GetAtt", 0).(string)
	if account.Attr("DeletionPolicy") != "Retain" {
		t.Errorf("account setting deletion %q, want Retain", account.Attr("DeletionPolicy"))
	}
	var role compliance.Resource
	for _, r := range fx.tmpl.Resources("AWS::IAM::Role") {
		if r.ID == roleID {
			role = r
		}
	}
	if role.ID == "" || role.Attr("DeletionPolicy") != "Retain" {
		t.Fatalf("account role %q: deletion %q, want a retained role", roleID, role.Attr("DeletionPolicy"))
	}
	if p := compliance.Get(role.Properties, "AssumeRolePolicyDocument", "Statement", 0, "Principal", "Service"); p != "apigateway.amazonaws.com" {
		t.Errorf("role trusts %v", p)
	}
	if m := compliance.Get(role.Properties, "ManagedPolicyArns"); m != nil {
		t.Errorf("role has managed policies %v", m)
	}
	sts := attachedStatements(fx.tmpl, roleID)
	if len(sts) != 1 {
		t.Fatalf("%d statements, want 1", len(sts))
	}
	actions := compliance.List(compliance.Get(sts[0], "Action"))
	for _, a := range actions {
		if s := a.(string); s == "logs:GetLogEvents" || s == "logs:FilterLogEvents" || strings.HasSuffix(s, "*") {
			t.Errorf("account role may %s", s)
		}
	}
	prefix := "arn:aws:logs:" + testRegion + ":" + testAccount + ":log-group:"
	var res []string
	for _, r := range compliance.List(compliance.Get(sts[0], "Resource")) {
		res = append(res, r.(string))
	}
	sort.Strings(res)
	want := []string{
		prefix + "API-Gateway-Access-Logs_*", prefix + "API-Gateway-Access-Logs_*:*",
		prefix + "API-Gateway-Execution-Logs_*", prefix + "API-Gateway-Execution-Logs_*:*",
	}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("account role resources (-want +got):\n%s", diff)
	}
	stage := one(t, fx.tmpl, "AWS::ApiGateway::Stage")
	deps := mustJSON(t, stage.Raw["DependsOn"])
	if !strings.Contains(deps, `"`+account.ID+`"`) {
		t.Errorf("stage depends on %s, want the account setting %s", deps, account.ID)
	}
}

// TestCommandAPIMetrics: the metric methods name the stage and the web ACL.
func TestCommandAPIMetrics(t *testing.T) {
	fx := commandAPI(t)
	for name, m := range map[string]interface {
		MetricName() *string
		Namespace() *string
		Dimensions() *map[string]any
	}{
		"5XXError": fx.api.MetricServerErrors(nil), "4XXError": fx.api.MetricClientErrors(nil), "Latency": fx.api.MetricLatency(nil),
	} {
		if *m.MetricName() != name || *m.Namespace() != "AWS/ApiGateway" || (*m.Dimensions())["Stage"] == nil {
			t.Errorf("metric %s: %s/%s %v", name, *m.Namespace(), *m.MetricName(), *m.Dimensions())
		}
	}
	for _, m := range []awscloudwatch.Metric{fx.api.MetricAuditWriteFailed(contract.KindIntent, nil), fx.api.MetricRefused(contract.ReasonOutOfScope, nil)} {
		dims := *m.Dimensions()
		if *m.Namespace() != contract.Namespace || *m.Statistic() != "Sum" || len(dims) != 1 ||
			(dims[contract.DimensionPhase] != contract.KindIntent && dims[contract.DimensionReason] != contract.ReasonOutOfScope) {
			t.Errorf("function metric %s/%s %v", *m.Namespace(), *m.MetricName(), dims)
		}
	}
	waf := fx.api.MetricWafBlockedRequests(nil)
	dims := *waf.Dimensions()
	acl := one(t, fx.tmpl, "AWS::WAFv2::WebACL")
	if *waf.Namespace() != "AWS/WAFV2" || *waf.MetricName() != "BlockedRequests" || *waf.Statistic() != "Sum" ||
		dims["WebACL"] != compliance.Get(acl.Properties, "Name") || dims["Rule"] != "ALL" || dims["Region"] != testRegion {
		t.Errorf("WAF metric %s/%s %s %v", *waf.Namespace(), *waf.MetricName(), *waf.Statistic(), dims)
	}
}
