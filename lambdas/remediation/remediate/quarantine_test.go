package remediate

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	iottypes "github.com/aws/aws-sdk-go-v2/service/iot/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

const (
	quarantineGroup = "smartcity-quarantine"
	cert1           = "1111111111111111111111111111111111111111111111111111111111111111"
	cert1b          = "1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b"
	cert2           = "2222222222222222222222222222222222222222222222222222222222222222"
)

func certARN(id string) string { return "arn:aws:iot:eu-west-1:123456789012:cert/" + id }

type quarantineRig struct {
	h        *Quarantine
	metrics  *fakeMetrics
	registry *fakeRegistry
	logs     *logRecords
}

// newQuarantineRig: light-0001 failed authorization 12 times in one period (over the alarm's
// threshold of 10), light-0002 3 times, and "intruder-7", a client id outside the fleet, 50.
func newQuarantineRig() *quarantineRig {
	reg := newFakeRegistry()
	reg.register("light-0001", streetLightType, certARN(cert1), "eu-west-1:5d6e7f00-0000-0000-0000-000000000000", certARN(cert1b))
	reg.register("light-0002", streetLightType, certARN(cert2))
	reg.register("light-0003", streetLightType)
	for _, c := range []string{cert1, cert1b, cert2} {
		reg.certStatus[c] = iottypes.CertificateStatusActive
	}
	r := &quarantineRig{
		metrics: &fakeMetrics{series: []cwtypes.MetricDataResult{
			series("light-0001", 12, 4),
			series("light-0002", 3, 0),
			series("intruder-7", 50),
		}},
		registry: reg,
		logs:     &logRecords{},
	}
	r.h = &Quarantine{
		Group: quarantineGroup, Scope: testScope(reg),
		Metrics: r.metrics, Groups: reg, Principals: reg, Certificates: reg, Log: r.logs.logger(),
	}
	return r
}

func TestQuarantineAddsOffendersToTheGroup(t *testing.T) {
	r := newQuarantineRig()
	if err := r.h.Handle(context.Background(), snsEvent(readTestdata(t, "alarm-authorization-failures.json"))); err != nil {
		t.Fatalf("Handle: %v", err)
	}
	if diff := cmp.Diff(map[string][]string{quarantineGroup: {"light-0001"}}, r.registry.members); diff != "" {
		t.Errorf("group members (-want +got):\n%s", diff)
	}
	// Certificates stay active unless DEACTIVATE_CERTIFICATES is on.
	if got := r.registry.certStatus[cert1]; got != iottypes.CertificateStatusActive {
		t.Errorf("certificate status = %s, want ACTIVE", got)
	}
	// The alarm changed state at 12:07:31 after two 300 s periods: the query covers the two
	// whole periods that end at the next period boundary.
	want := cloudwatch.GetMetricDataInput{
		StartTime: aws.Time(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)),
		EndTime:   aws.Time(time.Date(2026, 3, 1, 12, 10, 0, 0, time.UTC)),
		ScanBy:    cwtypes.ScanByTimestampDescending,
		MetricDataQueries: []cwtypes.MetricDataQuery{{
			Id:         aws.String("devices"),
			Expression: aws.String(`SEARCH('{SmartCity/Security,ThingName} MetricName="AuthorizationFailures"', 'Sum', 300)`),
			Label:      aws.String("${PROP('Dim.ThingName')}"),
			ReturnData: aws.Bool(true),
		}},
	}
	if len(r.metrics.calls) != 3 {
		t.Fatalf("GetMetricData called %d times, want 3 pages", len(r.metrics.calls))
	}
	first := r.metrics.calls[0]
	if diff := cmp.Diff(want, first, cmpopts.IgnoreUnexported(cloudwatch.GetMetricDataInput{}, cwtypes.MetricDataQuery{})); diff != "" {
		t.Errorf("GetMetricData input (-want +got):\n%s", diff)
	}
	var unknown []any
	for _, rec := range r.logs.records(t) {
		if rec["level"] == "ERROR" && rec["msg"] == "offending client id is not a thing of the fleet; no action" {
			unknown = append(unknown, rec["thingName"])
		}
	}
	if diff := cmp.Diff([]any{"intruder-7"}, unknown); diff != "" {
		t.Errorf("unknown things logged (-want +got):\n%s", diff)
	}
}

