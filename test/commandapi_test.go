package test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/cxapi"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/google/go-cmp/cmp"

	"github.com/secure-smart-city/platform/compliance"
	"github.com/secure-smart-city/platform/constructs/commandapi"
	"github.com/secure-smart-city/platform/constructs/keys"
	"github.com/secure-smart-city/platform/constructs/securestore"
	"github.com/secure-smart-city/platform/fleetspec"
	"github.com/secure-smart-city/platform/lambdas/command/api"
	"github.com/secure-smart-city/platform/stacks"
	"github.com/secure-smart-city/platform/topics"
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
	state := securestore.NewTable(scope, "State", &securestore.TableProps{PartitionKey: "thingName", EncryptionKey: key.Key})
	audit := securestore.NewTable(scope, "Audit", &securestore.TableProps{PartitionKey: "thingName", SortKey: "requestKey", EncryptionKey: key.Key})
	if p.Fleet == nil {
		p.Fleet = fleet
	}
	if p.ThingTypePrefix == "" {
		p.ThingTypePrefix = fleet.RulePrefix("test")
	}
	if p.EncryptionKey == nil {
		p.EncryptionKey = key.Key
	}
	if p.StateTable == nil {
		p.StateTable = state.Table
	}
	if p.AuditTable == nil {
		p.AuditTable = audit.Table
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
		fx.key = key.Key
		fx.keyID = *stack.GetLogicalId(cfn(key.Key))
		fx.stateID = *stack.GetLogicalId(cfn(fx.state.Table))
		fx.auditID = *stack.GetLogicalId(cfn(fx.audit.Table))
		fx.roleID = *stack.GetLogicalId(cfn(fx.api.Function.Role))
		stacks.ApplyChecks(app)
		asm := synthOrFail(t, app)
		st := asm.GetStackByName(jsii.String("CommandApiTest"))
		tmpl, err := compliance.FromValue(st.Template())
		if err != nil {
			t.Fatal(err)
		}
		fx.tmpl = tmpl
		for _, m := range *st.Messages() {
			if m.Level == cxapi.SynthesisMessageLevel_ERROR {
				fx.errors = append(fx.errors, *m.Id)
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

// refs reports whether v refers to the resource id (Ref or GetAtt).
func refs(v any, id string) bool {
	if r, ok := compliance.Get(v, "Ref").(string); ok {
		return r == id
	}
	g, _ := compliance.Get(v, "Fn::GetAtt", 0).(string)
	return g == id
}

// logGroupNamed returns the one log group whose (Fn::Join) name starts with prefix.
func logGroupNamed(t *testing.T, tmpl compliance.Template, prefix string) compliance.Resource {
	t.Helper()
	var found []compliance.Resource
	for _, lg := range tmpl.Resources("AWS::Logs::LogGroup") {
		name := compliance.Get(lg.Properties, "LogGroupName")
		first, _ := compliance.Get(name, "Fn::Join", 1, 0).(string)
		if s, ok := name.(string); ok {
			first = s
		}
		if strings.HasPrefix(first, prefix) {
			found = append(found, lg)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d log groups named %s*, want 1", len(found), prefix)
	}
	return found[0]
}

func encryptedWithRetention(t *testing.T, fx *commandAPIFixture, lg compliance.Resource) {
	t.Helper()
	keyID := fx.keyID
	if !refs(compliance.Get(lg.Properties, "KmsKeyId"), keyID) {
		t.Errorf("log group %s: KmsKeyId %v, want the platform key %s", lg.ID, compliance.Get(lg.Properties, "KmsKeyId"), keyID)
	}
	if compliance.Get(lg.Properties, "RetentionInDays") != 365.0 || lg.Attr("DeletionPolicy") != "Retain" {
		t.Errorf("log group %s: retention %v, deletion %q; want 365 days, Retain", lg.ID, compliance.Get(lg.Properties, "RetentionInDays"), lg.Attr("DeletionPolicy"))
	}
}

// TestCommandAPIAccessLogs: the stage writes JSON access logs that name the caller to an
// encrypted group, execution logs at INFO without payloads to an encrypted group named the way
// API Gateway names it, and traces with X-Ray.
func TestCommandAPIAccessLogs(t *testing.T) {
	fx := commandAPI(t)
	stage := one(t, fx.tmpl, "AWS::ApiGateway::Stage")
	if compliance.Get(stage.Properties, "StageName") != "ops" {
		t.Errorf("stage name %v, want ops", compliance.Get(stage.Properties, "StageName"))
	}
	if compliance.Get(stage.Properties, "TracingEnabled") != true {
		t.Error("X-Ray tracing is off")
	}
	access := logGroupNamed(t, fx.tmpl, commandapi.AccessLogGroupPrefix)
	dest := mustJSON(t, compliance.Get(stage.Properties, "AccessLogSetting", "DestinationArn"))
	if !strings.Contains(dest, `"Ref":"`+access.ID+`"`) || strings.Contains(dest, `:*"`) {
		t.Errorf("access log destination %s, want the ARN (no :*) of %s", dest, access.ID)
	}
	encryptedWithRetention(t, fx, access)
	encryptedWithRetention(t, fx, logGroupNamed(t, fx.tmpl, commandapi.ExecutionLogGroupPrefix))

	format, _ := compliance.Get(stage.Properties, "AccessLogSetting", "Format").(string)
	var fields map[string]string
	if err := json.Unmarshal([]byte(format), &fields); err != nil {
		t.Fatalf("access log format is not a JSON object of strings: %v\n%s", err, format)
	}
	for key, want := range map[string]string{
		"userArn": "$context.identity.userArn", "caller": "$context.identity.caller", "user": "$context.identity.user",
		"accountId": "$context.identity.accountId", "ip": "$context.identity.sourceIp", "requestId": "$context.requestId",
		"httpMethod": "$context.httpMethod", "resourcePath": "$context.resourcePath", "path": "$context.path",
		"status": "$context.status", "requestTime": "$context.requestTime", "protocol": "$context.protocol",
		"responseLength": "$context.responseLength", "wafStatus": "$context.waf.status",
		"validationError": "$context.error.validationErrorString",
	} {
		if fields[key] != want {
			t.Errorf("access log field %s = %q, want %q", key, fields[key], want)
		}
	}

	settings := methodSettings(stage)
	all := settings["/*|*"]
	if all == nil || compliance.Get(all, "LoggingLevel") != "INFO" || compliance.Get(all, "DataTraceEnabled") != false || compliance.Get(all, "MetricsEnabled") != true {
		t.Errorf("stage method settings %v, want INFO logging, no data trace, metrics on", all)
	}
	post := settings["/~1devices~1{thing}~1commands|POST"]
	if post == nil || compliance.Get(post, "LoggingLevel") != "INFO" || compliance.Get(post, "DataTraceEnabled") != false || compliance.Get(post, "MetricsEnabled") != true {
		t.Errorf("command method settings %v, want INFO logging, no data trace, metrics on (an override replaces the stage's)", post)
	}
	for k, s := range settings {
		if compliance.Get(s, "CachingEnabled") == true {
			t.Errorf("method settings %s cache responses", k)
		}
	}
}

// methodSettings indexes a stage's method settings by "<resource path>|<method>".
func methodSettings(stage compliance.Resource) map[string]any {
	out := map[string]any{}
	for _, s := range compliance.List(compliance.Get(stage.Properties, "MethodSettings")) {
		out[compliance.Get(s, "ResourcePath").(string)+"|"+compliance.Get(s, "HttpMethod").(string)] = s
	}
	return out
}

// TestCommandAPIThrottling: the stage throttle and the tighter command-method throttle carry
// the configured values.
func TestCommandAPIThrottling(t *testing.T) {
	fx := commandAPI(t)
	settings := methodSettings(one(t, fx.tmpl, "AWS::ApiGateway::Stage"))
	for key, want := range map[string][2]float64{
		"/*|*":                               {12, 24},
		"/~1devices~1{thing}~1commands|POST": {3, 6},
	} {
		s := settings[key]
		if got := [2]any{compliance.Get(s, "ThrottlingRateLimit"), compliance.Get(s, "ThrottlingBurstLimit")}; got != [2]any{want[0], want[1]} {
			t.Errorf("%s throttle (rate, burst) %v, want %v", key, got, want)
		}
	}
}

// TestCommandAPIRequestValidation: one validator checks bodies and parameters; POST bodies
// of type application/json are validated against a model holding every command of the fleet
// with its params (types, bounds, enums), the optional delivery and nothing else.
func TestCommandAPIRequestValidation(t *testing.T) {
	fx := commandAPI(t)
	v := one(t, fx.tmpl, "AWS::ApiGateway::RequestValidator")
	if compliance.Get(v.Properties, "ValidateRequestBody") != true || compliance.Get(v.Properties, "ValidateRequestParameters") != true {
		t.Errorf("validator %v, want body and parameters", v.Properties)
	}
	model := one(t, fx.tmpl, "AWS::ApiGateway::Model")
	for _, m := range fx.tmpl.Resources("AWS::ApiGateway::Method") {
		if !refs(compliance.Get(m.Properties, "RequestValidatorId"), v.ID) {
			t.Errorf("method %v is not validated by %s", compliance.Get(m.Properties, "HttpMethod"), v.ID)
		}
		if compliance.Get(m.Properties, "HttpMethod") == "POST" {
			models, _ := compliance.Get(m.Properties, "RequestModels").(map[string]any)
			if len(models) != 1 || !refs(models["application/json"], model.ID) {
				t.Errorf("POST request models %v, want application/json -> %s", models, model.ID)
			}
		}
	}
	if compliance.Get(model.Properties, "ContentType") != "application/json" {
		t.Errorf("model content type %v", compliance.Get(model.Properties, "ContentType"))
	}
	schema, _ := compliance.Get(model.Properties, "Schema").(map[string]any)
	if schema["$schema"] != commandapi.SchemaDraft4 || schema["type"] != "object" || !cmp.Equal(schema["required"], []any{"command"}) {
		t.Errorf("schema header %v", schema)
	}
	// Every branch, by command name; a name with several class definitions is an anyOf.
	got := map[string][]any{}
	for _, b := range compliance.List(schema["oneOf"]) {
		variants := compliance.List(compliance.Get(b, "anyOf"))
		if variants == nil {
			variants = []any{b}
		}
		for _, v := range variants {
			name, _ := compliance.Get(v, "properties", "command", "enum", 0).(string)
			got[name] = append(got[name], v)
		}
	}
	for _, c := range fx.fleet.Classes {
		for _, cmd := range c.Commands {
			if !hasVariant(t, got[cmd.Name], cmd) {
				t.Errorf("class %s command %s: no schema branch matches its params", c.ID, cmd.Name)
			}
		}
	}
}

// hasVariant reports whether one of variants is exactly the schema a command should have.
func hasVariant(t *testing.T, variants []any, cmd fleetspec.Command) bool {
	t.Helper()
	props := map[string]any{
		"command":  map[string]any{"type": "string", "enum": []any{cmd.Name}},
		"delivery": map[string]any{"type": "string", "enum": []any{string(api.DeliveryMQTT), string(api.DeliveryShadow)}},
		// The optional idempotency key, in the body instead of the header, with its format.
		api.IdempotencyField: map[string]any{"type": "string", "pattern": api.IdempotencyKeyPattern},
	}
	required := []any{"command"}
	for _, p := range cmd.Params {
		s := map[string]any{"type": string(p.Type)}
		if p.Min != nil {
			s["minimum"] = *p.Min
		}
		if p.Max != nil {
			s["maximum"] = *p.Max
		}
		if p.Type == fleetspec.TypeString {
			s["maxLength"] = float64(p.StringLimit())
		}
		if len(p.Enum) > 0 {
			e := []any{}
			for _, x := range p.Enum {
				e = append(e, x)
			}
			s["enum"] = e
		}
		props[p.Name] = s
		if p.Required {
			required = append(required, p.Name)
		}
	}
	want := map[string]any{"type": "object", "properties": props, "required": required, "additionalProperties": false}
	for _, v := range variants {
		if cmp.Equal(want, v) {
			return true
		}
	}
	return false
}

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
	if env[api.EnvThingTypePrefix] != fx.fleet.RulePrefix("test") {
		t.Errorf("%s = %v, want %s", api.EnvThingTypePrefix, env[api.EnvThingTypePrefix], fx.fleet.RulePrefix("test"))
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
	for _, m := range []awscloudwatch.Metric{fx.api.MetricAuditWriteFailed(api.KindIntent, nil), fx.api.MetricRefused(api.ReasonOutOfScope, nil)} {
		dims := *m.Dimensions()
		if *m.Namespace() != api.Namespace || *m.Statistic() != "Sum" || len(dims) != 1 ||
			(dims[api.DimensionPhase] != api.KindIntent && dims[api.DimensionReason] != api.ReasonOutOfScope) {
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

// TestCommandAPIGrants: an operator role gets execute-api:Invoke on exactly the methods it is
// granted, for the scope the fleet file declares; a grant for an undeclared role, or with
// another scope, is a synth error.
func TestCommandAPIGrants(t *testing.T) {
	app := newApp(t, nil)
	stack := awscdk.NewStack(app, jsii.String("CommandApiGrants"), &awscdk.StackProps{
		Env: &awscdk.Environment{Account: jsii.String(testAccount), Region: jsii.String(testRegion)},
	})
	fleet := ingestFleetWithCommands()
	a, _, _, _ := newCommandAPI(stack, fleet, commandapi.Props{})
	operator := awsiam.NewRole(stack, jsii.String("Operator"), &awsiam.RoleProps{AssumedBy: awsiam.NewAccountRootPrincipal(), RoleName: jsii.String(fleet.Operators[0].Role)})
	a.GrantSendCommands(operator, fleet.Operators[0])
	if errs := validationErrors(a); errs != "" {
		t.Fatalf("declared scope refused: %s", errs)
	}
	tmpl, err := compliance.FromValue(synthOrFail(t, app).GetStackByName(jsii.String("CommandApiGrants")).Template())
	if err != nil {
		t.Fatal(err)
	}
	sts := attachedStatements(tmpl, *stack.GetLogicalId(cfn(operator)))
	var resources []string
	for _, st := range sts {
		if compliance.Get(st, "Action") != "execute-api:Invoke" {
			t.Errorf("operator statement %v", st)
		}
		for _, r := range compliance.List(compliance.Get(st, "Resource")) {
			resources = append(resources, mustJSON(t, r))
		}
	}
	stage := one(t, tmpl, "AWS::ApiGateway::Stage")
	var methods []string
	for _, res := range resources {
		for _, m := range []string{"/POST/devices/*/commands", "/GET/devices/*"} {
			if strings.HasSuffix(res, `{"Ref":"`+stage.ID+`"},"`+m+`"]]}`) {
				methods = append(methods, m)
			}
		}
	}
	sort.Strings(methods)
	if diff := cmp.Diff([]string{"/GET/devices/*", "/POST/devices/*/commands"}, methods); diff != "" || len(resources) != 2 {
		t.Errorf("operator may invoke %v (-want +got):\n%s", resources, diff)
	}

	bad := fleet.Operators[0]
	bad.Allow = append([]fleetspec.Permission(nil), bad.Allow...)
	bad.Allow[0].Commands = []string{"set-light", "self-destruct"}
	for i, c := range []struct {
		name  string
		role  *string
		scope fleetspec.Operator
		want  string
	}{
		{"undeclared role", nil, fleetspec.Operator{Role: "AdministratorAccess"}, `role "AdministratorAccess" is not an operator of the fleet file`},
		{"wider scope than declared", nil, bad, `the scope given for role "lighting-operator" (street_light: set-light,self-destruct) differs from the fleet file's (street_light: set-light)`},
		{"another role's scope", jsii.String("ci-deployer"), fleet.Operators[0], `role "ci-deployer" is granted the scope of operator role "lighting-operator"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := awscdk.NewStack(app, jsii.String(fmt.Sprintf("GrantCase%d", i)), nil)
			api, _, _, _ := newCommandAPI(s, fleet, commandapi.Props{})
			api.GrantSendCommands(awsiam.NewRole(s, jsii.String("R"), &awsiam.RoleProps{AssumedBy: awsiam.NewAccountRootPrincipal(), RoleName: c.role}), c.scope)
			if got := validationErrors(api); !strings.Contains(got, c.want) {
				t.Errorf("validation errors %q do not contain %q", got, c.want)
			}
		})
	}
}

// joined renders an Fn::Join of strings and pseudo-parameter Refs, with AWS::Partition as
// "aws", so a test can compare a synthesized ARN with a plain string.
func joined(t *testing.T, v any) string {
	t.Helper()
	if s, ok := v.(string); ok {
		return s
	}
	var b strings.Builder
	for _, part := range compliance.List(compliance.Get(v, "Fn::Join", 1)) {
		switch p := part.(type) {
		case string:
			b.WriteString(p)
		default:
			switch compliance.Get(p, "Ref") {
			case "AWS::Partition":
				b.WriteString("aws")
			case "AWS::AccountId":
				b.WriteString("<account>")
			default:
				t.Fatalf("unexpected part %v in %v", p, v)
			}
		}
	}
	return b.String()
}

// operatorPatterns are the aws:PrincipalArn patterns a fleet's operators should give.
func operatorPatterns(fleet *fleetspec.Fleet, account string) []string {
	var want []string
	for _, op := range fleet.Operators {
		want = append(want, "arn:aws:iam::"+account+":role/"+op.Role, "arn:aws:iam::"+account+":role/*/"+op.Role)
	}
	sort.Strings(want)
	return want
}

// checkAPIResourcePolicy: the REST API's resource policy is one explicit Deny of
// execute-api:Invoke on every method to any principal whose aws:PrincipalArn is not one of
// the operator roles (with or without a path), and nothing else: no Allow.
func checkAPIResourcePolicy(t *testing.T, tmpl compliance.Template, fleet *fleetspec.Fleet, account string) {
	t.Helper()
	rest := one(t, tmpl, "AWS::ApiGateway::RestApi")
	sts := compliance.List(compliance.Get(rest.Properties, "Policy", "Statement"))
	if len(sts) != 1 {
		t.Fatalf("resource policy statements %v, want one Deny", sts)
	}
	st := sts[0]
	if compliance.Get(st, "Effect") != "Deny" || compliance.Get(st, "Sid") != commandapi.DenyNonOperatorsSid ||
		compliance.Get(st, "Action") != "execute-api:Invoke" || compliance.Get(st, "Resource") != "execute-api:/*" ||
		mustJSON(t, compliance.Get(st, "Principal")) != `{"AWS":"*"}` {
		t.Errorf("resource policy statement %s, want Deny execute-api:Invoke on execute-api:/* to AWS *", mustJSON(t, st))
	}
	cond, _ := compliance.Get(st, "Condition").(map[string]any)
	if len(cond) != 1 {
		t.Errorf("condition %v, want StringNotLike only", cond)
	}
	var got []string
	for _, p := range compliance.List(compliance.Get(st, "Condition", "StringNotLike", "aws:PrincipalArn")) {
		got = append(got, joined(t, p))
	}
	sort.Strings(got)
	if diff := cmp.Diff(operatorPatterns(fleet, account), got); diff != "" {
		t.Errorf("roles the resource policy admits (-want +got):\n%s", diff)
	}
}

// TestCommandAPIResourcePolicy: the API denies everyone but the fleet's operator roles.
func TestCommandAPIResourcePolicy(t *testing.T) {
	fx := commandAPI(t)
	checkAPIResourcePolicy(t, fx.tmpl, fx.fleet, testAccount)
	if len(fx.fleet.Operators) < 3 {
		t.Errorf("the dev fleet declares %d operator roles", len(fx.fleet.Operators))
	}
}

// TestPlatformCommandAuthorization: in dev and prod, the Operations stack's API admits only
// the stage's operator roles; a traffic signal's flashing and off are critical values that
// only a role declaring them may send; the audit table is append-only (its resource policy
// denies UpdateItem, DeleteItem, BatchWriteItem and PartiQL's update and delete to everyone)
// and retained with deletion protection, in every stage.
func TestPlatformCommandAuthorization(t *testing.T) {
	for _, stage := range []stacks.Stage{stacks.StageDev, stacks.StageProd} {
		t.Run(string(stage), func(t *testing.T) {
			s := synthOnce(t, stage)
			fleet, err := fleetspec.Load(filepath.Join(moduleRoot(t), "config", "fleet."+string(stage)+".json"))
			if err != nil {
				t.Fatal(err)
			}
			checkAPIResourcePolicy(t, s.templates["SmartCity-"+string(stage)+"-Operations"], fleet, testAccount)

			signal, _ := fleet.Class("traffic_signal")
			for _, cmd := range signal.Commands {
				if cmd.Name == "set-mode" && !cmp.Equal(cmd.Params[0].Critical, []string{"flashing", "off"}) {
					t.Errorf("traffic_signal set-mode mode critical values %v, want flashing and off", cmd.Params[0].Critical)
				}
			}

			var audit []compliance.Resource
			for _, r := range s.templates["SmartCity-"+string(stage)+"-Foundation"].Resources("AWS::DynamoDB::Table") {
				if strings.HasPrefix(r.ID, "CommandAudit") {
					audit = append(audit, r)
				}
			}
			if len(audit) != 1 {
				t.Fatalf("%d CommandAudit tables", len(audit))
			}
			tbl := audit[0]
			if tbl.ID != "CommandAudit3694CD9D" {
				t.Errorf("audit table logical id %s changed", tbl.ID)
			}
			if tbl.Attr("DeletionPolicy") != "Retain" || tbl.Attr("UpdateReplacePolicy") != "Retain" || compliance.Get(tbl.Properties, "DeletionProtectionEnabled") != true {
				t.Errorf("audit table deletion %q, replace %q, protection %v; want Retain, Retain, true",
					tbl.Attr("DeletionPolicy"), tbl.Attr("UpdateReplacePolicy"), compliance.Get(tbl.Properties, "DeletionProtectionEnabled"))
			}
			sts := compliance.List(compliance.Get(tbl.Properties, "ResourcePolicy", "PolicyDocument", "Statement"))
			var denied []string
			for _, st := range sts {
				if compliance.Get(st, "Effect") == "Deny" && mustJSON(t, compliance.Get(st, "Principal")) == `{"AWS":"*"}` &&
					compliance.Get(st, "Resource") == "*" && compliance.Get(st, "Condition") == nil {
					for _, a := range compliance.List(compliance.Get(st, "Action")) {
						denied = append(denied, a.(string))
					}
				}
				if compliance.Get(st, "Effect") == "Allow" {
					t.Errorf("audit table resource policy allows: %s", mustJSON(t, st))
				}
			}
			sort.Strings(denied)
			want := []string{"dynamodb:BatchWriteItem", "dynamodb:DeleteItem", "dynamodb:PartiQLDelete", "dynamodb:PartiQLUpdate", "dynamodb:UpdateItem"}
			if diff := cmp.Diff(want, denied); diff != "" {
				t.Errorf("actions denied to everyone on the audit table (-want +got):\n%s", diff)
			}
		})
	}
}

// ingestFleetWithCommands is a small fleet whose street lights take set-light, with one
// operator role that may send it.
func ingestFleetWithCommands() *fleetspec.Fleet {
	f := ingestFleet()
	f.Classes[0].Commands = []fleetspec.Command{{Name: "set-light", Params: []fleetspec.Field{{Name: "on", Type: fleetspec.TypeBoolean, Required: true}}}}
	f.Operators = []fleetspec.Operator{{Role: "lighting-operator", Allow: []fleetspec.Permission{{Class: f.Classes[0].ID, Commands: []string{"set-light"}}}}}
	return f
}

// TestCommandAPIPropsErrors: weak or impossible props are refused, naming the field and value.
func TestCommandAPIPropsErrors(t *testing.T) {
	app := newApp(t, nil)
	stack := awscdk.NewStack(app, jsii.String("CommandApiProps"), nil)
	zero, huge := 0, 3_000_000_000
	noCommands := ingestFleet()
	noOperators := ingestFleetWithCommands()
	noOperators.Operators = nil
	cases := []struct {
		name  string
		fleet *fleetspec.Fleet
		props commandapi.Props
		want  []string
	}{
		{"rate limit zero", nil, commandapi.Props{Throttle: &commandapi.Throttle{RateLimit: 0, BurstLimit: 10}},
			[]string{"Throttle.RateLimit 0 must be above 0"}},
		{"negative burst", nil, commandapi.Props{CommandThrottle: &commandapi.Throttle{RateLimit: 1, BurstLimit: -1}},
			[]string{"CommandThrottle.BurstLimit -1 must be between 1 and 5000"}},
		{"command throttle above stage", nil, commandapi.Props{Throttle: &commandapi.Throttle{RateLimit: 5, BurstLimit: 10}, CommandThrottle: &commandapi.Throttle{RateLimit: 50, BurstLimit: 10}},
			[]string{"CommandThrottle (rate 50/s, burst 10) may not exceed Throttle (rate 5/s, burst 10)"}},
		{"WAF rate limit zero", nil, commandapi.Props{WafRateLimit: &zero}, []string{"WafRateLimit 0 must be between 10 and 2000000000"}},
		{"WAF rate limit too high", nil, commandapi.Props{WafRateLimit: &huge}, []string{"WafRateLimit 3000000000 must be between 10"}},
		{"bad stage name", nil, commandapi.Props{StageName: "prod stage"}, []string{`StageName "prod stage" must be 1-128 of [a-zA-Z0-9_-]`}},
		{"bad thing type prefix", nil, commandapi.Props{ThingTypePrefix: "SmartCity-dev"}, []string{`ThingTypePrefix "SmartCity-dev" must be`}},
		{"fleet without commands", noCommands, commandapi.Props{}, []string{"the fleet defines no commands"}},
		{"fleet without operators", noOperators, commandapi.Props{}, []string{"the fleet declares no operators"}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			scope := constructs.NewConstruct(stack, jsii.String("Case"+string(rune('A'+i))))
			fleet := c.fleet
			if fleet == nil {
				fleet = ingestFleetWithCommands()
			}
			a, _, _, _ := newCommandAPI(scope, fleet, c.props)
			got := validationErrors(a)
			for _, w := range c.want {
				if !strings.Contains(got, w) {
					t.Errorf("validation errors %q do not contain %q", got, w)
				}
			}
		})
	}
	t.Run("missing references", func(t *testing.T) {
		a := commandapi.New(constructs.NewConstruct(stack, jsii.String("Missing")), "CommandApi", nil)
		got := validationErrors(a)
		for _, w := range []string{"Fleet is required", `ThingTypePrefix "" must be`, "EncryptionKey is required", "StateTable is required", "AuditTable is required"} {
			if !strings.Contains(got, w) {
				t.Errorf("validation errors %q do not contain %q", got, w)
			}
		}
	})
	t.Run("valid props have no errors", func(t *testing.T) {
		a, _, _, _ := newCommandAPI(constructs.NewConstruct(stack, jsii.String("Valid")), ingestFleetWithCommands(),
			commandapi.Props{IoTDataEndpoint: "abc123-ats.iot.eu-central-1.amazonaws.com", AccountCloudWatchRole: jsii.Bool(false), LogRetention: awslogs.RetentionDays_ONE_MONTH})
		if errs := validationErrors(a); errs != "" {
			t.Errorf("unexpected errors %q", errs)
		}
		if a.AccountRole != nil {
			t.Error("AccountCloudWatchRole false still made the account role")
		}
	})
}

func init() {
	weakenings = append(weakenings, weakening{"api-methods-authorized", func(s awscdk.Stack, w bool) {
		a, _, _, _ := newCommandAPI(s, ingestFleetWithCommands(), commandapi.Props{})
		if w {
			for _, m := range *a.Api.Methods() {
				cfn(m).AddPropertyOverride(jsii.String("AuthorizationType"), "NONE")
			}
		}
	}})
}
