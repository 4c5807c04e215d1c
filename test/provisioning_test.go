package test

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/secure-smart-city/platform/compliance"
	"github.com/secure-smart-city/platform/constructs/fleet"
	"github.com/secure-smart-city/platform/fleetspec"
	"github.com/secure-smart-city/platform/lambdas/provisioninghook/contract"
	"github.com/secure-smart-city/platform/policies"
	"github.com/secure-smart-city/platform/stacks"
	"github.com/secure-smart-city/platform/topics"
)

// Provisioning at run time: the JITP and claim templates give a device the same thing type
// and district attribute a declared thing has, and only for this stage's classes and
// districts. Split from fleet_test.go; the helpers (lit, namesOf, ...) live there.

// TestFleetJITP: the city CA, registered without a verification certificate (SNI_ONLY) with
// auto registration, and a JITP template that parses, creates the thing from the
// certificate's subject and attaches a class policy: only names that are at once a thing
// type, a group and a policy of this stack provision.
func TestFleetJITP(t *testing.T) {
	fl := stageFleet(t, stacks.StageDev)
	tmpl := fleetTemplate(t, stacks.StageDev)
	cas := tmpl.Resources("AWS::IoT::CACertificate")
	if len(cas) != 1 {
		t.Fatalf("%d CA certificates, want 1", len(cas))
	}
	ca := cas[0].Properties
	pem, err := fl.CACertificatePEM()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"CACertificatePem": string(pem), "Status": "ACTIVE", "CertificateMode": "SNI_ONLY", "AutoRegistrationStatus": "ENABLE",
	}
	for k, v := range want {
		if ca[k] != v {
			t.Errorf("CA %s = %v, want %v", k, ca[k], v)
		}
	}
	if ca["VerificationCertificatePem"] != nil {
		t.Error("CA registered with a verification certificate: synth would need the CA key and a registration code from AWS")
	}
	role := idByPrefix(t, tmpl, "AWS::IAM::Role", "DevicesProvisioningRole")
	if got := lit(compliance.Get(ca, "RegistrationConfig", "RoleArn")); got != "<"+role+".Arn>" {
		t.Errorf("JITP role %s, want the provisioning role", got)
	}
	var body any
	if err := json.Unmarshal([]byte(lit(compliance.Get(ca, "RegistrationConfig", "TemplateBody"))), &body); err != nil {
		t.Fatalf("JITP template body is not JSON: %v", err)
	}
	if diff := cmp.Diff(jsonValue(t, fleet.JITPTemplate()), body); diff != "" {
		t.Errorf("JITP template (-want +got):\n%s", diff)
	}
	// JITP has no hook: its override settings are all that keeps a CA-signed certificate for
	// an existing thing name from rewriting that thing.
	checkNeverChangesExistingThing(t, "JITP", body)
	ou := map[string]any{"Ref": fleet.CertOrganizationalUnit}
	thing := compliance.Get(body, "Resources", "thing", "Properties")
	if !cmp.Equal(compliance.Get(body, "Resources", "policy", "Properties", "PolicyName"), ou) ||
		!cmp.Equal(compliance.Get(thing, "ThingTypeName"), ou) || !cmp.Equal(compliance.Get(thing, "ThingGroups", 0), ou) {
		t.Errorf("JITP template does not derive the type, group and policy from OU: %v", body)
	}
	if got := compliance.Get(thing, "ThingName"); !cmp.Equal(got, map[string]any{"Ref": fleet.CertCommonName}) {
		t.Errorf("JITP thing name %v, want the certificate CN", got)
	}
	// The district attribute, in the fleet file's format, comes from the subject's ST; the
	// district group from dnQualifier; the serial from serialNumber. Nothing else.
	wantAttrs := map[string]any{
		topics.DistrictAttribute: map[string]any{"Ref": fleet.CertStateName},
		"serial":                 map[string]any{"Ref": fleet.CertSerialNumber},
	}
	if diff := cmp.Diff(wantAttrs, compliance.Get(thing, "AttributePayload")); diff != "" {
		t.Errorf("JITP attributes (-want +got):\n%s", diff)
	}
	if got := compliance.Get(thing, "ThingGroups", 1); !cmp.Equal(got, map[string]any{"Ref": fleet.CertDistinguishedNameQual}) {
		t.Errorf("JITP district group %v, want the certificate dnQualifier", got)
	}
	for _, p := range []string{fleet.CertCommonName, fleet.CertSerialNumber, fleet.CertOrganizationalUnit, fleet.CertDistinguishedNameQual, fleet.CertStateName} {
		if compliance.Get(body, "Parameters", p, "Type") != "String" || compliance.Get(body, "Parameters", p, "Default") != nil {
			t.Errorf("JITP parameter %s: %v (want a String without a default: a certificate without the field is not provisioned)", p, compliance.Get(body, "Parameters", p))
		}
	}
	// The names usable as dnQualifier are the district groups, and no thing group is both a
	// class's and a district's.
	var districtGroups []string
	for _, d := range fl.Districts {
		districtGroups = append(districtGroups, fleet.Names{Prefix: fl.RulePrefix("dev")}.District(d.ID))
	}
	if got := intersect(namesOf(tmpl, "AWS::IoT::ThingGroup", "ThingGroupName"), districtGroups); !cmp.Equal(got, sorted(districtGroups)) {
		t.Errorf("district groups %v, want %v", got, districtGroups)
	}
	// The names that provision are those that are a thing type, a group and a policy at once:
	// exactly the classes.
	both := intersect(namesOf(tmpl, "AWS::IoT::ThingType", "ThingTypeName"), namesOf(tmpl, "AWS::IoT::ThingGroup", "ThingGroupName"), namesOf(tmpl, "AWS::IoT::Policy", "PolicyName"))
	var classes []string
	for _, c := range fl.Classes {
		classes = append(classes, topics.RuleName(fl.RulePrefix("dev"), c.ID))
	}
	if diff := cmp.Diff(sorted(classes), both); diff != "" {
		t.Errorf("names usable as OU (-classes +usable):\n%s", diff)
	}
}

