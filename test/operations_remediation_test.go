package test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/secure-smart-city/platform/compliance"
	"github.com/secure-smart-city/platform/lambdas/remediation/remediate"
)

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
