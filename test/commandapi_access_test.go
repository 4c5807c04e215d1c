package test

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/google/go-cmp/cmp"

	"github.com/secure-smart-city/platform/compliance"
	"github.com/secure-smart-city/platform/constructs/commandapi"
	"github.com/secure-smart-city/platform/fleetspec"
	"github.com/secure-smart-city/platform/lambdas/command/contract"
	"github.com/secure-smart-city/platform/stacks"
)

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
	tmpl := templateOf(t, app, "CommandApiGrants")
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
		// After the errors, every part is still there: a caller needs no nil checks.
		for name, v := range map[string]any{"Function": a.Function, "Function.Function": a.Function.Resource, "Function.Role": a.Function.Role,
			"RestAPI": a.RestAPI, "Stage": a.Stage, "WebACL": a.WebACL, "AccessLogs": a.AccessLogs, "ExecutionLogs": a.ExecutionLogs,
			"WafLogs": a.WafLogs, "Model": a.Model, "Validator": a.Validator, "AccountRole": a.AccountRole} {
			if nilPart(v) {
				t.Errorf("%s is nil after a props error", name)
			}
		}
		a.MetricServerErrors(nil)
		a.MetricAuditWriteFailed(contract.KindIntent, nil)
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
			for _, m := range *a.RestAPI.Methods() {
				cfn(m).AddPropertyOverride(jsii.String("AuthorizationType"), "NONE")
			}
		}
	}})
}
