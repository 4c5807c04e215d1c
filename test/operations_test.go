package test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/cxapi"
	"github.com/aws/jsii-runtime-go"
	"github.com/google/go-cmp/cmp"

	"github.com/secure-smart-city/platform/compliance"
	"github.com/secure-smart-city/platform/constructs/defender"
	"github.com/secure-smart-city/platform/constructs/golambda"
	"github.com/secure-smart-city/platform/constructs/ingest"
	"github.com/secure-smart-city/platform/constructs/monitoring"
	"github.com/secure-smart-city/platform/constructs/securestore"
	"github.com/secure-smart-city/platform/fleetspec"
	"github.com/secure-smart-city/platform/lambdas/remediation/remediate"
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

// alarmSig is what an alarm watches and how it decides.
type alarmSig struct {
	Metric     string // "namespace metric stat period [dims]" or "expr: <expression> [sub-metrics]"
	Threshold  float64
	Op         string
	Missing    string
	Evaluation [2]float64 // evaluation periods, datapoints to alarm
}

func dimsOf(v any) string {
	var parts []string
	for _, d := range compliance.List(v) {
		val, ok := compliance.Get(d, "Value").(string)
		if !ok {
			val = "<ref>"
		}
		parts = append(parts, fmt.Sprintf("%v=%s", compliance.Get(d, "Name"), val))
	}
	sort.Strings(parts)
	return "[" + strings.Join(parts, " ") + "]"
}

func signature(p map[string]any) alarmSig {
	sig := alarmSig{Op: fmt.Sprint(p["ComparisonOperator"]), Missing: fmt.Sprint(p["TreatMissingData"])}
	sig.Threshold, _ = p["Threshold"].(float64)
	sig.Evaluation[0], _ = p["EvaluationPeriods"].(float64)
	sig.Evaluation[1], _ = p["DatapointsToAlarm"].(float64)
	if name, ok := p["MetricName"].(string); ok {
		stat := p["Statistic"]
		if stat == nil {
			stat = p["ExtendedStatistic"]
		}
		sig.Metric = fmt.Sprintf("%v %s %v %v %s", p["Namespace"], name, stat, p["Period"], dimsOf(p["Dimensions"]))
		return sig
	}
	var expr string
	var subs []string
	for _, m := range compliance.List(p["Metrics"]) {
		if e, ok := compliance.Get(m, "Expression").(string); ok {
			expr = e
			continue
		}
		ms := compliance.Get(m, "MetricStat")
		subs = append(subs, fmt.Sprintf("%v=%v %v %v %v %s", compliance.Get(m, "Id"), compliance.Get(ms, "Metric", "Namespace"), compliance.Get(ms, "Metric", "MetricName"),
			compliance.Get(ms, "Stat"), compliance.Get(ms, "Period"), dimsOf(compliance.Get(ms, "Metric", "Dimensions"))))
	}
	sort.Strings(subs)
	sig.Metric = "expr: " + expr + " " + strings.Join(subs, "; ")
	return sig
}

// expectedAlarms is every alarm the Operations stack must have, by name.
func expectedAlarms(fleet *fleetspec.Fleet) map[string]alarmSig {
	const gt, gte, nb = "GreaterThanThreshold", "GreaterThanOrEqualToThreshold", "notBreaching"
	one := [2]float64{1, 1}
	want := map[string]alarmSig{}
	p := "SmartCity-dev-"
	throttled := "expr: getitem + putitem + updateitem + batchwriteitem + batchgetitem + query " +
		"batchgetitem=AWS/DynamoDB ThrottledRequests Sum 300 [Operation=BatchGetItem TableName=<ref>]; " +
		"batchwriteitem=AWS/DynamoDB ThrottledRequests Sum 300 [Operation=BatchWriteItem TableName=<ref>]; " +
		"getitem=AWS/DynamoDB ThrottledRequests Sum 300 [Operation=GetItem TableName=<ref>]; " +
		"putitem=AWS/DynamoDB ThrottledRequests Sum 300 [Operation=PutItem TableName=<ref>]; " +
		"query=AWS/DynamoDB ThrottledRequests Sum 300 [Operation=Query TableName=<ref>]; " +
		"updateitem=AWS/DynamoDB ThrottledRequests Sum 300 [Operation=UpdateItem TableName=<ref>]"
	for _, table := range []string{"DeviceState", "ProvisioningAllowlist", "CommandAudit"} {
		want[p+table+"-Throttles"] = alarmSig{throttled, 0, gt, nb, one}
	}
	queue := func(name string) {
		want[p+name+"-MessagesWaiting"] = alarmSig{"AWS/SQS ApproximateNumberOfMessagesVisible Maximum 300 [QueueName=<ref>]", 0, gt, nb, one}
	}
	function := func(name string, timeoutMs float64) {
		lambda := func(metric, stat string) string {
			return "AWS/Lambda " + metric + " " + stat + " 300 [FunctionName=<ref>]"
		}
		want[p+name+"-Errors"] = alarmSig{lambda("Errors", "Sum"), 0, gt, nb, one}
		want[p+name+"-Throttles"] = alarmSig{lambda("Throttles", "Sum"), 0, gt, nb, one}
		want[p+name+"-DurationNearTimeout"] = alarmSig{lambda("Duration", "p99"), 0.8 * timeoutMs, gt, nb, [2]float64{3, 2}}
	}
	queue("RuleErrors")
	function("TelemetryProcessor", 30000)
	want[p+"TelemetryProcessor-IteratorAge"] = alarmSig{"AWS/Lambda IteratorAge Maximum 300 [FunctionName=<ref>]", 300000, gt, nb, [2]float64{2, 2}}
	queue("TelemetryProcessorFailures")
	want[p+"TelemetryStream-IteratorAge"] = alarmSig{"AWS/Kinesis GetRecords.IteratorAgeMilliseconds Maximum 300 [StreamName=<ref>]", 300000, gt, "breaching", [2]float64{2, 2}}
	want[p+"TelemetryStream-WriteThrottles"] = alarmSig{"AWS/Kinesis WriteProvisionedThroughputExceeded Sum 300 [StreamName=<ref>]", 0, gt, nb, one}
	for _, c := range fleet.Classes {
		rule := fleet.RulePrefix("dev") + "_" + c.ID
		want[p+"Rule-"+rule+"-Throttled"] = alarmSig{"AWS/IoT RuleMessageThrottled Sum 300 [RuleName=" + rule + "]", 0, gt, nb, one}
		want[p+"Rule-"+rule+"-ParseErrors"] = alarmSig{"AWS/IoT ParseError Sum 300 [RuleName=" + rule + "]", 0, gt, nb, one}
		want[p+"Rule-"+rule+"-ActionFailures"] = alarmSig{`expr: SELECT SUM(Failure) FROM SCHEMA("AWS/IoT", ActionType, RuleName) WHERE RuleName = '` + rule + `' `, 0, gt, nb, one}
		want[p+"Rule-"+rule+"-ErrorActionFailures"] = alarmSig{`expr: SELECT SUM(ErrorActionFailure) FROM SCHEMA("AWS/IoT", ActionType, RuleName) WHERE RuleName = '` + rule + `' `, 0, gt, nb, one}
		want[p+"Telemetry-"+c.ID+"-RejectedRatio"] = alarmSig{"expr: 100 * num / den " +
			"den=SmartCity/Telemetry Received Sum 300 [Class=" + c.ID + "]; num=SmartCity/Telemetry Rejected Sum 300 [Class=" + c.ID + "]",
			5, gt, nb, [2]float64{3, 2}}
	}
	for name, metric := range map[string]string{"AuthenticationFailures": "Connection.AuthNError", "ConnectAuthorizationFailures": "Connect.AuthError",
		"PublishAuthorizationFailures": "PublishIn.AuthError", "SubscribeAuthorizationFailures": "Subscribe.AuthError"} {
		threshold := 5.0
		if name == "AuthenticationFailures" {
			threshold = 100
		}
		want[p+"IoT-"+name] = alarmSig{`expr: SELECT SUM("` + metric + `") FROM SCHEMA("AWS/IoT", Protocol) `, threshold, gte, nb, one}
	}
	for _, m := range []string{remediate.MetricAuthorizationFailures, remediate.MetricDuplicateClientIDs} {
		id := map[string]string{remediate.MetricAuthorizationFailures: "AuthorizationFailures", remediate.MetricDuplicateClientIDs: "DuplicateClientIds"}[m]
		want[p+"Security-"+id] = alarmSig{remediate.Namespace + " " + m + " Sum 300 []", 5, gte, nb, one}
	}
	function("AuditRemediation", 60000)
	queue("AuditRemediationFailures")
	function("Quarantine", 60000)
	queue("QuarantineFailures")
	queue("RemediationDeadLetters")
	function("CommandProcessor", 10000)
	want[p+"CommandApi-ServerErrors"] = alarmSig{"AWS/ApiGateway 5XXError Sum 300 [ApiName=<api> Stage=<ref>]", 1, gte, nb, one}
	want[p+"CommandApi-AuditIntentWriteFailed"] = alarmSig{"SmartCity/Commands AuditWriteFailed Sum 300 [Phase=intent]", 1, gte, nb, one}
	want[p+"CommandApi-AuditOutcomeWriteFailed"] = alarmSig{"SmartCity/Commands AuditWriteFailed Sum 300 [Phase=outcome]", 1, gte, nb, one}
	// Over-the-air updates (stacks/ota.go): job executions over every JobId.
	want[p+"Ota-FailedExecutions"] = alarmSig{`expr: SELECT SUM(FailedJobExecutionCount) FROM SCHEMA("AWS/IoT", JobId) `, 5, gte, nb, one}
	want[p+"Ota-RejectedExecutions"] = alarmSig{`expr: SELECT SUM(RejectedJobExecutionCount) FROM SCHEMA("AWS/IoT", JobId) `, 1, gte, nb, one}
	want[p+"Ota-CanceledExecutions"] = alarmSig{`expr: SELECT SUM(CanceledJobExecutionCount) FROM SCHEMA("AWS/IoT", JobId) `, 1, gte, nb, one}
	return want
}