func TestQuarantineDeactivatesCertificates(t *testing.T) {
	r := newQuarantineRig()
	r.h.DeactivateCertificates = true
	if err := r.h.Handle(context.Background(), snsEvent(readTestdata(t, "alarm-authorization-failures.json"))); err != nil {
		t.Fatal(err)
	}
	want := map[string]iottypes.CertificateStatus{
		cert1:  iottypes.CertificateStatusInactive,
		cert1b: iottypes.CertificateStatusInactive,
		cert2:  iottypes.CertificateStatusActive, // light-0002 stayed under the threshold
	}
	if diff := cmp.Diff(want, r.registry.certStatus); diff != "" {
		t.Errorf("certificate statuses (-want +got):\n%s", diff)
	}
}

func TestQuarantineIsIdempotent(t *testing.T) {
	r := newQuarantineRig()
	r.h.DeactivateCertificates = true
	msg := readTestdata(t, "alarm-authorization-failures.json")
	for i := range 2 {
		if err := r.h.Handle(context.Background(), snsEvent(msg)); err != nil {
			t.Fatalf("delivery %d: %v", i, err)
		}
	}
	if diff := cmp.Diff(map[string][]string{quarantineGroup: {"light-0001"}}, r.registry.members); diff != "" {
		t.Errorf("group members after redelivery (-want +got):\n%s", diff)
	}
	if got := r.registry.certStatus[cert1]; got != iottypes.CertificateStatusInactive {
		t.Errorf("certificate status = %s, want INACTIVE", got)
	}
}

func TestQuarantineMetricMathAlarmAndDuplicateClientIDs(t *testing.T) {
	r := newQuarantineRig()
	r.metrics.series = []cwtypes.MetricDataResult{series("light-0002", 0, 1), series("light-0003", 0)}
	if err := r.h.Handle(context.Background(), snsEvent(readTestdata(t, "alarm-duplicate-client-ids-math.json"))); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string][]string{quarantineGroup: {"light-0002"}}, r.registry.members); diff != "" {
		t.Errorf("group members (-want +got):\n%s", diff)
	}
	got := r.metrics.calls[0]
	if want := `SEARCH('{SmartCity/Security,ThingName} MetricName="DuplicateClientIds"', 'Sum', 60)`; aws.ToString(got.MetricDataQueries[0].Expression) != want {
		t.Errorf("expression = %s, want %s", aws.ToString(got.MetricDataQueries[0].Expression), want)
	}
	if diff := cmp.Diff([]time.Time{time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), time.Date(2026, 3, 1, 12, 1, 0, 0, time.UTC)},
		[]time.Time{aws.ToTime(got.StartTime), aws.ToTime(got.EndTime)}); diff != "" {
		t.Errorf("window (-want +got):\n%s", diff)
	}
}

func TestQuarantineDeviceThresholdOverridesTheAlarms(t *testing.T) {
	r := newQuarantineRig()
	r.h.DeviceThreshold = 2
	if err := r.h.Handle(context.Background(), snsEvent(readTestdata(t, "alarm-authorization-failures.json"))); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string][]string{quarantineGroup: {"light-0001", "light-0002"}}, r.registry.members); diff != "" {
		t.Errorf("group members (-want +got):\n%s", diff)
	}
}

func TestQuarantineBadInputIsLoggedNotReturned(t *testing.T) {
	valid := readTestdata(t, "alarm-authorization-failures.json")
	trigger := func(edit func(tr map[string]any)) string {
		return editJSON(t, valid, func(m map[string]any) { edit(m["Trigger"].(map[string]any)) })
	}
	tests := []struct {
		name        string
		message     string
		wantLog     string
		wantQueries int
	}{
		{"not JSON", "ALARM!", "ERROR malformed alarm notification", 0},
		{"alarm back to OK", editJSON(t, valid, func(m map[string]any) { m["NewStateValue"] = "OK" }), "INFO alarm not in ALARM state; nothing to do", 0},
		{"insufficient data", editJSON(t, valid, func(m map[string]any) { m["NewStateValue"] = "INSUFFICIENT_DATA" }), "INFO alarm not in ALARM state; nothing to do", 0},
		{"another metric", trigger(func(tr map[string]any) { tr["MetricName"] = "CPUUtilization" }), "ERROR alarm notification cannot be acted on", 0},
		{"another namespace", trigger(func(tr map[string]any) { tr["Namespace"] = "AWS/IoT" }), "ERROR alarm notification cannot be acted on", 0},
		{"lower threshold alarm", trigger(func(tr map[string]any) { tr["ComparisonOperator"] = "LessThanThreshold" }), "ERROR alarm notification cannot be acted on", 0},
		{"no state change time", editJSON(t, valid, func(m map[string]any) { m["StateChangeTime"] = "yesterday" }), "ERROR alarm notification cannot be acted on", 0},
		{"no device over the threshold", trigger(func(tr map[string]any) { tr["Threshold"] = 1000.0 }), "WARN alarm fired but no single device crossed the threshold", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newQuarantineRig()
			if err := r.h.Handle(context.Background(), snsEvent(tt.message)); err != nil {
				t.Fatalf("Handle returned %v for bad input", err)
			}
			if len(r.metrics.calls) != tt.wantQueries {
				t.Errorf("GetMetricData called %d times, want %d", len(r.metrics.calls), tt.wantQueries)
			}
			if r.registry.addCalls != 0 {
				t.Errorf("quarantined on bad input: %v", r.registry.members)
			}
			if !r.logs.has(t, tt.wantLog) {
				t.Errorf("log %v lacks %q", r.logs.messages(t), tt.wantLog)
			}
		})
	}
}