func intersect(lists ...[]string) []string {
	count := map[string]int{}
	for _, l := range lists {
		for _, s := range l {
			count[s]++
		}
	}
	var out []string
	for s, c := range count {
		if c == len(lists) {
			out = append(out, s)
		}
	}
	return sorted(out)
}

func jsonValue(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestFleetClaimProvisioning: the claim template with its pre-provisioning hook, the hook's
// least-privilege access to the allowlist, its invoke permission for this template only, the
// claim policy, and the provisioning role (both stages).
func TestFleetClaimProvisioning(t *testing.T) {
	for _, stage := range []stacks.Stage{stacks.StageDev, stacks.StageProd} {
		t.Run(string(stage), func(t *testing.T) {
			fl := stageFleet(t, stage)
			tmpl := fleetTemplate(t, stage)
			n := fleet.Names{Prefix: fl.RulePrefix(string(stage))}
			hookID := idByPrefix(t, tmpl, "AWS::Lambda::Function", "DevicesProvisioningHook")
			roleID := idByPrefix(t, tmpl, "AWS::IAM::Role", "DevicesProvisioningRole")
			pt := oneResource(t, tmpl, "AWS::IoT::ProvisioningTemplate", "DevicesClaimTemplate")
			p := pt.Properties
			want := map[string]any{
				"TemplateName": n.ClaimTemplate(), "Enabled": true, "TemplateType": "FLEET_PROVISIONING",
				"ProvisioningRoleArn": map[string]any{"Fn::GetAtt": []any{roleID, "Arn"}},
				"PreProvisioningHook": map[string]any{"PayloadVersion": "2020-04-01", "TargetArn": map[string]any{"Fn::GetAtt": []any{hookID, "Arn"}}},
			}
			for k, v := range want {
				if diff := cmp.Diff(v, p[k]); diff != "" {
					t.Errorf("template %s (-want +got):\n%s", k, diff)
				}
			}
			var body any
			if err := json.Unmarshal([]byte(lit(p["TemplateBody"])), &body); err != nil {
				t.Fatalf("claim template body is not JSON: %v", err)
			}
			if diff := cmp.Diff(jsonValue(t, fleet.ClaimTemplate(n)), body); diff != "" {
				t.Errorf("claim template (-want +got):\n%s", diff)
			}
			for _, param := range []string{contract.ParamSerialNumber, contract.ParamThingName, contract.ParamClass, contract.ParamDistrict} {
				if compliance.Get(body, "Parameters", param, "Type") != "String" || compliance.Get(body, "Parameters", param, "Default") != nil {
					t.Errorf("template parameter %s: %v (want a String without a default)", param, compliance.Get(body, "Parameters", param))
				}
			}
			// The hook's overrides decide the thing type and the district attribute: the thing
			// type is the class's qualified name, the district attribute the district id as it
			// is (the format of every path), the groups the class's and the district's.
			thing := compliance.Get(body, "Resources", "thing", "Properties")
			types := namesOf(tmpl, "AWS::IoT::ThingType", "ThingTypeName")
			for _, c := range fl.Classes {
				got := lit(resolveClass(compliance.Get(thing, "ThingTypeName"), c.ID))
				if got != n.Class(c.ID) || !contains(types, got) {
					t.Errorf("class %s: template sets thing type %q, want %q", c.ID, got, n.Class(c.ID))
				}
			}
			wantAttrs := map[string]any{
				topics.DistrictAttribute: map[string]any{"Ref": contract.ParamDistrict},
				"serial":                 map[string]any{"Ref": contract.ParamSerialNumber},
			}
			if diff := cmp.Diff(wantAttrs, compliance.Get(thing, "AttributePayload")); diff != "" {
				t.Errorf("claim attributes (-want +got):\n%s", diff)
			}
			groups := namesOf(tmpl, "AWS::IoT::ThingGroup", "ThingGroupName")
			for _, d := range fl.Districts {
				got := strings.ReplaceAll(lit(compliance.Get(thing, "ThingGroups", 1)), "<"+contract.ParamDistrict+">", d.ID)
				if got != n.District(d.ID) || !contains(groups, got) {
					t.Errorf("district %s: template adds the thing to group %q, want %q", d.ID, got, n.District(d.ID))
				}
			}
			// The policy name the template joins from Class is a class policy for every class.
			pols := iotPolicies(tmpl)
			for _, c := range fl.Classes {
				name := strings.ReplaceAll(lit(resolveClass(compliance.Get(body, "Resources", "policy", "Properties", "PolicyName"), c.ID)), "<Class>", c.ID)
				if _, ok := pols[name]; !ok || name != n.Class(c.ID) {
					t.Errorf("class %s: template attaches policy %q, not its class policy", c.ID, name)
				}
			}

			perm := oneResource(t, tmpl, "AWS::Lambda::Permission", "DevicesProvisioningHookInvokedByClaimTemplate").Properties
			wantPerm := map[string]string{
				"Principal": "iot.amazonaws.com", "Action": "lambda:InvokeFunction", "SourceAccount": testAccount,
				"SourceArn": iotARN("provisioningtemplate", n.ClaimTemplate()), "FunctionName": "<" + hookID + ".Arn>",
			}
			for k, v := range wantPerm {
				if got := lit(perm[k]); got != v {
					t.Errorf("hook permission %s = %s, want %s", k, got, v)
				}
			}
			if !dependsOn(pt, idByPrefix(t, tmpl, "AWS::Lambda::Permission", "DevicesProvisioningHookInvokedByClaimTemplate")) {
				t.Error("the template may exist before the hook can be invoked")
			}

			fn := oneResource(t, tmpl, "AWS::Lambda::Function", hookID).Properties
			if fn["Timeout"] != 5.0 {
				t.Errorf("hook timeout %v, want 5 (AWS IoT waits five seconds)", fn["Timeout"])
			}
			if env := refText(compliance.Get(fn, "Environment", "Variables", "ALLOWLIST_TABLE")); !strings.Contains(env, "ProvisioningAllowlist") {
				t.Errorf("ALLOWLIST_TABLE %s does not name the Foundation allowlist", env)
			}
			if env := compliance.Get(fn, "Environment", "Variables", contract.EnvAllowUnboundClaims); env != nil {
				t.Errorf("%s = %v by default: entries without a key fingerprint must be refused unless the trial setting is on", contract.EnvAllowUnboundClaims, env)
			}
			hookRole := idByPrefix(t, tmpl, "AWS::IAM::Role", "DevicesProvisioningHookExecutionRole")
			// The no-hijack check reads the registry: exactly these two actions, on the
			// resource types the Service Authorization Reference gives them, read-only.
			wantIoT := map[string][]string{"iot:ListThingPrincipals": {iotARN("thing", "*")}, "iot:DescribeCertificate": {iotARN("cert", "*")}}
			gotIoT := map[string][]string{}
			for a, res := range grantsByAction(tmpl, hookRole) {
				if strings.HasPrefix(a, "iot:") {
					gotIoT[a] = res
				}
			}
			if diff := cmp.Diff(wantIoT, gotIoT); diff != "" {
				t.Errorf("hook IoT grants (-want +got):\n%s", diff)
			}
			for a, res := range grantsByAction(tmpl, hookRole) {
				switch {
				case a == "dynamodb:GetItem" || a == "dynamodb:UpdateItem":
					if len(res) != 1 || !strings.Contains(res[0], "ProvisioningAllowlist") {
						t.Errorf("%s on %v, want only the allowlist table", a, res)
					}
				case strings.HasPrefix(a, "dynamodb:"):
					t.Errorf("hook may %s: it needs only GetItem and UpdateItem", a)
				case strings.HasPrefix(a, "kms:"):
					if len(res) != 1 || !strings.Contains(res[0], "PlatformKey") {
						t.Errorf("%s on %v, want only the platform key", a, res)
					}
				}
			}

			claim := pols[n.ClaimPolicy()]
			if diff := cmp.Diff(policies.Claim(n.ClaimTemplate()).Render(policies.ARNPrefix("aws", testRegion, testAccount)),
				policyDocument(t, claim.Properties["PolicyDocument"]).Render(policies.ARNPrefix("aws", testRegion, testAccount))); diff != "" {
				t.Errorf("claim policy (-want +got):\n%s", diff)
			}

			checkProvisioningRole(t, tmpl, fl, n, roleID)
			checkNeverChangesExistingThing(t, "claim", body)
			checkProvisioningAlarms(t, tmpl, stage)

			// Every role of the Fleet stack that AWS IoT assumes carries the documented
			// confused-deputy condition.
			if n, v := checksByName(t, "iam-service-trust-conditioned").Run(tmpl); n == 0 || len(v) > 0 {
				t.Errorf("iam-service-trust-conditioned on the Fleet stack: inspected %d, violations %v", n, v)
			}
			for _, id := range []string{roleID, idByPrefix(t, tmpl, "AWS::IAM::Role", "IoTLoggingRole")} {
				checkIoTTrust(t, tmpl, id)
			}
		})
	}
}

// checkIoTTrust: the role trusts AWS IoT only for this account, with the source ARN in the
// form the AWS IoT guide documents (arn:aws:iot:<region>:<account>:*).
func checkIoTTrust(t *testing.T, tmpl compliance.Template, roleID string) {
	t.Helper()
	sts := compliance.List(compliance.Get(oneResource(t, tmpl, "AWS::IAM::Role", roleID).Properties, "AssumeRolePolicyDocument", "Statement"))
	if len(sts) != 1 {
		t.Fatalf("%s: %d trust statements, want 1", roleID, len(sts))
	}
	st := sts[0]
	if compliance.Get(st, "Principal", "Service") != "iot.amazonaws.com" ||
		lit(compliance.Get(st, "Condition", "StringEquals", "aws:SourceAccount")) != testAccount ||
		lit(compliance.Get(st, "Condition", "ArnLike", "aws:SourceArn")) != policies.ARNPrefix("aws", testRegion, testAccount)+"*" {
		t.Errorf("%s trust %v: want iot.amazonaws.com of this account only", roleID, st)
	}
}

// checkNeverChangesExistingThing: the template as deployed leaves an existing thing's type,
// attributes and groups as they are (DO_NOTHING), so provisioning cannot rebind it.
func checkNeverChangesExistingThing(t *testing.T, name string, body any) {
	t.Helper()
	want := map[string]any{"AttributePayload": "DO_NOTHING", "ThingTypeName": "DO_NOTHING", "ThingGroups": "DO_NOTHING"}
	if diff := cmp.Diff(want, compliance.Get(body, "Resources", "thing", "OverrideSettings")); diff != "" {
		t.Errorf("%s template override settings for an existing thing (-want +got):\n%s", name, diff)
	}
}

// checkProvisioningAlarms: one alarm per attack reason, on the hook's own metric, notifying
// the alert topic at the first occurrence.
func checkProvisioningAlarms(t *testing.T, tmpl compliance.Template, stage stacks.Stage) {
	t.Helper()
	got := map[string]compliance.Resource{}
	for _, a := range tmpl.Resources("AWS::CloudWatch::Alarm") {
		if compliance.Get(a.Properties, "Namespace") == contract.MetricNamespace {
			got[fmt.Sprint(compliance.Get(a.Properties, "Dimensions", 0, "Value"))] = a
		}
	}
	if len(got) != len(contract.AlarmedReasons) {
		t.Errorf("%d provisioning alarms, want one per reason in %v", len(got), contract.AlarmedReasons)
	}
	for _, reason := range []string{contract.ReasonRaceLost, contract.ReasonAlreadyProvisioned, contract.ReasonFingerprintMismatch, contract.ReasonThingInUse} {
		a, ok := got[reason]
		if !ok {
			t.Errorf("no alarm on %s", reason)
			continue
		}
		p := a.Properties
		want := map[string]any{
			"MetricName": contract.MetricDecisions, "Statistic": "Sum", "Period": 300.0, "Threshold": 1.0,
			"ComparisonOperator": "GreaterThanOrEqualToThreshold", "TreatMissingData": "notBreaching",
			"AlarmName":  "SmartCity-" + string(stage) + "-Provisioning-" + reason,
			"Dimensions": []any{map[string]any{"Name": contract.DimensionReason, "Value": reason}},
		}
		for k, v := range want {
			if diff := cmp.Diff(v, p[k]); diff != "" {
				t.Errorf("alarm %s %s (-want +got):\n%s", reason, k, diff)
			}
		}
		for _, k := range []string{"AlarmActions", "OKActions"} {
			if l := compliance.List(p[k]); len(l) != 1 || !strings.Contains(refText(l[0]), "AlertTopic") {
				t.Errorf("alarm %s %s %v: want the Foundation's alert topic", reason, k, p[k])
			}
		}
	}
}

// TestProvisioningTrialSetting: `-c allowUnboundClaims=true` reaches the hook as its
// environment switch, and synth warns that the device-unique proof is off.
func TestProvisioningTrialSetting(t *testing.T) {
	app := newApp(t, map[string]any{"stage": "dev", "aws:cdk:bundling-stacks": []any{}, stacks.ContextAllowUnboundClaims: "true"})
	cfg := stacks.Config{Stage: stacks.StageDev, Fleet: stageFleet(t, stacks.StageDev), Account: testAccount, Region: testRegion}
	st := stacks.NewFleet(app, cfg, stacks.NewFoundation(app, cfg))
	asm := app.Synth(nil)
	defer func() { _ = os.RemoveAll(*asm.Directory()) }()
	art := asm.GetStackByName(st.StackName())
	tmpl, err := compliance.FromValue(art.Template())
	if err != nil {
		t.Fatal(err)
	}
	fn := oneResource(t, tmpl, "AWS::Lambda::Function", "DevicesProvisioningHook").Properties
	if got := compliance.Get(fn, "Environment", "Variables", contract.EnvAllowUnboundClaims); got != "true" {
		t.Errorf("%s = %v with the trial setting, want \"true\"", contract.EnvAllowUnboundClaims, got)
	}
	warned := false
	for _, a := range annotations(t, art) {
		warned = warned || (!a.err && strings.Contains(a.text, stacks.ContextAllowUnboundClaims))
	}
	if !warned {
		t.Error("synth does not warn that the trial setting is on")
	}
}

// resolveClass replaces the Class parameter in a provisioning template value.
func resolveClass(v any, class string) any {
	b, _ := json.Marshal(v)
	s := strings.ReplaceAll(string(b), `{"Ref":"`+contract.ParamClass+`"}`, `"`+class+`"`)
	var out any
	_ = json.Unmarshal([]byte(s), &out)
	return out
}

func checkProvisioningRole(t *testing.T, tmpl compliance.Template, fl *fleetspec.Fleet, n fleet.Names, roleID string) {
	t.Helper()
	trust := oneResource(t, tmpl, "AWS::IAM::Role", roleID).Properties["AssumeRolePolicyDocument"]
	st := compliance.Get(trust, "Statement", 0)
	if compliance.Get(st, "Principal", "Service") != "iot.amazonaws.com" ||
		lit(compliance.Get(st, "Condition", "StringEquals", "aws:SourceAccount")) != testAccount ||
		lit(compliance.Get(st, "Condition", "ArnLike", "aws:SourceArn")) != policies.ARNPrefix("aws", testRegion, testAccount)+"*" {
		t.Errorf("provisioning role trust %v: want iot.amazonaws.com of this account only", st)
	}
	g := grantsByAction(tmpl, roleID)
	anyThing, anyCert := iotARN("thing", "*"), iotARN("cert", "*")
	quarantine := "<" + idByPrefix(t, tmpl, "AWS::IoT::ThingGroup", "QuarantineGroup") + ".Arn>"
	for a, res := range g {
		switch a {
		case "iot:CreatePolicy", "iot:CreatePolicyVersion", "iot:DetachPolicy", "iot:DetachThingPrincipal", "iot:RemoveThingFromThingGroup", "iot:DeleteThing",
			"iot:UpdateThing": // the templates never change an existing thing, so the role cannot either
			t.Errorf("provisioning role may %s", a)
		}
		for _, r := range res {
			if r == "*" {
				t.Errorf("%s on Resource *", a)
			}
			if r == quarantine {
				t.Errorf("%s reaches the quarantine group", a)
			}
			if strings.HasSuffix(r, "*") && r != anyThing && r != anyCert {
				t.Errorf("%s on wildcard %s: only thing/* and cert/* (made during provisioning) may be open", a, r)
			}
		}
	}
	for _, a := range []string{"iot:CreateThing", "iot:AddThingToThingGroup", "iot:AttachThingPrincipal", "iot:UpdateCertificate", "iot:AttachPolicy"} {
		if len(g[a]) == 0 {
			t.Errorf("provisioning role lacks %s, which the templates need", a)
		}
	}
	var groups []string
	for _, c := range fl.Classes {
		groups = append(groups, "<"+idByPrefix(t, tmpl, "AWS::IoT::ThingGroup", "DevicesClassGroups"+strings.ReplaceAll(c.ID, "_", ""))+".Arn>")
	}
	for _, d := range fl.Districts {
		groups = append(groups, "<"+idByPrefix(t, tmpl, "AWS::IoT::ThingGroup", "DevicesDistrictGroups"+strings.ReplaceAll(d.ID, "_", ""))+".Arn>")
	}
	if diff := cmp.Diff(sorted(append(groups, anyThing)), g["iot:AddThingToThingGroup"]); diff != "" {
		t.Errorf("AddThingToThingGroup resources (-want +got):\n%s", diff)
	}
	var classPols []string
	for _, c := range fl.Classes {
		classPols = append(classPols, "<"+iotPolicies(tmpl)[n.Class(c.ID)].ID+".Arn>")
	}
	if diff := cmp.Diff(sorted(append(classPols, anyCert)), g["iot:AttachPolicy"]); diff != "" {
		t.Errorf("AttachPolicy resources (-want +got):\n%s", diff)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// declaredThings is n things of the fleet's classes and districts, none with a CSR.
func declaredThings(f *fleetspec.Fleet, n int) []fleetspec.Thing {
	out := make([]fleetspec.Thing, n)
	for i := range out {
		c, d := f.Classes[i%len(f.Classes)], f.Districts[i%len(f.Districts)]
		out[i] = fleetspec.Thing{Name: fmt.Sprintf("size-%03d", i), Class: c.ID, District: d.ID, Serial: fmt.Sprintf("SIZE-%03d", i)}
	}
	return out
}

// TestFleetStackSize: the Fleet stack grows by exactly fleetspec.ThingResources resources per
// declared thing without a CSR, all of them that thing's own (thing, thing-type association,
// two memberships), and stays within CloudFormation's 500 at the cap. The figures for 0, 24
// and 100 declared things are logged (go test -run TestFleetStackSize -v).
func TestFleetStackSize(t *testing.T) {
	base := stageFleet(t, stacks.StageDev)
	sizes := []int{0, 24, fleetspec.MaxThings}
	total := map[int]int{}
	byType := map[int]map[string]int{}
	for _, n := range sizes {
		fl := *base
		fl.Things = declaredThings(base, n)
		if err := fl.Validate(); err != nil {
			t.Fatalf("%d things: %v", n, err)
		}
		// No bundling: the counts do not depend on the functions' code.
		app := newApp(t, map[string]any{"stage": "dev", "aws:cdk:bundling-stacks": []any{}})
		cfg := stacks.Config{Stage: stacks.StageDev, Fleet: &fl, Account: testAccount, Region: testRegion}
		st := stacks.NewFleet(app, cfg, stacks.NewFoundation(app, cfg))
		asm := app.Synth(nil)
		tmpl, err := compliance.FromValue(asm.GetStackByName(st.StackName()).Template())
		_ = os.RemoveAll(*asm.Directory())
		if err != nil {
			t.Fatal(err)
		}
		byType[n] = map[string]int{}
		for _, r := range tmpl.Resources("") {
			byType[n][r.Type]++
			total[n]++
		}
		t.Logf("Fleet stack with %d declared things (no CSRs): %d resources", n, total[n])
	}
	for _, n := range sizes[1:] {
		if got, want := total[n]-total[0], n*fleetspec.ThingResources; got != want {
			t.Errorf("%d declared things add %d resources, want %d (%d each)", n, got, want, fleetspec.ThingResources)
		}
		grew := map[string]int{}
		for typ, c := range byType[n] {
			if d := c - byType[0][typ]; d != 0 {
				grew[typ] = d
			}
		}
		want := map[string]int{"AWS::IoT::Thing": n, fleet.ResourceTypeThingType: n, fleet.ResourceTypeMembership: 2 * n}
		if diff := cmp.Diff(want, grew); diff != "" {
			t.Errorf("%d declared things: resources that grew (-want +got):\n%s", n, diff)
		}
	}
	if top := total[fleetspec.MaxThings]; top > fleet.MaxStackResources {
		t.Errorf("at the cap (%d things) the stack holds %d resources, above CloudFormation's %d", fleetspec.MaxThings, top, fleet.MaxStackResources)
	}
	// The construct's estimate of the fixed part must stay an upper bound.
	fixed := total[0] - 3*len(base.Classes) - len(base.Districts)
	if fixed > fleet.FixedResources {
		t.Errorf("the Fleet stack's fixed part is %d resources, above fleet.FixedResources %d", fixed, fleet.FixedResources)
	}
}

// TestNoStackOutsideFleetNamesAThing: no declared thing's name appears in any template but
// the Fleet stack's (IAM statements, environments, rule SQL, dashboards), so the other stacks
// neither grow with nor depend on the declared things.
func TestNoStackOutsideFleetNamesAThing(t *testing.T) {
	for _, stage := range []stacks.Stage{stacks.StageDev, stacks.StageProd} {
		fl := stageFleet(t, stage)
		s := synthOnce(t, stage)
		for name, tmpl := range s.templates {
			if strings.HasSuffix(name, "-Fleet") {
				continue
			}
			data, err := json.Marshal(tmpl)
			if err != nil {
				t.Fatal(err)
			}
			var named []string
			for _, th := range fl.Things {
				if thingNamed(string(data), th.Name) {
					named = append(named, th.Name)
				}
			}
			if len(named) > 0 {
				t.Errorf("%s names %d declared things, for example %v", name, len(named), named[:min(3, len(named))])
			}
		}
	}
}

// thingNamed reports whether text holds name as a whole word of the thing-name alphabet.
func thingNamed(text, name string) bool {
	inName := func(b byte) bool {
		return b == ':' || b == '_' || b == '-' || b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
	}
	for i := 0; ; {
		j := strings.Index(text[i:], name)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(name)
		if (start == 0 || !inName(text[start-1])) && (end == len(text) || !inName(text[end])) {
			return true
		}
		i = start + 1
	}
}
