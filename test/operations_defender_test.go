package test

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/secure-smart-city/platform/compliance"
	"github.com/secure-smart-city/platform/constructs/defender"
	"github.com/secure-smart-city/platform/lambdas/remediation/remediate"
)

// The 17 audit checks' API names, from SECURITY-REFERENCE.md.
var referenceCheckNames = []string{
	"AUTHENTICATED_COGNITO_ROLE_OVERLY_PERMISSIVE_CHECK", "CA_CERTIFICATE_EXPIRING_CHECK", "CA_CERTIFICATE_KEY_QUALITY_CHECK",
	"CONFLICTING_CLIENT_IDS_CHECK", "DEVICE_CERTIFICATE_AGE_CHECK", "DEVICE_CERTIFICATE_EXPIRING_CHECK",
	"DEVICE_CERTIFICATE_KEY_QUALITY_CHECK", "DEVICE_CERTIFICATE_SHARED_CHECK", "INTERMEDIATE_CA_REVOKED_FOR_ACTIVE_DEVICE_CERTIFICATES_CHECK",
	"IOT_POLICY_OVERLY_PERMISSIVE_CHECK", "IOT_POLICY_POTENTIAL_MISCONFIGURATION_CHECK", "IOT_ROLE_ALIAS_ALLOWS_ACCESS_TO_UNUSED_SERVICES_CHECK",
	"IOT_ROLE_ALIAS_OVERLY_PERMISSIVE_CHECK", "LOGGING_DISABLED_CHECK", "REVOKED_CA_CERTIFICATE_STILL_ACTIVE_CHECK",
	"REVOKED_DEVICE_CERTIFICATE_STILL_ACTIVE_CHECK", "UNAUTHENTICATED_COGNITO_ROLE_OVERLY_PERMISSIVE_CHECK",
}

// TestDeviceDefenderAudit: all 17 checks enabled (compared with the reference list), the
// certificate age threshold, the audit role, and notifications to the alert topic through a
// role that may only publish there.
func TestDeviceDefenderAudit(t *testing.T) {
	s, tmpl := operations(t)
	topic := alertTopicOutput(t, s)
	cfg := only(t, tmpl, "AWS::IoT::AccountAuditConfiguration", nil)
	p := cfg.Properties
	var keys []string
	for k, v := range p["AuditCheckConfigurations"].(map[string]any) {
		keys = append(keys, k)
		if compliance.Get(v, "Enabled") != true {
			t.Errorf("check %s is not enabled", k)
		}
	}
	sort.Strings(keys)
	reference := slices.Clone(compliance.AuditCheckKeys)
	sort.Strings(reference)
	if diff := cmp.Diff(reference, keys); diff != "" {
		t.Errorf("audit check keys (-reference +template):\n%s", diff)
	}
	var names []string
	for _, c := range defender.Checks {
		names = append(names, c.Name)
	}
	sort.Strings(names)
	if diff := cmp.Diff(referenceCheckNames, names); diff != "" {
		t.Errorf("defender.Checks API names (-reference +construct):\n%s", diff)
	}
	if got := compliance.Get(p, "AuditCheckConfigurations", "DeviceCertificateAgeCheck", "Configuration", "CertAgeThresholdInDays"); got != "365" {
		t.Errorf("certificate age threshold %v, want \"365\" (a string in CloudFormation)", got)
	}
	if p["AccountId"] != testAccount {
		t.Errorf("AccountId %v, want %s", p["AccountId"], testAccount)
	}
	audit := roleID(t, p["RoleArn"])
	if !trustsIoTOfThisAccount(tmpl, audit) {
		t.Errorf("audit role %s is not assumable by AWS IoT of this account only", audit)
	}
	for _, r := range tmpl.Resources("AWS::IAM::Role") {
		if r.ID == audit {
			if got := renderAll(r.Properties["ManagedPolicyArns"]); !slices.Equal(got, []string{"arn:aws:iam::aws:policy/service-role/AWSIoTDeviceDefenderAudit"}) {
				t.Errorf("audit role managed policies %v", got)
			}
		}
	}
	sns := compliance.Get(p, "AuditNotificationTargetConfigurations", "Sns")
	if compliance.Get(sns, "Enabled") != true || !isAlertTopic(compliance.Get(sns, "TargetArn"), topic) {
		t.Errorf("audit notification target %v, want the alert topic, enabled", sns)
	}
	notify := roleID(t, compliance.Get(sns, "RoleArn"))
	if !trustsIoTOfThisAccount(tmpl, notify) {
		t.Errorf("notification role %s is not assumable by AWS IoT of this account only", notify)
	}
	wantPublish := []statement{
		{Actions: []string{"kms:Decrypt", "kms:GenerateDataKey*"}, Resources: []string{"out:" + platformKeyArnOutput(t, s)}},
		{Actions: []string{"sns:Publish"}, Resources: []string{"out:" + topic}},
	}
	if diff := cmp.Diff(wantPublish, policyOf(tmpl, notify)); diff != "" {
		t.Errorf("notification role policy (-want +got):\n%s", diff)
	}
}