// TestQuarantineThingMissingFromRegistry: a client id the registry holds no thing for is "no
// action", logged; so is a thing deleted between the lookup and the group add.
func TestQuarantineThingMissingFromRegistry(t *testing.T) {
	r := newQuarantineRig()
	delete(r.registry.things, "light-0001") // not (or no longer) in AWS IoT
	if err := r.h.Handle(context.Background(), snsEvent(readTestdata(t, "alarm-authorization-failures.json"))); err != nil {
		t.Fatalf("Handle: %v", err)
	}
	if len(r.registry.members) != 0 || r.registry.addCalls != 0 {
		t.Errorf("members = %v after %d adds, want none", r.registry.members, r.registry.addCalls)
	}
	if got := r.logs.field(t, "ERROR offending client id is not a thing of the fleet; no action", "reason"); !slices.Contains(got, "no such thing in the registry") {
		t.Errorf("no-action reasons %v, want the missing thing's", got)
	}

	r = newQuarantineRig()
	r.registry.addErr["light-0001"] = &iottypes.ResourceNotFoundException{Message: aws.String("thing light-0001 not found")}
	if err := r.h.Handle(context.Background(), snsEvent(readTestdata(t, "alarm-authorization-failures.json"))); err != nil {
		t.Fatalf("Handle: %v", err)
	}
	if !r.logs.has(t, "ERROR thing cannot be added to the quarantine group") {
		t.Errorf("log %v lacks the registry error", r.logs.messages(t))
	}
}

// TestQuarantineThingProvisionedAtRunTime: a thing the fleet file does not declare, which JITP
// or claim provisioning created with the fleet's thing type, is quarantined when it
// misbehaves; a thing of another stage's type, or of no type, is not, and the reason is logged.
func TestQuarantineThingProvisionedAtRunTime(t *testing.T) {
	r := newQuarantineRig()
	r.registry.register("sl-harbour-042", streetLightType, certARN(cert2))
	r.registry.register("sl-prod-001", "smartcity_prod_street_light")
	r.registry.register("untyped-1", "")
	r.metrics.series = []cwtypes.MetricDataResult{series("sl-harbour-042", 30), series("sl-prod-001", 40), series("untyped-1", 40)}
	if _, declared := r.h.Scope.Fleet.Thing("sl-harbour-042"); declared {
		t.Fatal("the fixture declares the thing")
	}
	if err := r.h.Handle(context.Background(), snsEvent(readTestdata(t, "alarm-authorization-failures.json"))); err != nil {
		t.Fatalf("Handle: %v", err)
	}
	if diff := cmp.Diff(map[string][]string{quarantineGroup: {"sl-harbour-042"}}, r.registry.members); diff != "" {
		t.Errorf("group members (-want +got):\n%s", diff)
	}
	got := r.logs.field(t, "ERROR offending client id is not a thing of the fleet; no action", "reason")
	want := []string{`thing type "smartcity_prod_street_light" is not one of the fleet's classes (smartcity_dev_<class>)`,
		`thing type "" is not one of the fleet's classes (smartcity_dev_<class>)`}
	if diff := cmp.Diff(want, got, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("no-action reasons (-want +got):\n%s", diff)
	}
}

func TestQuarantineRevokedCertificateIsLeftAlone(t *testing.T) {
	r := newQuarantineRig()
	r.h.DeactivateCertificates = true
	r.registry.updateErr[cert1] = &iottypes.CertificateStateException{Message: aws.String("certificate is revoked")}
	if err := r.h.Handle(context.Background(), snsEvent(readTestdata(t, "alarm-authorization-failures.json"))); err != nil {
		t.Fatalf("Handle: %v", err)
	}
	if got := r.registry.certStatus[cert1b]; got != iottypes.CertificateStatusInactive {
		t.Errorf("the thing's other certificate = %s, want INACTIVE", got)
	}
}

