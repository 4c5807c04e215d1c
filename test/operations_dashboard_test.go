package test

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"

	telcontract "github.com/secure-smart-city/platform/lambdas/telemetry/contract"

	"github.com/google/go-cmp/cmp"

	"github.com/secure-smart-city/platform/compliance"
	"github.com/secure-smart-city/platform/constructs/ingest"
	"github.com/secure-smart-city/platform/constructs/monitoring"
)

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
			"Messages in by class: " + d.Name:           {telcontract.MetricReceived},
			"Accepted and rejected by class: " + d.Name: {telcontract.MetricAccepted, telcontract.MetricRejected},
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
