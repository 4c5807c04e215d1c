package test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/secure-smart-city/platform/compliance"
	"github.com/secure-smart-city/platform/constructs/commandapi"
	"github.com/secure-smart-city/platform/fleetspec"
	"github.com/secure-smart-city/platform/lambdas/command/contract"
)

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
		"delivery": map[string]any{"type": "string", "enum": []any{contract.DeliveryMQTT, contract.DeliveryShadow}},
		// The optional idempotency key, in the body instead of the header, with its format.
		contract.IdempotencyField: map[string]any{"type": "string", "pattern": contract.IdempotencyKeyPattern},
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