func TestQuarantineAWSFailuresAreReturned(t *testing.T) {
	throttled := &iottypes.ThrottlingException{Message: aws.String("rate exceeded")}
	tests := []struct {
		name  string
		setup func(r *quarantineRig)
		want  error
	}{
		{"metric query fails", func(r *quarantineRig) { r.metrics.err = errNetwork }, errNetwork},
		// "Unknown" is not "no such thing": the event is retried, not dropped.
		{"registry lookup throttled", func(r *quarantineRig) { r.registry.describeErr = throttled }, throttled},
		{"group add throttled", func(r *quarantineRig) { r.registry.addErr["light-0001"] = throttled }, throttled},
		{"principal listing fails", func(r *quarantineRig) { r.h.DeactivateCertificates = true; r.registry.listErr = errNetwork }, errNetwork},
		{"certificate update throttled", func(r *quarantineRig) {
			r.h.DeactivateCertificates = true
			r.registry.updateErr[cert1] = throttled
		}, throttled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newQuarantineRig()
			tt.setup(r)
			err := r.h.Handle(context.Background(), snsEvent(readTestdata(t, "alarm-authorization-failures.json")))
			if !errors.Is(err, tt.want) {
				t.Errorf("error = %v, want one wrapping %v", err, tt.want)
			}
		})
	}
}

func TestQuarantineProcessesEveryRecord(t *testing.T) {
	// One bad record does not stop the next.
	r := newQuarantineRig()
	if err := r.h.Handle(context.Background(), snsEvent("garbage", readTestdata(t, "alarm-authorization-failures.json"))); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string][]string{quarantineGroup: {"light-0001"}}, r.registry.members); diff != "" {
		t.Errorf("group members (-want +got):\n%s", diff)
	}
}

// TestQuarantineDetectViolation: a Detect violation in alarm quarantines its thing (and, when
// configured, deactivates its certificates) without querying metrics; cleared or invalidated
// violations and things outside the fleet change nothing; an AWS failure is returned.
func TestQuarantineDetectViolation(t *testing.T) {
	violation := readTestdata(t, "detect-violation.json")
	r := newQuarantineRig()
	r.h.DeactivateCertificates = true
	if err := r.h.Handle(context.Background(), snsEvent(violation)); err != nil {
		t.Fatalf("Handle: %v", err)
	}
	if diff := cmp.Diff(map[string][]string{quarantineGroup: {"light-0002"}}, r.registry.members); diff != "" {
		t.Errorf("group members (-want +got):\n%s", diff)
	}
	if got := r.registry.certStatus[cert2]; got != iottypes.CertificateStatusInactive {
		t.Errorf("light-0002's certificate is %s, want INACTIVE", got)
	}
	if len(r.metrics.calls) != 0 {
		t.Errorf("a violation names its thing; the handler queried metrics %d times", len(r.metrics.calls))
	}

	notInAlarm := "INFO detect violation not in alarm; nothing to do"
	notInFleet := "ERROR detect violation names no thing of the fleet; no action"
	for name, c := range map[string]struct{ old, new, log string }{
		"cleared":            {`"in-alarm"`, `"alarm-cleared"`, notInAlarm},
		"invalidated":        {`"in-alarm"`, `"alarm-invalidated"`, notInAlarm},
		"thing not in fleet": {`"light-0002"`, `"intruder-7"`, notInFleet},
		"bad thing name":     {`"light-0002"`, `"light 0002/../x"`, notInFleet},
	} {
		r := newQuarantineRig()
		if err := r.h.Handle(context.Background(), snsEvent(strings.Replace(violation, c.old, c.new, 1))); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if len(r.registry.members) != 0 {
			t.Errorf("%s: quarantined %v", name, r.registry.members)
		}
		if !r.logs.has(t, c.log) {
			t.Errorf("%s: logs %v, want %q", name, r.logs.messages(t), c.log)
		}
	}

	r = newQuarantineRig()
	r.registry.describeErr = errNetwork
	if err := r.h.Handle(context.Background(), snsEvent(violation)); !errors.Is(err, errNetwork) {
		t.Errorf("registry failure on a violation: %v, want it returned for a retry", err)
	}

	r = newQuarantineRig()
	r.registry.addErr["light-0002"] = errors.New("ThrottlingException: rate exceeded")
	if err := r.h.Handle(context.Background(), snsEvent(violation)); err == nil {
		t.Error("a throttled AddThingToThingGroup was swallowed: Lambda would not retry")
	}
}
