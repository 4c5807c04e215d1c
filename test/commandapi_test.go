package test

import (
	"encoding/json"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/google/go-cmp/cmp"

	"github.com/secure-smart-city/platform/compliance"
	"github.com/secure-smart-city/platform/constructs/commandapi"
	"github.com/secure-smart-city/platform/constructs/keys"
	"github.com/secure-smart-city/platform/constructs/securestore"
	"github.com/secure-smart-city/platform/fleetspec"
	"github.com/secure-smart-city/platform/stacks"
)

// cmdAPIProps are the non-default props the shared command API test stack is built with, so
// the tests can tell a configured value from a default.
var cmdAPIProps = commandapi.Props{
	StageName:       "ops",
	Throttle:        &commandapi.Throttle{RateLimit: 12, BurstLimit: 24},
	CommandThrottle: &commandapi.Throttle{RateLimit: 3, BurstLimit: 6},
}

// commandAPIFixture is a command API with its own key and tables, as Operations builds it
// from Foundation's.
type commandAPIFixture struct {
	api              *commandapi.API
	key              awskms.IKey
	keyID            string
	state, audit     *securestore.Table
	stateID, auditID string
	roleID           string
	fleet            *fleetspec.Fleet
	tmpl             compliance.Template
	errors           []string
}

func devFleet(t testing.TB) *fleetspec.Fleet {
	t.Helper()
	f, err := fleetspec.Load(filepath.Join(moduleRoot(t), "config", "fleet.dev.json"))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// newCommandAPI builds the construct in scope with a key (that CloudWatch Logs may use) and
// the two tables; p fills in the rest.
func newCommandAPI(scope constructs.Construct, fleet *fleetspec.Fleet, p commandapi.Props) (*commandapi.API, *keys.Key, *securestore.Table, *securestore.Table) {
	name := strings.ReplaceAll(*scope.Node().Path(), "/", "-")
	key := keys.New(scope, "ApiKey", &keys.Props{Alias: jsii.String("alias/test/" + name + "/api"), Services: []keys.Service{keys.ServiceLogs}})
	state := securestore.NewTable(scope, "State", &securestore.TableProps{PartitionKey: "thingName", EncryptionKey: key.Resource})
	audit := securestore.NewTable(scope, "Audit", &securestore.TableProps{PartitionKey: "thingName", SortKey: "requestKey", EncryptionKey: key.Resource})
	if p.Fleet == nil {
		p.Fleet = fleet
	}
	if p.ThingTypePrefix == "" {
		p.ThingTypePrefix = fleet.RulePrefix("test")
	}
	if p.EncryptionKey == nil {
		p.EncryptionKey = key.Resource
	}
	if p.StateTable == nil {
		p.StateTable = state.Resource
	}
	if p.AuditTable == nil {
		p.AuditTable = audit.Resource
	}
	return commandapi.New(scope, "CommandApi", &p), key, state, audit
}

var (
	cmdAPIOnce sync.Once
	cmdAPI     *commandAPIFixture
)

const testWafRateLimit = 750

// commandAPI synthesizes, once, a stack holding only the command API (built from the dev
// fleet with cmdAPIProps), with the app's checks: cdk-nag and the accepted findings.
func commandAPI(t *testing.T) *commandAPIFixture {
	t.Helper()
	cmdAPIOnce.Do(func() {
		app := newApp(t, nil)
		stack := awscdk.NewStack(app, jsii.String("CommandApiTest"), &awscdk.StackProps{
			Env: &awscdk.Environment{Account: jsii.String(testAccount), Region: jsii.String(testRegion)},
		})
		fx := &commandAPIFixture{fleet: devFleet(t)}
		p := cmdAPIProps
		n := testWafRateLimit
		p.WafRateLimit = &n
		var key *keys.Key
		fx.api, key, fx.state, fx.audit = newCommandAPI(stack, fx.fleet, p)
		fx.key = key.Resource
		fx.keyID = *stack.GetLogicalId(cfn(key.Resource))
		fx.stateID = *stack.GetLogicalId(cfn(fx.state.Resource))
		fx.auditID = *stack.GetLogicalId(cfn(fx.audit.Resource))
		fx.roleID = *stack.GetLogicalId(cfn(fx.api.Function.Role))
		stacks.ApplyChecks(app)
		asm := synthOrFail(t, app)
		st := asm.GetStackByName(jsii.String("CommandApiTest"))
		tmpl, err := compliance.FromValue(st.Template())
		if err != nil {
			t.Fatal(err)
		}
		fx.tmpl = tmpl
		for _, a := range annotations(t, st) {
			if a.err {
				fx.errors = append(fx.errors, a.path)
			}
		}
		cmdAPI = fx
	})
	if cmdAPI == nil {
		t.Fatal("command API fixture failed to synthesize")
	}
	return cmdAPI
}

func one(t *testing.T, tmpl compliance.Template, typ string) compliance.Resource {
	t.Helper()
	rs := tmpl.Resources(typ)
	if len(rs) != 1 {
		t.Fatalf("%d %s resources, want 1", len(rs), typ)
	}
	return rs[0]
}

// TestCommandAPIEveryMethodIAMAuthorized: no method of the API can be called without a SigV4
// signature, and the API has exactly the two methods the processor serves (no OPTIONS).
func TestCommandAPIEveryMethodIAMAuthorized(t *testing.T) {
	fx := commandAPI(t)
	paths := map[string]string{} // resource id -> path part
	for _, r := range fx.tmpl.Resources("AWS::ApiGateway::Resource") {
		paths[r.ID], _ = compliance.Get(r.Properties, "PathPart").(string)
	}
	var got []string
	for _, m := range fx.tmpl.Resources("AWS::ApiGateway::Method") {
		method, _ := compliance.Get(m.Properties, "HttpMethod").(string)
		res, _ := compliance.Get(m.Properties, "ResourceId", "Ref").(string)
		got = append(got, method+" "+paths[res])
		if a := compliance.Get(m.Properties, "AuthorizationType"); a != "AWS_IAM" {
			t.Errorf("%s %s: AuthorizationType %v, want AWS_IAM", method, paths[res], a)
		}
		if method == "OPTIONS" {
			t.Errorf("OPTIONS method on %s: the API serves no browsers, so it needs no CORS preflight", paths[res])
		}
		if compliance.Get(m.Properties, "Integration", "Type") != "AWS_PROXY" {
			t.Errorf("%s %s: integration %v, want AWS_PROXY (Lambda proxy)", method, paths[res], compliance.Get(m.Properties, "Integration", "Type"))
		}
		if compliance.Get(m.Properties, "RequestParameters", "method.request.path.thing") != true {
			t.Errorf("%s %s: path parameter thing is not required", method, paths[res])
		}
	}
	sort.Strings(got)
	if diff := cmp.Diff([]string{"GET {thing}", "POST commands"}, got); diff != "" {
		t.Errorf("methods (-want +got):\n%s", diff)
	}
	rest := one(t, fx.tmpl, "AWS::ApiGateway::RestApi")
	if types := compliance.Get(rest.Properties, "EndpointConfiguration", "Types"); !cmp.Equal(types, []any{"REGIONAL"}) {
		t.Errorf("endpoint types %v, want [REGIONAL]", types)
	}
	// Test invocations from the console bypass authorization: no permission admits them.
	for _, p := range fx.tmpl.Resources("AWS::Lambda::Permission") {
		if strings.Contains(mustJSON(t, p.Properties["SourceArn"]), "test-invoke-stage") {
			t.Errorf("permission %s admits console test invocations", p.ID)
		}
	}
	if len(fx.errors) > 0 {
		t.Errorf("unsuppressed findings on the command API alone: %v", fx.errors)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestCommandAPIWebACL: a regional web ACL with the two AWS managed groups, the per-IP rate
// rule at the configured limit, the path and content-type rules, metrics and sampled requests
// on, its log (authorization headers redacted) in an encrypted aws-waf-logs-* group, and an
// association with the API's stage.
func TestCommandAPIWebACL(t *testing.T) {
	fx := commandAPI(t)
	acl := one(t, fx.tmpl, "AWS::WAFv2::WebACL")
	if compliance.Get(acl.Properties, "Scope") != "REGIONAL" {
		t.Errorf("scope %v, want REGIONAL", compliance.Get(acl.Properties, "Scope"))
	}
	if compliance.Get(acl.Properties, "DefaultAction", "Allow") == nil {
		t.Errorf("default action %v, want Allow (the rules block)", compliance.Get(acl.Properties, "DefaultAction"))
	}
	visible := func(where string, v any) {
		if compliance.Get(v, "CloudWatchMetricsEnabled") != true || compliance.Get(v, "SampledRequestsEnabled") != true || compliance.Get(v, "MetricName") == nil {
			t.Errorf("%s: visibility %v, want metrics and sampled requests on", where, v)
		}
	}
	visible("web ACL", compliance.Get(acl.Properties, "VisibilityConfig"))
	rules := map[string]any{}
	var order []string
	for _, r := range compliance.List(compliance.Get(acl.Properties, "Rules")) {
		name, _ := compliance.Get(r, "Name").(string)
		rules[name] = r
		order = append(order, name)
		visible("rule "+name, compliance.Get(r, "VisibilityConfig"))
	}
	want := []string{commandapi.RuleRateLimit, commandapi.RulePathShape, commandapi.RuleJSONOnly, commandapi.RuleCommon, commandapi.RuleKnownBadInputs}
	if diff := cmp.Diff(want, order); diff != "" {
		t.Errorf("rules in priority order (-want +got):\n%s", diff)
	}
	for i, name := range order {
		if p := compliance.Get(rules[name], "Priority"); p != float64(i) {
			t.Errorf("rule %s priority %v, want %d", name, p, i)
		}
	}
	for _, group := range []string{"AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"} {
		st := compliance.Get(rules[group], "Statement", "ManagedRuleGroupStatement")
		if compliance.Get(st, "VendorName") != "AWS" || compliance.Get(st, "Name") != group {
			t.Errorf("rule %s: statement %v, want AWS managed group %s", group, st, group)
		}
		if compliance.Get(rules[group], "OverrideAction", "None") == nil {
			t.Errorf("rule %s: override %v, want None (the group's own block actions apply)", group, compliance.Get(rules[group], "OverrideAction"))
		}
	}
	rate := compliance.Get(rules[commandapi.RuleRateLimit], "Statement", "RateBasedStatement")
	if compliance.Get(rate, "Limit") != float64(testWafRateLimit) || compliance.Get(rate, "AggregateKeyType") != "IP" || compliance.Get(rate, "EvaluationWindowSec") != 300.0 {
		t.Errorf("rate rule %v, want %d per IP per 300 s", rate, testWafRateLimit)
	}
	for _, name := range []string{commandapi.RuleRateLimit, commandapi.RulePathShape, commandapi.RuleJSONOnly} {
		if compliance.Get(rules[name], "Action", "Block") == nil {
			t.Errorf("rule %s action %v, want Block", name, compliance.Get(rules[name], "Action"))
		}
	}
	shape := compliance.List(compliance.Get(rules[commandapi.RulePathShape], "Statement", "OrStatement", "Statements"))
	if len(shape) != 2 || compliance.Get(shape[0], "RegexMatchStatement", "RegexString") != "[^a-zA-Z0-9:_/-]" ||
		compliance.Get(shape[0], "RegexMatchStatement", "TextTransformations", 0, "Type") != "URL_DECODE" ||
		compliance.Get(shape[1], "SizeConstraintStatement", "Size") != float64(len("/ops/devices/")+128+len("/commands")) {
		t.Errorf("path shape statements %v", shape)
	}
	json := compliance.List(compliance.Get(rules[commandapi.RuleJSONOnly], "Statement", "AndStatement", "Statements"))
	if len(json) != 2 || compliance.Get(json[0], "ByteMatchStatement", "SearchString") != "POST" ||
		compliance.Get(json[1], "NotStatement", "Statement", "ByteMatchStatement", "SearchString") != "application/json" ||
		compliance.Get(json[1], "NotStatement", "Statement", "ByteMatchStatement", "FieldToMatch", "SingleHeader", "Name") != "content-type" {
		t.Errorf("JSON-only statements %v", json)
	}

	assoc := one(t, fx.tmpl, "AWS::WAFv2::WebACLAssociation")
	if !refs(compliance.Get(assoc.Properties, "WebACLArn"), acl.ID) {
		t.Errorf("association web ACL %v, want %s", compliance.Get(assoc.Properties, "WebACLArn"), acl.ID)
	}
	stage := one(t, fx.tmpl, "AWS::ApiGateway::Stage")
	rest := one(t, fx.tmpl, "AWS::ApiGateway::RestApi")
	arn := mustJSON(t, compliance.Get(assoc.Properties, "ResourceArn"))
	if !strings.Contains(arn, `"Ref":"`+rest.ID+`"`) || !strings.Contains(arn, `"Ref":"`+stage.ID+`"`) || !strings.Contains(arn, "/restapis/") || !strings.Contains(arn, "/stages/") {
		t.Errorf("association resource %s is not the stage %s of API %s", arn, stage.ID, rest.ID)
	}

	logging := one(t, fx.tmpl, "AWS::WAFv2::LoggingConfiguration")
	if !refs(compliance.Get(logging.Properties, "ResourceArn"), acl.ID) {
		t.Errorf("logging configuration for %v, want %s", compliance.Get(logging.Properties, "ResourceArn"), acl.ID)
	}
	var redacted []string
	for _, f := range compliance.List(compliance.Get(logging.Properties, "RedactedFields")) {
		n, _ := compliance.Get(f, "SingleHeader", "Name").(string)
		redacted = append(redacted, n)
	}
	if diff := cmp.Diff([]string{"authorization", "x-amz-security-token"}, redacted); diff != "" {
		t.Errorf("redacted headers (-want +got):\n%s", diff)
	}
	dest := mustJSON(t, compliance.Get(logging.Properties, "LogDestinationConfigs"))
	wafLogs := logGroupNamed(t, fx.tmpl, "aws-waf-logs-")
	if !strings.Contains(dest, `"Ref":"`+wafLogs.ID+`"`) || strings.HasSuffix(dest, `:*"]`) {
		t.Errorf("WAF log destination %s, want the ARN (no :*) of %s", dest, wafLogs.ID)
	}
	encryptedWithRetention(t, fx, wafLogs)
}