// platformKeyArnOutput is the Foundation output exporting the platform key's ARN.
func platformKeyArnOutput(t *testing.T, s *synthesized) string {
	t.Helper()
	f := s.templates["SmartCity-dev-Foundation"]
	outputs, _ := f["Outputs"].(map[string]any)
	for name, o := range outputs {
		if g, ok := compliance.Get(o, "Value", "Fn::GetAtt", 0).(string); ok && strings.HasPrefix(g, "PlatformKey") && compliance.Get(o, "Value", "Fn::GetAtt", 1) == "Arn" {
			return name
		}
	}
	t.Fatal("Foundation exports no platform key ARN")
	return ""
}

// TestDeviceDefenderSchedules: the daily audit runs the critical checks, the weekly one every
// check CloudFormation accepts in a schedule; both after the configuration that enables them.
func TestDeviceDefenderSchedules(t *testing.T) {
	_, tmpl := operations(t)
	cfg := only(t, tmpl, "AWS::IoT::AccountAuditConfiguration", nil)
	daily := []string{
		"AUTHENTICATED_COGNITO_ROLE_OVERLY_PERMISSIVE_CHECK", "CA_CERTIFICATE_KEY_QUALITY_CHECK", "DEVICE_CERTIFICATE_KEY_QUALITY_CHECK",
		"DEVICE_CERTIFICATE_SHARED_CHECK", "IOT_POLICY_OVERLY_PERMISSIVE_CHECK", "IOT_ROLE_ALIAS_OVERLY_PERMISSIVE_CHECK",
		"LOGGING_DISABLED_CHECK", "REVOKED_CA_CERTIFICATE_STILL_ACTIVE_CHECK", "REVOKED_DEVICE_CERTIFICATE_STILL_ACTIVE_CHECK",
		"UNAUTHENTICATED_COGNITO_ROLE_OVERLY_PERMISSIVE_CHECK",
	}
	// CloudFormation refuses these two in a scheduled audit (aws/aws-cdk PR 31776).
	weekly := slices.DeleteFunc(slices.Clone(referenceCheckNames), func(c string) bool {
		return c == "INTERMEDIATE_CA_REVOKED_FOR_ACTIVE_DEVICE_CERTIFICATES_CHECK" || c == "IOT_POLICY_POTENTIAL_MISCONFIGURATION_CHECK"
	})
	want := map[string]map[string]any{
		"smartcity_dev_daily_critical": {"Frequency": "DAILY", "DayOfWeek": nil, "Checks": daily},
		"smartcity_dev_weekly_all":     {"Frequency": "WEEKLY", "DayOfWeek": "SUN", "Checks": weekly},
	}
	got := map[string]map[string]any{}
	for _, a := range tmpl.Resources("AWS::IoT::ScheduledAudit") {
		var names []string
		for _, c := range compliance.List(a.Properties["TargetCheckNames"]) {
			names = append(names, c.(string))
		}
		sort.Strings(names)
		got[fmt.Sprint(a.Properties["ScheduledAuditName"])] = map[string]any{
			"Frequency": a.Properties["Frequency"], "DayOfWeek": a.Properties["DayOfWeek"], "Checks": names,
		}
		if !slices.Contains(compliance.List(a.Raw["DependsOn"]), any(cfg.ID)) {
			t.Errorf("%s does not depend on the audit configuration %s", a.ID, cfg.ID)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("scheduled audits (-want +got):\n%s", diff)
	}
}

// TestMitigationActions: the four actions, their parameters, and each role's exact,
// least-privilege permissions.
func TestMitigationActions(t *testing.T) {
	s, tmpl := operations(t)
	topic := alertTopicOutput(t, s)
	group := render(only(t, tmpl, "AWS::IoT::MitigationAction", func(r compliance.Resource) bool {
		return compliance.Get(r.Properties, "ActionParams", "AddThingsToThingGroupParams") != nil
	}).Properties["ActionParams"].(map[string]any)["AddThingsToThingGroupParams"].(map[string]any)["ThingGroupNames"].([]any)[0])
	if want := fleetOf(t).RulePrefix("dev") + "_quarantine"; group != want {
		t.Errorf("quarantine action's group %s, want the Fleet stack's %s", group, want)
	}
	arn := func(kind string) string { return "arn:aws:iot:" + testRegion + ":" + testAccount + ":" + kind + "/*" }
	type action struct {
		Params string
		Policy []statement
	}
	want := map[string]action{
		"smartcity_dev_deactivate_certificate": {`{"UpdateDeviceCertificateParams":{"Action":"DEACTIVATE"}}`,
			[]statement{{Actions: []string{"iot:UpdateCertificate"}, Resources: []string{arn("cert")}}}},
		"smartcity_dev_quarantine": {`{"AddThingsToThingGroupParams":{"OverrideDynamicGroups":true,"ThingGroupNames":["` + group + `"]}}`,
			[]statement{
				{Actions: []string{"iot:AddThingToThingGroup"}, Resources: []string{"<group arn>", arn("thing")}},
				{Actions: []string{"iot:ListPrincipalThings"}, Resources: []string{"*"}},
			}},
		"smartcity_dev_enable_logging": {`{"EnableIoTLoggingParams":{"LogLevel":"INFO","RoleArnForLogging":"LOGGING-ROLE"}}`,
			[]statement{
				{Actions: []string{"iam:PassRole"}, Resources: []string{"LOGGING-ROLE"}, Condition: `{"StringEquals":{"iam:PassedToService":"iot.amazonaws.com"}}`},
				{Actions: []string{"iot:SetV2LoggingOptions"}, Resources: []string{"*"}},
			}},
		"smartcity_dev_publish_finding": {`{"PublishFindingToSnsParams":{"TopicArn":"out:` + topic + `"}}`,
			[]statement{
				{Actions: []string{"kms:Decrypt", "kms:GenerateDataKey*"}, Resources: []string{"out:" + platformKeyArnOutput(t, s)}},
				{Actions: []string{"sns:Publish"}, Resources: []string{"out:" + topic}},
			}},
	}
	got := map[string]action{}
	var loggingRole string
	for _, a := range tmpl.Resources("AWS::IoT::MitigationAction") {
		role := roleID(t, a.Properties["RoleArn"])
		if !trustsIoTOfThisAccount(tmpl, role) {
			t.Errorf("%s: role %s is not assumable by AWS IoT of this account only", a.ID, role)
		}
		// A copy: the template is shared with the other tests (and the snapshot).
		var params any
		raw, _ := json.Marshal(a.Properties["ActionParams"])
		if err := json.Unmarshal(raw, &params); err != nil {
			t.Fatal(err)
		}
		if r := compliance.Get(params, "EnableIoTLoggingParams", "RoleArnForLogging"); r != nil {
			// The Fleet stack's logging role, the one AWS IoT already logs with.
			loggingRole = render(r)
			params.(map[string]any)["EnableIoTLoggingParams"].(map[string]any)["RoleArnForLogging"] = "LOGGING-ROLE"
		}
		if tn := compliance.Get(params, "AddThingsToThingGroupParams", "ThingGroupNames"); tn != nil {
			params.(map[string]any)["AddThingsToThingGroupParams"].(map[string]any)["ThingGroupNames"] = renderAll(tn)
		}
		if tp := compliance.Get(params, "PublishFindingToSnsParams", "TopicArn"); tp != nil {
			params.(map[string]any)["PublishFindingToSnsParams"].(map[string]any)["TopicArn"] = render(tp)
		}
		data, _ := json.Marshal(params)
		policy := policyOf(tmpl, role)
		for i, st := range policy {
			for j, r := range st.Resources {
				if r == loggingRole && loggingRole != "" {
					policy[i].Resources[j] = "LOGGING-ROLE"
				}
				if strings.HasPrefix(r, "out:") && strings.Contains(r, "QuarantineGroup") {
					policy[i].Resources[j] = "<group arn>"
				}
			}
			sort.Strings(policy[i].Resources)
		}
		got[fmt.Sprint(a.Properties["ActionName"])] = action{Params: string(data), Policy: policy}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("mitigation actions (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(loggingRole, "out:") || !strings.Contains(loggingRole, "IoTLoggingRole") {
		t.Errorf("enable-logging mitigation passes %s, want the Fleet stack's IoT logging role", loggingRole)
	}
}

// TestDefenderChecksMatchRemediation: the audit enables exactly the checks the remediation
// function knows a response for, so no finding falls through to its "unknown check" path, and
// every check whose finding the function contains automatically runs in the daily audit. (The
// construct does not import the function's logic; this is where both meet.)
func TestDefenderChecksMatchRemediation(t *testing.T) {
	var names []string
	for _, c := range defender.Checks {
		names = append(names, c.Name)
	}
	slices.Sort(names)
	if diff := cmp.Diff(remediate.AuditChecks(), names); diff != "" {
		t.Errorf("checks differ from remediate.AuditChecks() (-remediate +defender):\n%s", diff)
	}
	daily := defender.DailyChecks()
	for _, c := range defender.Checks {
		steps := remediate.CheckSteps(c.Name)
		contains := slices.Contains(steps, remediate.StepDeactivateCertificate) || slices.Contains(steps, remediate.StepQuarantine)
		if contains && !c.Unschedulable && !slices.Contains(daily, c.Name) {
			t.Errorf("%s is contained automatically but not in the daily audit", c.Name)
		}
	}
}