// TestOperationsAlarms: every alarm of the Operations stack, what it watches, its threshold,
// comparison and missing-data treatment, and that it notifies the alert topic when it fires and
// when it recovers. The set is exact: an alarm without an expectation fails the test.
func TestOperationsAlarms(t *testing.T) {
	s, tmpl := operations(t)
	topic := alertTopicOutput(t, s)
	want := expectedAlarms(fleetOf(t))
	got := map[string]alarmSig{}
	for _, a := range tmpl.Resources("AWS::CloudWatch::Alarm") {
		name, _ := a.Properties["AlarmName"].(string)
		if _, dup := got[name]; dup {
			t.Errorf("alarm name %s twice", name)
		}
		sig := signature(a.Properties)
		// The API's name is generated.
		sig.Metric = apiName.ReplaceAllString(sig.Metric, "ApiName=<api>")
		got[name] = sig
		for _, key := range []string{"AlarmActions", "OKActions"} {
			actions := compliance.List(a.Properties[key])
			if len(actions) != 1 || !isAlertTopic(actions[0], topic) {
				t.Errorf("%s: %s = %v, want exactly the alert topic (%s)", name, key, actions, topic)
			}
		}
		if d, _ := a.Properties["AlarmDescription"].(string); len(d) < 80 {
			t.Errorf("%s: description %q does not say what broke and where to look", name, d)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Operations alarms (-want +got):\n%s", diff)
	}
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

// snsFilterMatches evaluates an SNS message-body filter policy made of string allowlists and
// nested keys, the subset the remediation subscriptions use.
func snsFilterMatches(policy map[string]any, msg map[string]any) bool {
	for k, cond := range policy {
		if k == "$or" {
			matched := false
			for _, alt := range compliance.List(cond) {
				if m, ok := alt.(map[string]any); ok && snsFilterMatches(m, msg) {
					matched = true
				}
			}
			if !matched {
				return false
			}
			continue
		}
		switch c := cond.(type) {
		case []any:
			v, ok := msg[k].(string)
			if !ok || !slices.Contains(c, any(v)) {
				return false
			}
		case map[string]any:
			inner, ok := msg[k].(map[string]any)
			if !ok || !snsFilterMatches(c, inner) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

func remediationSample(t *testing.T, name string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(moduleRoot(t), "lambdas", "remediation", "remediate", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestRemediationWiring: the audit and quarantine functions, their environment and exact
// permissions, and the alert-topic subscriptions whose filters deliver audit notifications to
// the one and security alarms to the other (checked against the remediation package's sample
// messages), with a dead-letter queue.
func TestRemediationWiring(t *testing.T) {
	s, tmpl := operations(t)
	topic := alertTopicOutput(t, s)
	fn := func(entry string) compliance.Resource {
		return only(t, tmpl, "AWS::Lambda::Function", func(r compliance.Resource) bool {
			return strings.HasSuffix(fmt.Sprint(r.Properties["Description"]), entry)
		})
	}
	audit := fn("starts Device Defender mitigation tasks for audit findings")
	quarantine := fn("quarantines the things of the certificates behind confirmed security alarms")

	names := map[string]string{}
	for _, a := range tmpl.Resources("AWS::IoT::MitigationAction") {
		for param, env := range map[string]string{"UpdateDeviceCertificateParams": "ACTION_DEACTIVATE_CERT", "AddThingsToThingGroupParams": "ACTION_QUARANTINE",
			"EnableIoTLoggingParams": "ACTION_ENABLE_LOGGING", "PublishFindingToSnsParams": "ACTION_PUBLISH_FINDING"} {
			if compliance.Get(a.Properties, "ActionParams", param) != nil {
				names[env] = fmt.Sprint(a.Properties["ActionName"])
			}
		}
	}
	names["FLEET_FILE"] = "/var/task/fleet.json"
	names[remediate.EnvThingTypePrefix] = fleetOf(t).RulePrefix("dev")
	gotEnv := map[string]string{}
	for k, v := range compliance.Get(audit.Properties, "Environment", "Variables").(map[string]any) {
		gotEnv[k] = render(v)
	}
	if diff := cmp.Diff(names, gotEnv); diff != "" {
		t.Errorf("audit function environment (-want: the mitigation actions' names +got):\n%s", diff)
	}
	anyThing := "arn:aws:iot:" + testRegion + ":" + testAccount + ":thing/*"
	wantAudit := []statement{
		{Actions: []string{"iot:DescribeThing"}, Resources: []string{anyThing}},
		{Actions: []string{"iot:ListAuditFindings", "iot:StartAuditMitigationActionsTask"}, Resources: []string{"*"}},
	}
	if diff := cmp.Diff(wantAudit, remediationStatements(tmpl, audit)); diff != "" {
		t.Errorf("audit function permissions (-want +got):\n%s", diff)
	}

	security := only(t, tmpl, "AWS::CloudWatch::Alarm", func(r compliance.Resource) bool {
		return r.Properties["AlarmName"] == "SmartCity-dev-Security-AuthorizationFailures"
	})
	dupAlarm := only(t, tmpl, "AWS::CloudWatch::Alarm", func(r compliance.Resource) bool {
		return r.Properties["AlarmName"] == "SmartCity-dev-Security-DuplicateClientIds"
	})
	qEnv := map[string]string{}
	for k, v := range compliance.Get(quarantine.Properties, "Environment", "Variables").(map[string]any) {
		qEnv[k] = render(v)
	}
	group := qEnv["QUARANTINE_GROUP"]
	wantQEnv := map[string]string{"FLEET_FILE": "/var/task/fleet.json", remediate.EnvThingTypePrefix: fleetOf(t).RulePrefix("dev"),
		"QUARANTINE_GROUP": group, "DEACTIVATE_CERTIFICATES": "false",
		"DEVICE_THRESHOLD": fmt.Sprint(security.Properties["Threshold"]),
		// The alarms it acts on, by name; the threshold and window come from these alarms.
		"SECURITY_ALARMS": "ref:" + security.ID + ",ref:" + dupAlarm.ID,
		"IOT_LOG_GROUP":   qEnv["IOT_LOG_GROUP"],
		// The account's certificate ARNs: a principalId plus this is what ListPrincipalThings takes.
		"CERTIFICATE_ARN_PREFIX": "arn:aws:iot:" + testRegion + ":" + testAccount + ":cert/",
		"ALERT_TOPIC_ARN":        qEnv["ALERT_TOPIC_ARN"],
		"BUDGET_TABLE":           qEnv["BUDGET_TABLE"],
		"QUARANTINE_CAP":         "10",
		"CLAIM_POLICY":           fleetOf(t).RulePrefix("dev") + "_claim",
	}
	if diff := cmp.Diff(wantQEnv, qEnv); diff != "" || group != fleetOf(t).RulePrefix("dev")+"_quarantine" ||
		!isFleetIoTLogs(qEnv["IOT_LOG_GROUP"]) || !isAlertTopic(compliance.Get(quarantine.Properties, "Environment", "Variables", "ALERT_TOPIC_ARN"), topic) ||
		!strings.Contains(qEnv["BUDGET_TABLE"], "DeviceState") {
		t.Errorf("quarantine function environment (group %s, logs %s, topic %s, budget %s) (-want +got):\n%s",
			group, qEnv["IOT_LOG_GROUP"], qEnv["ALERT_TOPIC_ARN"], qEnv["BUDGET_TABLE"], diff)
	}
	// Exactly what it needs: read the two security alarms and their metric, query the IoT log
	// group, list a certificate's things and the claim policy's certificates, quarantine,
	// count its actions in the budget item, and report to the alert topic. No certificate
	// permission while DEACTIVATE_CERTIFICATES is false, no read or delete of device state.
	wantQ := []statement{
		{Actions: []string{"cloudwatch:DescribeAlarms"}, Resources: sorted([]string{"att:" + dupAlarm.ID + ".Arn", "att:" + security.ID + ".Arn"})},
		// The actions with no resource-level permissions (CDK merges their statements).
		{Actions: []string{"cloudwatch:GetMetricData", "iot:ListPrincipalThings", "logs:GetQueryResults"}, Resources: []string{"*"}},
		{Actions: []string{"logs:StartQuery"}, Resources: []string{"<iot logs arn>"}},
		{Actions: []string{"iot:ListTargetsForPolicy"}, Resources: []string{"arn:aws:iot:" + testRegion + ":" + testAccount + ":policy/" + fleetOf(t).RulePrefix("dev") + "_claim"}},
		{Actions: []string{"iot:AddThingToThingGroup"}, Resources: []string{"<group arn>", anyThing}},
		{Actions: []string{"iot:DescribeThing"}, Resources: []string{anyThing}},
		{Actions: []string{"dynamodb:UpdateItem"}, Resources: []string{"<state table arn>"}},
		{Actions: []string{"sns:Publish"}, Resources: []string{"<alert topic>"}},
	}
	gotQ := remediationStatements(tmpl, quarantine)
	for i := range gotQ {
		for j, r := range gotQ[i].Resources {
			switch {
			case strings.HasPrefix(r, "out:") && strings.Contains(r, "QuarantineGroup"):
				gotQ[i].Resources[j] = "<group arn>"
			case strings.HasPrefix(r, "arn:aws:logs:"+testRegion+":"+testAccount+":log-group:out:") && strings.Contains(r, "IoTLogging"):
				gotQ[i].Resources[j] = "<iot logs arn>"
				if strings.HasSuffix(r, ":*") {
					gotQ[i].Resources[j] += ":*"
				}
			case strings.HasPrefix(r, "out:") && strings.Contains(r, "DeviceState"):
				gotQ[i].Resources[j] = "<state table arn>"
			case r == "out:"+topic:
				gotQ[i].Resources[j] = "<alert topic>"
			}
		}
		sort.Strings(gotQ[i].Resources)
	}
	byActions := func(a, b statement) int {
		return strings.Compare(strings.Join(a.Actions, ","), strings.Join(b.Actions, ","))
	}
	slices.SortFunc(wantQ, byActions)
	slices.SortFunc(gotQ, byActions)
	if diff := cmp.Diff(wantQ, gotQ); diff != "" {
		t.Errorf("quarantine function permissions (-want +got):\n%s", diff)
	}
	// The detection alarm is a single-metric alarm, so its notification carries
	// Trigger.Namespace, which the subscription filters on.
	if security.Properties["Namespace"] != remediate.Namespace || security.Properties["MetricName"] != remediate.MetricAuthorizationFailures {
		t.Errorf("security alarm watches %v %v, want the %s fleet total", security.Properties["Namespace"], security.Properties["MetricName"], remediate.Namespace)
	}

	subs := map[string]compliance.Resource{}
	for _, sub := range tmpl.Resources("AWS::SNS::Subscription") {
		subs[render(sub.Properties["Endpoint"])] = sub
		if !isAlertTopic(sub.Properties["TopicArn"], topic) || sub.Properties["Protocol"] != "lambda" || sub.Properties["FilterPolicyScope"] != "MessageBody" {
			t.Errorf("subscription %s: topic %v, protocol %v, scope %v; want the alert topic, lambda, MessageBody",
				sub.ID, sub.Properties["TopicArn"], sub.Properties["Protocol"], sub.Properties["FilterPolicyScope"])
		}
		if dlq := render(compliance.Get(sub.Properties, "RedrivePolicy", "deadLetterTargetArn")); !strings.Contains(dlq, "RemediationDeadLetters") {
			t.Errorf("subscription %s has no dead-letter queue (%s)", sub.ID, dlq)
		}
	}
	auditSub, ok1 := subs["att:"+audit.ID+".Arn"]
	quarantineSub, ok2 := subs["att:"+quarantine.ID+".Arn"]
	if len(subs) != 2 || !ok1 || !ok2 {
		var endpoints []string
		for k := range subs {
			endpoints = append(endpoints, k)
		}
		t.Fatalf("subscriptions to %v, want one per remediation function", endpoints)
	}
	auditFilter := auditSub.Properties["FilterPolicy"].(map[string]any)
	quarantineFilter := quarantineSub.Properties["FilterPolicy"].(map[string]any)
	notification := remediationSample(t, "audit-notification.json")
	alarm := remediationSample(t, "alarm-authorization-failures.json")
	recovered := remediationSample(t, "alarm-authorization-failures.json")
	recovered["NewStateValue"] = "OK"
	other := remediationSample(t, "alarm-authorization-failures.json")
	other["Trigger"].(map[string]any)["Namespace"] = "AWS/Lambda"
	for _, c := range []struct {
		name           string
		msg            map[string]any
		audit, isolate bool
	}{
		{"audit notification", notification, true, false},
		{"security alarm", alarm, false, true},
		{"security alarm back to OK", recovered, false, false},
		{"another alarm", other, false, false},
	} {
		if got := snsFilterMatches(auditFilter, c.msg); got != c.audit {
			t.Errorf("%s reaches the audit function: %v, want %v", c.name, got, c.audit)
		}
		if got := snsFilterMatches(quarantineFilter, c.msg); got != c.isolate {
			t.Errorf("%s reaches the quarantine function: %v, want %v", c.name, got, c.isolate)
		}
	}

	for _, f := range []compliance.Resource{audit, quarantine} {
		perm := only(t, tmpl, "AWS::Lambda::Permission", func(r compliance.Resource) bool {
			return compliance.Get(r.Properties, "FunctionName", "Fn::GetAtt", 0) == f.ID
		})
		if perm.Properties["Principal"] != "sns.amazonaws.com" || !isAlertTopic(perm.Properties["SourceArn"], topic) {
			t.Errorf("%s invoke permission: principal %v source %v; want SNS from the alert topic", f.ID, perm.Properties["Principal"], perm.Properties["SourceArn"])
		}
		cfg := only(t, tmpl, "AWS::Lambda::EventInvokeConfig", func(r compliance.Resource) bool {
			return compliance.Get(r.Properties, "FunctionName", "Ref") == f.ID
		})
		if compliance.Get(cfg.Properties, "DestinationConfig", "OnFailure", "Destination") == nil {
			t.Errorf("%s has no on-failure destination", f.ID)
		}
	}
}

// remediationStatements are a function role's statements without the grants every Go function
// has (its log group, key, X-Ray, failure queue).
func remediationStatements(tmpl compliance.Template, fn compliance.Resource) []statement {
	role := compliance.Get(fn.Properties, "Role", "Fn::GetAtt", 0).(string)
	var out []statement
	for _, st := range policyOf(tmpl, role) {
		st.Actions = slices.DeleteFunc(st.Actions, func(a string) bool {
			if a == "logs:StartQuery" || a == "logs:GetQueryResults" {
				return false // the quarantine's Logs Insights query, not a common grant
			}
			for _, common := range []string{"logs:", "xray:", "kms:", "sqs:"} {
				if strings.HasPrefix(a, common) {
					return true
				}
			}
			return false
		})
		if len(st.Actions) > 0 {
			out = append(out, st)
		}
	}
	return out
}

// isFleetIoTLogs reports whether a rendered log group name is the Fleet stack's AWSIotLogsV2
// group (a cross-stack reference to its IoT logging construct).
func isFleetIoTLogs(rendered string) bool {
	return strings.HasPrefix(rendered, "out:") && strings.Contains(rendered, "IoTLogging")
}

// TestDetectionMetricFilters: fleet-total filters over the IoT v2 log group, with the patterns
// and names the quarantine function reads, and no per-device dimension.
func TestDetectionMetricFilters(t *testing.T) {
	_, tmpl := operations(t)
	type filter struct {
		Pattern, Group, Metric string
		Dimensions             string
		Default                any
	}
	var want, got []filter
	for _, d := range []struct{ metric, pattern string }{
		{remediate.MetricAuthorizationFailures, remediate.FilterPatternAuthorizationFailures},
		{remediate.MetricDuplicateClientIDs, remediate.FilterPatternDuplicateClientIDs},
	} {
		// The fleet totals only: no dimension, so nothing a client chooses becomes a series.
		want = append(want, filter{d.pattern, "AWSIotLogsV2", remediate.Namespace + "/" + d.metric + "=1 Count", "null", 0.0})
	}
	for _, f := range tmpl.Resources("AWS::Logs::MetricFilter") {
		mt := compliance.Get(f.Properties, "MetricTransformations", 0)
		dims, _ := json.Marshal(compliance.Get(mt, "Dimensions"))
		group := render(f.Properties["LogGroupName"])
		if isFleetIoTLogs(group) {
			group = "AWSIotLogsV2"
		}
		got = append(got, filter{fmt.Sprint(f.Properties["FilterPattern"]), group,
			fmt.Sprintf("%v/%v=%v %v", compliance.Get(mt, "MetricNamespace"), compliance.Get(mt, "MetricName"), compliance.Get(mt, "MetricValue"), compliance.Get(mt, "Unit")),
			string(dims), compliance.Get(mt, "DefaultValue")})
	}
	less := func(a, b filter) int { return strings.Compare(a.Metric+a.Dimensions, b.Metric+b.Dimensions) }
	slices.SortFunc(want, less)
	slices.SortFunc(got, less)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("metric filters (-want +got):\n%s", diff)
	}
	if n := len(tmpl.Resources("AWS::IoT::SecurityProfile")); n != 0 {
		t.Errorf("%d Detect security profiles with defenderDetect off, want none", n)
	}
}

// dashboardBody parses a dashboard's body, a Fn::Join of JSON text and references; references
// sit inside JSON strings, so a placeholder keeps the text valid.
func dashboardBody(t *testing.T, d compliance.Resource) map[string]any {
	t.Helper()
	var b strings.Builder
	for _, part := range compliance.List(compliance.Get(d.Properties, "DashboardBody", "Fn::Join", 1)) {
		if s, ok := part.(string); ok {
			b.WriteString(s)
		} else {
			b.WriteString("<ref>")
		}
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(b.String()), &body); err != nil {
		t.Fatalf("dashboard body is not JSON: %v\n%s", err, b.String())
	}
	return body
}

// TestControlCenter: the Smart City Control Center shows, per device class, messages in,
// accepted, rejected (by reason) and latency; the pipeline's errors, iterator age and dead
// letters; connected devices, authentication failures, detections and audit findings; and the
// state of every alarm.
func TestControlCenter(t *testing.T) {
	_, tmpl := operations(t)
	// The OTA rollout dashboard (stacks/ota.go) shares the stack.
	d := only(t, tmpl, "AWS::CloudWatch::Dashboard", func(r compliance.Resource) bool { return r.Properties["DashboardName"] != "SmartCity-dev-Rollouts" })
	if d.Properties["DashboardName"] != "SmartCity-dev-ControlCenter" {
		t.Errorf("dashboard name %v", d.Properties["DashboardName"])
	}
	widgets := map[string]map[string]any{}
	for _, w := range compliance.List(dashboardBody(t, d)["widgets"]) {
		props, _ := compliance.Get(w, "properties").(map[string]any)
		title, _ := props["title"].(string)
		if compliance.Get(w, "type") == "text" {
			title = "text"
		}
		widgets[title] = props
	}
	fleet := fleetOf(t)
	var want []string
	for _, c := range fleet.Classes {
		want = append(want, "Messages in, accepted, rejected: "+c.Name, "Rejected by reason: "+c.Name, "Processing latency (ms): "+c.Name)
	}
	for _, d := range fleet.Districts {
		want = append(want, "Messages in by class: "+d.Name, "Accepted and rejected by class: "+d.Name)
	}
	want = append(want, "text", "Alarm states", "Processor errors and throttles", "Iterator age (ms)", "Dead letters waiting",
		"Topic rules: matched and throttled", "Connected devices (last Connect/Disconnect in range was a Connect)", "Connections by protocol",
		"Authentication and authorization failures", "Certificates failing authorization", "Behaviour detection (fleet totals)",
		"Audit findings: non-compliant resources by check", "Rejected records by thing (class, district, reason)")
	var got []string
	for title := range widgets {
		got = append(got, title)
	}
	sort.Strings(want)
	sort.Strings(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("widgets (-want +got):\n%s", diff)
	}

	// Per district, one series per class of each processor count, from the (Class, District)
	// metrics the telemetry processor emits.
	for _, d := range fleet.Districts {
		for title, metrics := range map[string][]string{
			"Messages in by class: " + d.Name:           {ingest.ProcessorReceived},
			"Accepted and rejected by class: " + d.Name: {ingest.ProcessorAccepted, ingest.ProcessorRejected},
		} {
			var exprs []string
			for _, m := range compliance.List(widgets[title]["metrics"]) {
				exprs = append(exprs, fmt.Sprint(compliance.Get(compliance.List(m)[0], "expression")))
			}
			var want []string
			for _, metric := range metrics {
				want = append(want, `SEARCH('{"SmartCity/Telemetry",Class,District} MetricName="`+metric+`" District="`+d.ID+`"', 'Sum', 300)`)
			}
			if diff := cmp.Diff(want, exprs); diff != "" {
				t.Errorf("%s series (-want +got):\n%s", title, diff)
			}
		}
	}
	// The OTA alarms (stacks/ota.go) are on the Rollouts dashboard (TestOTAAlarms).
	alarms := 0
	for _, a := range tmpl.Resources("AWS::CloudWatch::Alarm") {
		if !strings.Contains(fmt.Sprint(a.Properties["AlarmName"]), "-Ota-") {
			alarms++
		}
	}
	if n := len(compliance.List(widgets["Alarm states"]["alarms"])); n != alarms {
		t.Errorf("alarm status widget shows %d alarms, the stack has %d", n, alarms)
	}
	metricNames := func(title string) []string {
		var out []string
		for _, m := range compliance.List(widgets[title]["metrics"]) {
			l := compliance.List(m)
			if e := compliance.Get(l[len(l)-1], "expression"); e != nil {
				out = append(out, fmt.Sprint(e))
				continue
			}
			var parts []string
			for _, p := range l {
				if s, ok := p.(string); ok {
					parts = append(parts, s)
				}
			}
			out = append(out, strings.Join(parts, " "))
		}
		return out
	}
	for _, c := range fleet.Classes {
		ns := "SmartCity/Telemetry "
		if diff := cmp.Diff([]string{ns + "Received Class " + c.ID, ns + "Accepted Class " + c.ID, ns + "Rejected Class " + c.ID},
			metricNames("Messages in, accepted, rejected: "+c.Name)); diff != "" {
			t.Errorf("%s messages widget (-want +got):\n%s", c.ID, diff)
		}
		if diff := cmp.Diff([]string{`SEARCH('{"SmartCity/Telemetry",Class,Reason} MetricName="Rejected" Class="` + c.ID + `"', 'Sum', 300)`},
			metricNames("Rejected by reason: "+c.Name)); diff != "" {
			t.Errorf("%s rejected-by-reason widget (-want +got):\n%s", c.ID, diff)
		}
		if diff := cmp.Diff([]string{ns + "ProcessingLatency Class " + c.ID}, metricNames("Processing latency (ms): "+c.Name)); diff != "" {
			t.Errorf("%s latency widget (-want +got):\n%s", c.ID, diff)
		}
	}
	wantMetrics := map[string][]string{
		"Connections by protocol": {`SEARCH('{"AWS/IoT",Protocol} MetricName="Connect.Success"', 'Sum', 300)`},
		"Authentication and authorization failures": {
			`SEARCH('{"AWS/IoT",Protocol} MetricName="Connection.AuthNError"', 'Sum', 300)`,
			`SEARCH('{"AWS/IoT",Protocol} MetricName="Connect.AuthError"', 'Sum', 300)`,
			`SEARCH('{"AWS/IoT",Protocol} MetricName="PublishIn.AuthError"', 'Sum', 300)`,
			`SEARCH('{"AWS/IoT",Protocol} MetricName="Subscribe.AuthError"', 'Sum', 300)`,
		},
		"Behaviour detection (fleet totals)":               {"SmartCity/Security AuthorizationFailures", "SmartCity/Security DuplicateClientIds"},
		"Audit findings: non-compliant resources by check": {`SEARCH('{"AWS/IoT",CheckName,ScheduledAuditName} MetricName=NonCompliantResources', 'Maximum', 86400)`},
		"Iterator age (ms)":                                {"AWS/Lambda IteratorAge FunctionName <ref>", "AWS/Kinesis GetRecords.IteratorAgeMilliseconds StreamName <ref>"},
		"Dead letters waiting": {"AWS/SQS ApproximateNumberOfMessagesVisible QueueName <ref>", "AWS/SQS ApproximateNumberOfMessagesVisible QueueName <ref>",
			"AWS/SQS ApproximateNumberOfMessagesVisible QueueName <ref>", "AWS/SQS ApproximateNumberOfMessagesVisible QueueName <ref>",
			"AWS/SQS ApproximateNumberOfMessagesVisible QueueName <ref>"},
	}
	for title, w := range wantMetrics {
		if diff := cmp.Diff(w, metricNames(title)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", title, diff)
		}
	}
	for title, query := range map[string]string{
		"Connected devices (last Connect/Disconnect in range was a Connect)": monitoring.ConnectedDevicesQuery,
		"Certificates failing authorization":                                 monitoring.AuthorizationFailuresQuery,
	} {
		q := fmt.Sprint(widgets[title]["query"])
		if q != "SOURCE 'AWSIotLogsV2' | "+query && q != "SOURCE '<ref>' | "+query {
			t.Errorf("%s query %q does not read AWSIotLogsV2 with %q", title, q, query)
		}
	}
	// Rejects per thing: the processor's structured logs, never a per-thing metric dimension.
	if q := fmt.Sprint(widgets["Rejected records by thing (class, district, reason)"]["query"]); !strings.HasPrefix(q, "SOURCE '") ||
		!strings.HasSuffix(q, "| "+ingest.RejectsByThingQuery) {
		t.Errorf("rejects-by-thing query %q, want the processor's log group with %q", q, ingest.RejectsByThingQuery)
	}
	if text := fmt.Sprint(widgets["text"]["markdown"]); !strings.Contains(text, "per device class, then per district") {
		t.Errorf("the header does not say how the figures are split: %q", text)
	}
}

// defenderStack builds Device Defender alone in a stack of its own, with the dev fleet.
func defenderStack(app awscdk.App, name string, fleet *fleetspec.Fleet, mutate func(*defender.Props)) awscdk.Stack {
	s := awscdk.NewStack(app, jsii.String(name), &awscdk.StackProps{
		Env: &awscdk.Environment{Account: jsii.String(testAccount), Region: jsii.String(testRegion)},
	})
	defenderInto(s, fleet, mutate)
	return s
}

// defenderInto builds Device Defender and what it needs (key, topic, log group) into s.
func defenderInto(s awscdk.Stack, fleet *fleetspec.Fleet, mutate func(*defender.Props)) *defender.Defender {
	key := platformKey(s)
	topic := awssns.NewTopic(s, jsii.String("Alerts"), &awssns.TopicProps{MasterKey: key.Key, EnforceSSL: jsii.Bool(true)})
	logs := awslogs.NewLogGroup(s, jsii.String("IoTLogs"), &awslogs.LogGroupProps{
		LogGroupName: jsii.String("AWSIotLogsV2"), EncryptionKey: key.Key, Retention: awslogs.RetentionDays_ONE_MONTH,
	})
	groups := map[string]defender.ThingGroup{}
	for _, c := range fleet.Classes {
		groups[c.ID] = defender.ThingGroup{Name: jsii.String("smartcity_test_" + c.ID), Arn: jsii.String("arn:aws:iot:" + testRegion + ":" + testAccount + ":thinggroup/smartcity_test_" + c.ID)}
	}
	p := &defender.Props{
		AlertTopic:    topic,
		Monitoring:    monitoring.New(s, "Alarms", &monitoring.Props{AlertTopic: topic, Prefix: *s.StackName()}),
		EncryptionKey: key.Key,
		Fleet:         fleet,
		NamePrefix:    "smartcity_test",
		QuarantineGroup: defender.ThingGroup{Name: jsii.String("smartcity_test_quarantine"),
			Arn: jsii.String("arn:aws:iot:" + testRegion + ":" + testAccount + ":thinggroup/smartcity_test_quarantine")},
		IoTLogs:     logs,
		ClassGroups: groups,
		QuarantineBudgetTable: securestore.NewTable(s, "State", &securestore.TableProps{
			PartitionKey: "pk", SortKey: "sk", TimeToLiveAttribute: "expiresAt", EncryptionKey: key.Key,
		}).Table,
	}
	if mutate != nil {
		mutate(p)
	}
	return defender.New(s, "Defender", p)
}

// TestDefenderDetectFlag: with Detect on (an account that still has Device Defender Detect),
// each device class gets a security profile with the six behaviours, targeting the class's
// thing group and alerting the alert topic; the context flag defenderDetect turns it on and is
// off by default (the app's templates have none, see TestDetectionMetricFilters).
func TestDefenderDetectFlag(t *testing.T) {
	fleet := fleetOf(t)
	app := newApp(t, nil)
	defenderStack(app, "DetectOn", fleet, func(p *defender.Props) {
		p.Detect = true
		p.DeactivateCertificates = true
		p.CertificateAgeDays = 90
	})
	tmpl, err := compliance.FromValue(synthOrFail(t, app).GetStackByName(jsii.String("DetectOn")).Template())
	if err != nil {
		t.Fatal(err)
	}
	profiles := tmpl.Resources("AWS::IoT::SecurityProfile")
	if len(profiles) != len(fleet.Classes) {
		t.Fatalf("%d security profiles, want one per class (%d)", len(profiles), len(fleet.Classes))
	}
	topic := only(t, tmpl, "AWS::SNS::Topic", nil).ID
	for _, c := range fleet.Classes {
		sp := only(t, tmpl, "AWS::IoT::SecurityProfile", func(r compliance.Resource) bool {
			return r.Properties["SecurityProfileName"] == "smartcity_test_"+c.ID
		})
		type behavior struct {
			Metric, Op, Count string
			Duration          any
		}
		got := map[string]behavior{}
		for _, b := range compliance.List(sp.Properties["Behaviors"]) {
			cr := compliance.Get(b, "Criteria")
			got[fmt.Sprint(compliance.Get(b, "Name"))] = behavior{fmt.Sprint(compliance.Get(b, "Metric")), fmt.Sprint(compliance.Get(cr, "ComparisonOperator")),
				fmt.Sprint(compliance.Get(cr, "Value", "Count")), compliance.Get(cr, "DurationSeconds")}
		}
		want := map[string]behavior{
			"authorization-failures": {"aws:num-authorization-failures", "greater-than", "5", 300.0},
			"message-size":           {"aws:message-byte-size", "greater-than", fmt.Sprint(c.MessageLimit()), nil},
			"messages-sent":          {"aws:num-messages-sent", "greater-than", "300", 300.0},
			"messages-received":      {"aws:num-messages-received", "greater-than", "100", 300.0},
			"connection-attempts":    {"aws:num-connection-attempts", "greater-than", "10", 300.0},
			"disconnects":            {"aws:num-disconnects", "greater-than", "10", 300.0},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s behaviours (-want +got):\n%s", c.ID, diff)
		}
		if diff := cmp.Diff([]string{"arn:aws:iot:" + testRegion + ":" + testAccount + ":thinggroup/smartcity_test_" + c.ID}, renderAll(sp.Properties["TargetArns"])); diff != "" {
			t.Errorf("%s targets (-want +got):\n%s", c.ID, diff)
		}
		if render(compliance.Get(sp.Properties, "AlertTargets", "SNS", "AlertTargetArn")) != "ref:"+topic {
			t.Errorf("%s alerts %v, want the alert topic", c.ID, compliance.Get(sp.Properties, "AlertTargets"))
		}
		if !trustsIoTOfThisAccount(tmpl, roleID(t, compliance.Get(sp.Properties, "AlertTargets", "SNS", "RoleArn"))) {
			t.Errorf("%s alert role is not assumable by AWS IoT of this account only", c.ID)
		}
	}
	// Without a LoggingRole the construct makes one that may only write to the IoT log group.
	enable := only(t, tmpl, "AWS::IoT::MitigationAction", func(r compliance.Resource) bool {
		return compliance.Get(r.Properties, "ActionParams", "EnableIoTLoggingParams") != nil
	})
	logging := roleID(t, compliance.Get(enable.Properties, "ActionParams", "EnableIoTLoggingParams", "RoleArnForLogging"))
	if !trustsIoTOfThisAccount(tmpl, logging) {
		t.Errorf("logging role %s is not assumable by AWS IoT of this account only", logging)
	}
	group := only(t, tmpl, "AWS::Logs::LogGroup", func(r compliance.Resource) bool { return r.Properties["LogGroupName"] == "AWSIotLogsV2" }).ID
	wantLogging := []statement{{
		Actions:   []string{"logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"},
		Resources: []string{"att:" + group + ".Arn"},
	}}
	if diff := cmp.Diff(wantLogging, policyOf(tmpl, logging)); diff != "" {
		t.Errorf("logging role policy (-want +got):\n%s", diff)
	}
	// The other props took effect too: the age threshold and the certificate permissions.
	cfg := only(t, tmpl, "AWS::IoT::AccountAuditConfiguration", nil)
	if got := compliance.Get(cfg.Properties, "AuditCheckConfigurations", "DeviceCertificateAgeCheck", "Configuration", "CertAgeThresholdInDays"); got != "90" {
		t.Errorf("certificate age threshold %v, want \"90\"", got)
	}
	q := only(t, tmpl, "AWS::Lambda::Function", func(r compliance.Resource) bool {
		return strings.Contains(fmt.Sprint(r.Properties["Description"]), "quarantines")
	})
	if v := compliance.Get(q.Properties, "Environment", "Variables", "DEACTIVATE_CERTIFICATES"); v != "true" {
		t.Errorf("DEACTIVATE_CERTIFICATES = %v, want true", v)
	}
	// Detect violations reach the quarantine function (the ADD_THINGS_TO_THING_GROUP mitigation,
	// which CloudFormation cannot attach to a profile); security alarms still do.
	sub := only(t, tmpl, "AWS::SNS::Subscription", func(r compliance.Resource) bool {
		return compliance.Get(r.Properties, "Endpoint", "Fn::GetAtt", 0) == q.ID
	})
	filter, _ := sub.Properties["FilterPolicy"].(map[string]any)
	violation := remediationSample(t, "detect-violation.json")
	cleared := remediationSample(t, "detect-violation.json")
	cleared["violationEventType"] = "alarm-cleared"
	for name, c := range map[string]struct {
		msg  map[string]any
		want bool
	}{
		"detect violation in alarm": {violation, true},
		"detect violation cleared":  {cleared, false},
		"security alarm":            {remediationSample(t, "alarm-authorization-failures.json"), true},
		"audit notification":        {remediationSample(t, "audit-notification.json"), false},
	} {
		if got := snsFilterMatches(filter, c.msg); got != c.want {
			t.Errorf("with Detect on, %s reaches the quarantine function: %v, want %v (filter %v)", name, got, c.want, filter)
		}
	}
	var actions []string
	for _, st := range remediationStatements(tmpl, q) {
		actions = append(actions, st.Actions...)
	}
	// DeactivateCertificates adds UpdateCertificate; Detect adds ListActiveViolations, with
	// which the function confirms a violation before acting on it.
	for _, a := range []string{"iot:UpdateCertificate", "iot:ListActiveViolations"} {
		if !slices.Contains(actions, a) {
			t.Errorf("quarantine role lacks %s with DeactivateCertificates and Detect on (has %v)", a, actions)
		}
	}
	for _, st := range remediationStatements(tmpl, q) {
		if slices.Contains(st.Actions, "iot:ListActiveViolations") {
			want := []string{"arn:aws:iot:" + testRegion + ":" + testAccount + ":securityprofile/smartcity_test_*", "arn:aws:iot:" + testRegion + ":" + testAccount + ":thing/*"}
			if diff := cmp.Diff(want, st.Resources); diff != "" {
				t.Errorf("ListActiveViolations resources (-want +got):\n%s", diff)
			}
		}
	}

	for _, c := range []struct {
		ctx  any
		want bool
		err  string
	}{
		{nil, false, ""}, {true, true, ""}, {"true", true, ""}, {false, false, ""}, {"maybe", false, `context "defenderDetect": want true or false, got "maybe"`},
	} {
		ctx := map[string]any{"fleetFile": filepath.Join(moduleRoot(t), "config", "fleet.dev.json")}
		if c.ctx != nil {
			ctx["defenderDetect"] = c.ctx
		}
		cfg, err := stacks.ConfigFromContext(newApp(t, ctx))
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("defenderDetect %v: error %v, want %q", c.ctx, err, c.err)
		case c.err == "" && (err != nil || cfg.DefenderDetect != c.want):
			t.Errorf("defenderDetect %v: %v, %v; want %v", c.ctx, cfg.DefenderDetect, err, c.want)
		}
	}
	if v, ok := cdkContext(t)["defenderDetect"]; !ok || v != false {
		t.Errorf("cdk.json defenderDetect = %v, want false", v)
	}
}

// TestOperationsPropsErrors: the monitoring and defender constructs refuse props that would
// leave an alarm without a recipient or an audit without its compliance.
func TestOperationsPropsErrors(t *testing.T) {
	app := newApp(t, nil)
	stack := awscdk.NewStack(app, jsii.String("OperationsProps"), nil)
	fleet := fleetOf(t)
	n := 0
	full := func(mut func(*defender.Props)) *defender.Props {
		n++
		scope := awscdk.NewStack(app, jsii.String(fmt.Sprintf("OperationsProps%d", n)), nil)
		topic := awssns.NewTopic(scope, jsii.String("T"), nil)
		p := &defender.Props{
			AlertTopic: topic, Monitoring: monitoring.New(scope, "M", &monitoring.Props{AlertTopic: topic, Prefix: "x"}),
			EncryptionKey: platformKey(scope).Key, Fleet: fleet, NamePrefix: "smartcity_test",
			QuarantineGroup:       defender.ThingGroup{Name: jsii.String("q"), Arn: jsii.String("arn:aws:iot:eu-central-1:111111111111:thinggroup/q")},
			IoTLogs:               awslogs.LogGroup_FromLogGroupName(scope, jsii.String("L"), jsii.String("AWSIotLogsV2")),
			QuarantineBudgetTable: awsdynamodb.Table_FromTableName(scope, jsii.String("S"), jsii.String("DeviceState")),
		}
		mut(p)
		return p
	}
	cases := []struct {
		name  string
		props *defender.Props
		want  []string
	}{
		{"nothing", &defender.Props{}, []string{"AlertTopic is required", "Monitoring is required", "EncryptionKey is required",
			"Fleet is required", `NamePrefix "" must be`, "QuarantineGroup needs Name and Arn", "IoTLogs (the AWSIotLogsV2 log group) is required",
			"QuarantineBudgetTable is required"}},
		{"quarantine cap", full(func(p *defender.Props) { n := -1; p.QuarantineCap = &n }), []string{"QuarantineCap -1 must be 0 (notify only) or more"}},
		{"claim certificates", full(func(p *defender.Props) {
			p.ClaimCertificateIDs = []string{"sl-old-town-001"}
			p.ClaimPolicyName = "claim policy"
		}), []string{`ClaimCertificateIDs: "sl-old-town-001" is not a certificate id`, `ClaimPolicyName "claim policy" must be`}},
		{"certificate age", full(func(p *defender.Props) { p.CertificateAgeDays = 29 }), []string{"CertificateAgeDays 29 must be between 30 and 3652"}},
		{"thing type prefix", full(func(p *defender.Props) { p.ThingTypePrefix = "Smart-City" }), []string{`ThingTypePrefix "Smart-City" must be`}},
		{"weekday", full(func(p *defender.Props) { p.WeeklyAuditDay = "SUNDAY" }), []string{`WeeklyAuditDay "SUNDAY" must be`}},
		{"logging level", full(func(p *defender.Props) { p.LoggingLevel = "DISABLED" }), []string{`LoggingLevel "DISABLED" must be ERROR, WARN, INFO or DEBUG`}},
		{"threshold", full(func(p *defender.Props) { p.DeviceThreshold = -1 }), []string{"DeviceThreshold -1 must be at least 1"}},
		{"detect without groups", full(func(p *defender.Props) { p.Detect = true }), []string{`ClassGroups has no group ARN for class "street_light"`}},
		{"detect duration", full(func(p *defender.Props) {
			p.Detect = true
			p.Behaviors = &defender.Behaviors{AuthorizationFailures: 1, MessagesSent: 1, MessagesReceived: 1, ConnectionAttempts: 1, Disconnects: 0, DurationSeconds: 120}
		}), []string{"Behaviors.DurationSeconds 120 must be 300, 600, 900, 1800 or 3600", "Behaviors.Disconnects 0 must be at least 1"}},
	}
	for i, c := range cases {
		d := defender.New(stack, fmt.Sprintf("D%d", i), c.props)
		got := validationErrors(d)
		for _, w := range c.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: errors %q do not contain %q", c.name, got, w)
			}
		}
	}
	m := monitoring.New(stack, "NoTopic", &monitoring.Props{Period: 90 * time.Second})
	one := awscloudwatch.NewMetric(&awscloudwatch.MetricProps{Namespace: jsii.String("Test"), MetricName: jsii.String("One")})
	m.WatchRatio("Bad", "x", one, one, 0)
	got := validationErrors(m)
	for _, w := range []string{"AlertTopic is required", "Prefix is required", "Period 1m30s must be a whole number of minutes", `WatchRatio("Bad") maxPercent 0 must be in (0, 100]`} {
		if !strings.Contains(got, w) {
			t.Errorf("monitoring errors %q do not contain %q", got, w)
		}
	}
	cc := monitoring.NewControlCenter(stack, "NoMonitoring", &monitoring.ControlCenterProps{})
	if got := validationErrors(cc); !strings.Contains(got, "DashboardName is required") || !strings.Contains(got, "Monitoring is required") {
		t.Errorf("control center errors %q", got)
	}
}

func init() {
	weakenings = append(weakenings,
		weakening{"alarms-have-actions", func(s awscdk.Stack, w bool) {
			topic := awssns.NewTopic(s, jsii.String("Alerts"), nil)
			m := monitoring.New(s, "Alarms", &monitoring.Props{AlertTopic: topic, Prefix: "weaken"})
			a := m.WatchMetric("Anything", "a test alarm", awslogs.NewMetricFilter(s, jsii.String("Filter"), &awslogs.MetricFilterProps{
				LogGroup:      awslogs.LogGroup_FromLogGroupName(s, jsii.String("Logs"), jsii.String("AWSIotLogsV2")),
				FilterPattern: awslogs.FilterPattern_AllEvents(), MetricNamespace: jsii.String("Test"), MetricName: jsii.String("Events"),
			}).Metric(nil), 1)
			deleteIf(w, cfn(a), "AlarmActions")
		}},
		weakening{"audit-all-checks", func(s awscdk.Stack, w bool) {
			root, err := golambda.ModuleRoot()
			if err != nil {
				panic(err)
			}
			fleet, err := fleetspec.Load(filepath.Join(root, "config", "fleet.dev.json"))
			if err != nil {
				panic(err)
			}
			d := defenderInto(s, fleet, nil)
			overrideIf(w, cfn(d), "AuditCheckConfigurations.LoggingDisabledCheck.Enabled", false)
		}},
	)
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

// grownThings is how many things the grown fleet adds to the dev fleet file.
const grownThings = 40

// grownFleet is the dev fleet file with grownThings more declared things, spread over its
// classes and districts, named so that no other text could contain them by accident.
func grownFleet(t *testing.T) (*fleetspec.Fleet, []string) {
	t.Helper()
	f := fleetOf(t)
	var added []string
	for i := range grownThings {
		name := fmt.Sprintf("grown-thing-%04d", i)
		f.Things = append(f.Things, fleetspec.Thing{
			Name: name, Class: f.Classes[i%len(f.Classes)].ID, District: f.Districts[i%len(f.Districts)].ID, Serial: fmt.Sprintf("GROWN-%04d", i),
		})
		added = append(added, name)
	}
	if err := f.Validate(); err != nil {
		t.Fatalf("grown fleet: %v", err)
	}
	return f, added
}

// grownOperations is the Operations stack of the dev platform built from grownFleet, and what
// its Lambda assets hold, synthesized once.
type grownOperations struct {
	tmpl compliance.Template
	// assets maps each Lambda function of the stack to the files of its asset (name -> bytes).
	assets map[string]map[string][]byte
	added  []string
}

var (
	grownOnce sync.Once
	grown     *grownOperations
)

func synthGrown(t *testing.T) *grownOperations {
	t.Helper()
	grownOnce.Do(func() {
		fleet, added := grownFleet(t)
		app := newApp(t, map[string]any{"stage": string(stacks.StageDev)})
		cfg := stacks.Config{Stage: stacks.StageDev, Fleet: fleet, Account: testAccount, Region: testRegion}
		// stacks.NewPlatform, with the checks on the Operations stack alone: the Fleet stack
		// does grow with declared things (its own checks run in the shared synths), and what
		// its cdk-nag packs say about a grown fleet is not this test's subject.
		f := stacks.NewFoundation(app, cfg)
		fl := stacks.NewFleet(app, cfg, f)
		in := stacks.NewIngestion(app, cfg, f)
		ops := stacks.NewOperations(app, cfg, f, fl, in)
		stacks.NewOTA(cfg, f, ops)
		stacks.ApplyChecks(ops.Stack)
		asm := synthOrFail(t, app)
		defer func() { _ = os.RemoveAll(*asm.Directory()) }()
		g := &grownOperations{assets: map[string]map[string][]byte{}, added: added}
		tmpl, err := compliance.FromValue(asm.GetStackByName(jsii.String("SmartCity-dev-Operations")).Template())
		if err != nil {
			t.Fatal(err)
		}
		g.tmpl = tmpl
		for _, fn := range tmpl.Resources("AWS::Lambda::Function") {
			key, _ := compliance.Get(fn.Properties, "Code", "S3Key").(string)
			dir := filepath.Join(*asm.Directory(), "asset."+strings.TrimSuffix(key, ".zip"))
			files := map[string][]byte{}
			err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				data, err := os.ReadFile(path)
				files[strings.TrimPrefix(path, dir+string(filepath.Separator))] = data
				return err
			})
			if err != nil || len(files) == 0 {
				t.Fatalf("function %s: asset %s unreadable (%v, %d files)", fn.ID, dir, err, len(files))
			}
			g.assets[fn.ID] = files
		}
		grown = g
	})
	if grown == nil {
		t.Fatal("the grown fleet's platform failed to synthesize")
	}
	return grown
}

// thingToken splits text (a template, a JSON file, a binary) into runs of thing-name
// characters; a thing name (none of the fleets' has a colon) that occurs delimited is a token.
var thingToken = regexp.MustCompile(`[A-Za-z0-9_-]+`)

// thingNamesIn returns the names that occur in data, sorted.
func thingNamesIn(data []byte, names map[string]bool) []string {
	found := map[string]bool{}
	for _, tok := range thingToken.FindAll(data, -1) {
		if names[string(tok)] {
			found[string(tok)] = true
		}
	}
	// Small texts are also searched as substrings, which a name glued to other characters
	// (after a colon, say) would escape.
	if len(data) < 1<<20 {
		for n := range names {
			if bytes.Contains(data, []byte(n)) {
				found[n] = true
			}
		}
	}
	out := make([]string, 0, len(found))
	for n := range found {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// TestOperationsDoesNotGrowWithTheFleet: no declared thing's name (of config/fleet.<stage>.json,
// or of 40 more things added to the dev fleet) appears in the Operations template or in any
// file of its Lambda assets, and adding things leaves the Operations template unchanged:
// the same resources, the same properties, the same asset hashes.
func TestOperationsDoesNotGrowWithTheFleet(t *testing.T) {
	g := synthGrown(t)
	names := map[string]bool{}
	for _, stage := range []stacks.Stage{stacks.StageDev, stacks.StageProd} {
		for _, th := range stageFleet(t, stage).Things {
			names[th.Name] = true
		}
	}
	for _, n := range g.added {
		names[n] = true
	}
	for n := range names {
		if strings.Contains(n, ":") {
			t.Fatalf("thing name %q has a colon; thingToken would miss it in binaries", n)
		}
	}
	templates := map[string]compliance.Template{"grown dev": g.tmpl}
	_, templates["dev"] = operations(t)
	templates["prod"] = synthOnce(t, stacks.StageProd).templates["SmartCity-prod-Operations"]
	for which, tmpl := range templates {
		if len(tmpl.Resources("AWS::Lambda::Function")) == 0 {
			t.Fatalf("%s Operations template has no functions: not the stack under test", which)
		}
		if found := thingNamesIn([]byte(mustJSON(t, tmpl)), names); len(found) > 0 {
			t.Errorf("%s Operations template names things %v", which, found)
		}
	}
	fleetFiles := 0
	for fn, files := range g.assets {
		for name, data := range files {
			if name == "fleet.json" {
				fleetFiles++
			}
			if found := thingNamesIn(data, names); len(found) > 0 {
				t.Errorf("function %s bundles %s naming things %v", fn, name, found)
			}
		}
	}
	// The command processor and both remediation functions ship the fleet's classes.
	if fleetFiles < 3 {
		t.Errorf("%d fleet.json files in the Operations assets, want at least 3: the assets read are not the functions'", fleetFiles)
	}

	_, base := operations(t)
	ids := func(tmpl compliance.Template) []string {
		var out []string
		for id := range mustMap(t, tmpl)["Resources"].(map[string]any) {
			out = append(out, id)
		}
		sort.Strings(out)
		return out
	}
	if diff := cmp.Diff(ids(base), ids(g.tmpl)); diff != "" {
		t.Errorf("Operations resources with %d more things (-dev fleet +grown):\n%s", grownThings, diff)
	}
	if diff := cmp.Diff(mustMap(t, base), mustMap(t, g.tmpl)); diff != "" {
		t.Errorf("Operations template changes when things are added (-dev fleet +grown):\n%s", diff)
	}
	t.Logf("Operations: %d resources with %d and with %d declared things", len(ids(base)), len(fleetOf(t).Things), len(fleetOf(t).Things)+grownThings)
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
		for _, msg := range *st.Messages() {
			if msg.Level == cxapi.SynthesisMessageLevel_WARNING {
				warnings = append(warnings, fmt.Sprint(msg.Entry.Data))
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
