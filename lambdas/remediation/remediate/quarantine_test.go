package remediate

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	logtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	iottypes "github.com/aws/aws-sdk-go-v2/service/iot/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/google/go-cmp/cmp"
)

const (
	quarantineGroup = "smartcity-quarantine"
	alarmName       = "smartcity-dev-authorization-failures"
	dupAlarmName    = "smartcity-dev-duplicate-client-ids"
	claimPolicy     = "smartcity_dev_claim"
	alertTopic      = "arn:aws:sns:eu-west-1:123456789012:alerts"
	certARNPrefix   = "arn:aws:iot:eu-west-1:123456789012:cert/"

	cert1      = "1111111111111111111111111111111111111111111111111111111111111111" // attacker's own device
	cert1b     = "1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b" // the same device's second certificate
	certVictim = "5555555555555555555555555555555555555555555555555555555555555555"
	certSignal = "7777777777777777777777777777777777777777777777777777777777777777"
	certClaim  = "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
	certRogue  = "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee" // active, attached to nothing
)

func certARN(id string) string { return certARNPrefix + id }

// alarmChanged is when the security alarm went into ALARM, as CloudWatch records it.
var alarmChanged = time.Date(2026, 3, 1, 12, 7, 31, 0, time.UTC)

// logEntry is one AWSIotLogsV2 entry, as AWS IoT writes it.
type logEntry struct {
	at                                                 time.Time
	clientID, principalID, status, reason, disconnectR string
}

// fakeLogs is CloudWatch Logs Insights over a list of IoT log entries: it evaluates the two
// queries InsightsQuery makes (filter, count per principalId, sort, limit) over the entries
// in the queried range. The first GetQueryResults answers Running, as a real query does.
type fakeLogs struct {
	entries   []logEntry
	started   []cloudwatchlogs.StartQueryInput
	polls     int
	status    logtypes.QueryStatus // final status; default Complete
	startErr  error
	resultErr error
}

func (f *fakeLogs) StartQuery(_ context.Context, in *cloudwatchlogs.StartQueryInput, _ ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.StartQueryOutput, error) {
	if f.startErr != nil {
		return nil, f.startErr
	}
	f.started = append(f.started, *in)
	return &cloudwatchlogs.StartQueryOutput{QueryId: aws.String("q-" + strconv.Itoa(len(f.started)))}, nil
}

func (f *fakeLogs) GetQueryResults(_ context.Context, _ *cloudwatchlogs.GetQueryResultsInput, _ ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.GetQueryResultsOutput, error) {
	if f.resultErr != nil {
		return nil, f.resultErr
	}
	f.polls++
	if f.polls == 1 {
		return &cloudwatchlogs.GetQueryResultsOutput{Status: logtypes.QueryStatusRunning}, nil
	}
	if f.status != "" && f.status != logtypes.QueryStatusComplete {
		return &cloudwatchlogs.GetQueryResultsOutput{Status: f.status}, nil
	}
	q := f.started[len(f.started)-1]
	query := aws.ToString(q.QueryString)
	auth := strings.Contains(query, `reason = "AUTHORIZATION_FAILURE"`)
	dup := strings.Contains(query, `reason = "DUPLICATE_CLIENT_ID"`)
	if !strings.Contains(query, "by principalId") {
		return nil, errors.New("fake: query does not group by principalId")
	}
	counts := map[string]int{}
	for _, e := range f.entries {
		if e.at.Unix() < aws.ToInt64(q.StartTime) || e.at.Unix() > aws.ToInt64(q.EndTime) {
			continue
		}
		if (auth && e.status == "Failure" && e.reason == "AUTHORIZATION_FAILURE") ||
			(dup && (e.reason == "DUPLICATE_CLIENT_ID" || e.disconnectR == "DUPLICATE_CLIENTID")) {
			counts[e.principalID]++
		}
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return counts[b] - counts[a] })
	out := &cloudwatchlogs.GetQueryResultsOutput{Status: logtypes.QueryStatusComplete}
	for i, k := range keys {
		if i >= int(aws.ToInt32(q.Limit)) {
			break
		}
		out.Results = append(out.Results, []logtypes.ResultField{
			{Field: aws.String("principalId"), Value: aws.String(k)},
			{Field: aws.String("events"), Value: aws.String(strconv.Itoa(counts[k]))},
		})
	}
	return out, nil
}

// failures logs n refused operations by principal, in the client id it asked for.
func (f *fakeLogs) failures(n int, principal, clientID string) {
	for i := range n {
		f.entries = append(f.entries, logEntry{at: alarmChanged.Add(-time.Duration(i+1) * time.Second), clientID: clientID,
			principalID: principal, status: "Failure", reason: "AUTHORIZATION_FAILURE"})
	}
}

// fakeAlarms is CloudWatch's alarm definitions.
type fakeAlarms struct {
	alarms map[string]cwtypes.MetricAlarm
	calls  int
	err    error
}

func (f *fakeAlarms) DescribeAlarms(_ context.Context, in *cloudwatch.DescribeAlarmsInput, _ ...func(*cloudwatch.Options)) (*cloudwatch.DescribeAlarmsOutput, error) {
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	out := &cloudwatch.DescribeAlarmsOutput{}
	for _, n := range in.AlarmNames {
		if a, ok := f.alarms[n]; ok {
			out.MetricAlarms = append(out.MetricAlarms, a)
		}
	}
	return out, nil
}

func securityAlarm(name, metric string, threshold float64) cwtypes.MetricAlarm {
	return cwtypes.MetricAlarm{
		AlarmName: aws.String(name), Namespace: aws.String(Namespace), MetricName: aws.String(metric),
		Period: aws.Int32(300), EvaluationPeriods: aws.Int32(1), Threshold: aws.Float64(threshold),
		ComparisonOperator: cwtypes.ComparisonOperatorGreaterThanOrEqualToThreshold, Statistic: cwtypes.StatisticSum,
		StateValue: cwtypes.StateValueAlarm, StateTransitionedTimestamp: aws.Time(alarmChanged),
	}
}

// fakeNotifier records what was published.
type fakeNotifier struct {
	published []sns.PublishInput
	err       error
}

func (f *fakeNotifier) Publish(_ context.Context, in *sns.PublishInput, _ ...func(*sns.Options)) (*sns.PublishOutput, error) {
	if f.err != nil {
		return nil, f.err
	}
	f.published = append(f.published, *in)
	return &sns.PublishOutput{MessageId: aws.String("m")}, nil
}

func (f *fakeNotifier) notices(t *testing.T) []Notice {
	t.Helper()
	var out []Notice
	for _, p := range f.published {
		var n Notice
		if err := json.Unmarshal([]byte(aws.ToString(p.Message)), &n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

// fakeTable is the state table as far as TableBudget uses it: string sets per key, and the
// condition "attribute_not_exists(#m) OR contains(#m, :key) OR size(#m) < :cap" evaluated as
// DynamoDB would.
type fakeTable struct {
	mu    sync.Mutex
	items map[string][]string
	calls []dynamodb.UpdateItemInput
}

func (f *fakeTable) UpdateItem(_ context.Context, in *dynamodb.UpdateItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, *in)
	if aws.ToString(in.ConditionExpression) != "attribute_not_exists(#m) OR contains(#m, :key) OR size(#m) < :cap" ||
		aws.ToString(in.UpdateExpression) != "ADD #m :k SET #t = :exp" {
		return nil, errors.New("fake: unexpected expression")
	}
	if f.items == nil {
		f.items = map[string][]string{}
	}
	k := in.Key["pk"].(*ddbtypes.AttributeValueMemberS).Value + "|" + in.Key["sk"].(*ddbtypes.AttributeValueMemberS).Value
	key := in.ExpressionAttributeValues[":key"].(*ddbtypes.AttributeValueMemberS).Value
	capacity, _ := strconv.Atoi(in.ExpressionAttributeValues[":cap"].(*ddbtypes.AttributeValueMemberN).Value)
	members, exists := f.items[k]
	if exists && !slices.Contains(members, key) && len(members) >= capacity {
		return nil, &ddbtypes.ConditionalCheckFailedException{Message: aws.String("The conditional request failed")}
	}
	for _, v := range in.ExpressionAttributeValues[":k"].(*ddbtypes.AttributeValueMemberSS).Value {
		if !slices.Contains(members, v) {
			members = append(members, v)
		}
	}
	f.items[k] = members
	return &dynamodb.UpdateItemOutput{}, nil
}

// Registry additions: which things a certificate is attached to, which certificates the claim
// policy is attached to, and Detect's active violations.
type principalRegistry struct {
	*fakeRegistry
	claimTargets []string
	violations   []iottypes.ActiveViolation
	listCalls    []string
}

func (r *principalRegistry) ListPrincipalThings(_ context.Context, in *iot.ListPrincipalThingsInput, _ ...func(*iot.Options)) (*iot.ListPrincipalThingsOutput, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := aws.ToString(in.Principal)
	r.listCalls = append(r.listCalls, p)
	if r.listErr != nil {
		return nil, r.listErr
	}
	out := &iot.ListPrincipalThingsOutput{}
	for thing, principals := range r.things {
		if slices.Contains(principals, p) {
			out.Things = append(out.Things, thing)
		}
	}
	return out, nil
}

func (r *principalRegistry) ListTargetsForPolicy(_ context.Context, in *iot.ListTargetsForPolicyInput, _ ...func(*iot.Options)) (*iot.ListTargetsForPolicyOutput, error) {
	if aws.ToString(in.PolicyName) != claimPolicy {
		return nil, &iottypes.ResourceNotFoundException{Message: aws.String("no such policy")}
	}
	return &iot.ListTargetsForPolicyOutput{Targets: r.claimTargets}, nil
}

func (r *principalRegistry) ListActiveViolations(_ context.Context, in *iot.ListActiveViolationsInput, _ ...func(*iot.Options)) (*iot.ListActiveViolationsOutput, error) {
	out := &iot.ListActiveViolationsOutput{}
	for _, v := range r.violations {
		if aws.ToString(v.ThingName) == aws.ToString(in.ThingName) &&
			(in.SecurityProfileName == nil || aws.ToString(v.SecurityProfileName) == aws.ToString(in.SecurityProfileName)) {
			out.ActiveViolations = append(out.ActiveViolations, v)
		}
	}
	return out, nil
}

type quarantineRig struct {
	h        *Quarantine
	alarms   *fakeAlarms
	metrics  *fakeMetrics
	logs     *fakeLogs
	registry *principalRegistry
	table    *fakeTable
	notifier *fakeNotifier
	out      *logRecords
}

// newQuarantineRig: the fleet-total alarm (threshold 5 per 5 minutes) saw 14 failures.
// light-0001 (cert1, cert1b) and victim-light (certVictim) are street lights, signal-0001 a
// traffic signal; certClaim is the claim certificate and certRogue an active certificate with
// no thing. The logs hold no entries until a test adds them.
func newQuarantineRig() *quarantineRig {
	reg := newFakeRegistry()
	reg.register("light-0001", streetLightType, certARN(cert1), "eu-west-1:5d6e7f00-0000-0000-0000-000000000000", certARN(cert1b))
	reg.register("victim-light", streetLightType, certARN(certVictim))
	reg.register("signal-0001", trafficSignalType, certARN(certSignal))
	for _, c := range []string{cert1, cert1b, certVictim, certSignal, certClaim, certRogue} {
		reg.certStatus[c] = iottypes.CertificateStatusActive
	}
	r := &quarantineRig{
		alarms: &fakeAlarms{alarms: map[string]cwtypes.MetricAlarm{
			alarmName:    securityAlarm(alarmName, MetricAuthorizationFailures, 5),
			dupAlarmName: securityAlarm(dupAlarmName, MetricDuplicateClientIDs, 5),
		}},
		metrics:  &fakeMetrics{series: []cwtypes.MetricDataResult{series("fleet", 14)}},
		logs:     &fakeLogs{},
		registry: &principalRegistry{fakeRegistry: reg, claimTargets: []string{certARN(certClaim)}},
		table:    &fakeTable{},
		notifier: &fakeNotifier{},
		out:      &logRecords{},
	}
	r.h = &Quarantine{
		Group: quarantineGroup, Alarms: []string{alarmName, dupAlarmName}, LogGroup: "AWSIotLogsV2",
		CertificateARNPrefix: certARNPrefix, ClaimPolicy: claimPolicy, AlertTopic: alertTopic,
		Scope:  testScope(reg),
		Budget: &TableBudget{Client: r.table, Table: "DeviceState", Cap: DefaultQuarantineCap},
		Now:    func() time.Time { return alarmChanged.Add(40 * time.Second) },
		Sleep:  func(time.Duration) {},
		Alarm:  r.alarms, Metrics: r.metrics, Queries: r.logs, QueryResults: r.logs,
		PrincipalOf: r.registry, PolicyTargets: r.registry, Violations: r.registry,
		Groups: r.registry, Certificates: r.registry, Notify: r.notifier, Log: r.out.logger(),
	}
	return r
}

func (r *quarantineRig) alarm(t *testing.T) string {
	return readTestdata(t, "alarm-authorization-failures.json")
}

func (r *quarantineRig) quarantined() []string {
	return r.registry.members[quarantineGroup]
}

func (r *quarantineRig) outcomes(t *testing.T) []Action {
	var out []Action
	for _, n := range r.notifier.notices(t) {
		out = append(out, n.Actions...)
	}
	return out
}

// The framing attack: a device (cert1, attached to light-0001) makes refused CONNECTs as
// "victim-light", and a certificate attached to nothing (certRogue) does the same. The IoT
// logs name the victim as clientId in every entry. The victim must never be touched; the
// attacker's own thing is quarantined, and the thing-less certificate is flagged.
func TestFramingAttackNeverQuarantinesTheVictim(t *testing.T) {
	for _, deactivate := range []bool{false, true} {
		t.Run("deactivate="+strconv.FormatBool(deactivate), func(t *testing.T) {
			r := newQuarantineRig()
			r.h.DeactivateCertificates = deactivate
			r.logs.failures(7, cert1, "victim-light")
			r.logs.failures(9, certRogue, "victim-light")
			if err := r.h.Handle(context.Background(), snsEvent(r.alarm(t))); err != nil {
				t.Fatalf("Handle: %v", err)
			}
			if diff := cmp.Diff([]string{"light-0001"}, r.quarantined()); diff != "" {
				t.Errorf("quarantine group (-want +got):\n%s", diff)
			}
			if got := r.registry.certStatus[certVictim]; got != iottypes.CertificateStatusActive {
				t.Errorf("victim's certificate is %s, want ACTIVE", got)
			}
			wantStatus := map[string]iottypes.CertificateStatus{
				cert1: iottypes.CertificateStatusActive, cert1b: iottypes.CertificateStatusActive,
				certVictim: iottypes.CertificateStatusActive, certSignal: iottypes.CertificateStatusActive,
				certClaim: iottypes.CertificateStatusActive, certRogue: iottypes.CertificateStatusActive,
			}
			want := []Action{
				{Certificate: certRogue, Outcome: OutcomeCertificateFlagged, Events: 9, Detail: "the certificate has no thing attached; no thing was touched"},
				{Certificate: cert1, Thing: "light-0001", Outcome: OutcomeQuarantined, Events: 7},
			}
			if deactivate {
				// Only the offending certificates: light-0001's second certificate did nothing.
				wantStatus[cert1] = iottypes.CertificateStatusInactive
				wantStatus[certRogue] = iottypes.CertificateStatusInactive
				want = []Action{want[0], {Certificate: certRogue, Outcome: OutcomeCertificateDeactivate, Events: 9},
					want[1], {Certificate: cert1, Outcome: OutcomeCertificateDeactivate, Events: 7}}
			}
			if diff := cmp.Diff(wantStatus, r.registry.certStatus); diff != "" {
				t.Errorf("certificate statuses (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(want, r.outcomes(t)); diff != "" {
				t.Errorf("published actions (-want +got):\n%s", diff)
			}
			// The victim's name was never looked up: nothing the client asked to be called is read.
			for _, p := range r.registry.listCalls {
				if strings.Contains(p, "victim") {
					t.Errorf("ListPrincipalThings(%q): the client id reached the registry", p)
				}
			}
		})
	}
}

// The query the function runs: the IoT log group, the alarm's own window, grouped by
// principalId, never by clientId.
func TestQuarantineQueriesPrincipalsInTheAlarmsWindow(t *testing.T) {
	r := newQuarantineRig()
	r.logs.failures(6, cert1, "light-0001")
	if err := r.h.Handle(context.Background(), snsEvent(r.alarm(t))); err != nil {
		t.Fatal(err)
	}
	if len(r.logs.started) != 1 {
		t.Fatalf("StartQuery called %d times, want 1", len(r.logs.started))
	}
	q := r.logs.started[0]
	// The alarm went into ALARM at 12:07:31 after one 300 s period: the window is the whole
	// period that ends at the next boundary.
	if got, want := aws.ToInt64(q.StartTime), time.Date(2026, 3, 1, 12, 5, 0, 0, time.UTC).Unix(); got != want {
		t.Errorf("StartTime = %d, want %d", got, want)
	}
	if got, want := aws.ToInt64(q.EndTime), time.Date(2026, 3, 1, 12, 9, 59, 0, time.UTC).Unix(); got != want {
		t.Errorf("EndTime = %d, want %d", got, want)
	}
	if aws.ToString(q.LogGroupName) != "AWSIotLogsV2" {
		t.Errorf("LogGroupName = %q", aws.ToString(q.LogGroupName))
	}
	if s := aws.ToString(q.QueryString); strings.Contains(s, "clientId") || !strings.Contains(s, "by principalId") {
		t.Errorf("query %q must group by principalId and never read clientId", s)
	}
	if r.logs.polls != 2 {
		t.Errorf("GetQueryResults polled %d times, want 2 (Running, then Complete)", r.logs.polls)
	}
	// The metric read is the alarm's own metric, period and statistic.
	m := r.metrics.calls[0].MetricDataQueries[0].MetricStat
	if aws.ToString(m.Metric.MetricName) != MetricAuthorizationFailures || aws.ToInt32(m.Period) != 300 || aws.ToString(m.Stat) != "Sum" {
		t.Errorf("GetMetricData read %s/%d/%s, want AuthorizationFailures/300/Sum", aws.ToString(m.Metric.MetricName), aws.ToInt32(m.Period), aws.ToString(m.Stat))
	}
	if diff := cmp.Diff([]string{"light-0001"}, r.quarantined()); diff != "" {
		t.Errorf("quarantine group (-want +got):\n%s", diff)
	}
}

// A principal under the per-device threshold is left alone even when the fleet total fires.
func TestQuarantineOnlyPrincipalsAtTheThreshold(t *testing.T) {
	r := newQuarantineRig()
	r.logs.failures(4, cert1, "light-0001")
	r.logs.failures(4, certSignal, "signal-0001")
	if err := r.h.Handle(context.Background(), snsEvent(r.alarm(t))); err != nil {
		t.Fatal(err)
	}
	if len(r.quarantined()) != 0 || len(r.notifier.published) != 0 {
		t.Errorf("quarantined %v, published %d notices; want nothing (no certificate reached 5)", r.quarantined(), len(r.notifier.published))
	}
	if !r.out.has(t, "WARN alarm confirmed but no single certificate reached the per-device threshold") {
		t.Errorf("logs: %v", r.out.messages(t))
	}
}

// A forged alarm notification (any principal with sns:Publish on the topic can send one) says
// threshold 0 and a long window. The function reads the alarm's real definition and metric:
// the metric is under the real threshold, so nothing happens, whatever the logs hold.
func TestForgedAlarmActsOnNothing(t *testing.T) {
	// The logs hold 9 failures by cert1 and 3 by the traffic signal's certificate: acting
	// without confirmation would quarantine light-0001, and taking the message's threshold (0)
	// would pass the metric's 2 and count 3 as enough.
	for name, failures := range map[string]int{"unconfirmed": 9, "threshold from the message": 3} {
		t.Run(name, func(t *testing.T) {
			r := newQuarantineRig()
			r.metrics.series = []cwtypes.MetricDataResult{series("fleet", 2, 1)}
			r.logs.failures(failures, cert1, "light-0001")
			forged := editJSON(t, r.alarm(t), func(m map[string]any) {
				m["AlarmName"] = alarmName
				tr := m["Trigger"].(map[string]any)
				tr["Threshold"], tr["Period"], tr["EvaluationPeriods"] = 0, 86400, 30
			})
			if err := r.h.Handle(context.Background(), snsEvent(forged)); err != nil {
				t.Fatal(err)
			}
			if len(r.quarantined()) != 0 || len(r.notifier.published) != 0 || len(r.logs.started) != 0 {
				t.Errorf("forged alarm: quarantined %v, %d notices, %d queries; want none", r.quarantined(), len(r.notifier.published), len(r.logs.started))
			}
			if !r.out.has(t, "WARN alarm not confirmed by its metric; no action") {
				t.Errorf("logs: %v", r.out.messages(t))
			}
			if got := aws.ToInt32(r.metrics.calls[0].MetricDataQueries[0].MetricStat.Period); got != 300 {
				t.Errorf("metric period %d taken from the message, want the alarm's 300", got)
			}
		})
	}
}

func TestQuarantineIgnoresAlarmsItDoesNotOwn(t *testing.T) {
	for name, msg := range map[string]func(string) string{
		"another alarm's name": func(s string) string { return strings.Replace(s, alarmName, "someone-elses-alarm", 1) },
		"not in ALARM": func(s string) string {
			return strings.Replace(s, `"NewStateValue": "ALARM"`, `"NewStateValue": "OK"`, 1)
		},
		"not JSON": func(string) string { return "quarantine everything" },
	} {
		t.Run(name, func(t *testing.T) {
			r := newQuarantineRig()
			r.logs.failures(9, cert1, "light-0001")
			if err := r.h.Handle(context.Background(), snsEvent(msg(r.alarm(t)))); err != nil {
				t.Fatal(err)
			}
			if r.alarms.calls != 0 || len(r.quarantined()) != 0 {
				t.Errorf("DescribeAlarms called %d times, quarantined %v; want neither", r.alarms.calls, r.quarantined())
			}
		})
	}
	// An alarm on the list whose definition is not a detection alarm (edited in the console,
	// say) is refused too.
	r := newQuarantineRig()
	a := r.alarms.alarms[alarmName]
	a.Namespace = aws.String("AWS/IoT")
	r.alarms.alarms[alarmName] = a
	r.logs.failures(9, cert1, "light-0001")
	if err := r.h.Handle(context.Background(), snsEvent(r.alarm(t))); err != nil {
		t.Fatal(err)
	}
	if len(r.quarantined()) != 0 || !r.out.has(t, "ERROR alarm definition cannot be acted on") {
		t.Errorf("alarm in another namespace: quarantined %v, logs %v", r.quarantined(), r.out.messages(t))
	}
}

// The claim certificate is shared by every device awaiting provisioning: it is reported,
// never deactivated, even under DeactivateCertificates; known by policy attachment or by id.
func TestClaimCertificateIsNotifyOnly(t *testing.T) {
	for name, setup := range map[string]func(r *quarantineRig){
		"by claim policy": func(*quarantineRig) {},
		"by id": func(r *quarantineRig) {
			r.registry.claimTargets = nil
			r.h.ClaimCertificates = []string{certClaim}
		},
	} {
		t.Run(name, func(t *testing.T) {
			r := newQuarantineRig()
			setup(r)
			r.h.DeactivateCertificates = true
			r.logs.failures(20, certClaim, "victim-light")
			if err := r.h.Handle(context.Background(), snsEvent(r.alarm(t))); err != nil {
				t.Fatal(err)
			}
			if got := r.registry.certStatus[certClaim]; got != iottypes.CertificateStatusActive {
				t.Errorf("claim certificate is %s, want ACTIVE", got)
			}
			if len(r.quarantined()) != 0 || len(r.table.calls) != 0 {
				t.Errorf("quarantined %v, budget spent %d; want neither", r.quarantined(), len(r.table.calls))
			}
			got := r.outcomes(t)
			if len(got) != 1 || got[0].Outcome != OutcomeClaimCertificate || got[0].Certificate != certClaim {
				t.Errorf("published %+v, want one claim-certificate notice", got)
			}
		})
	}
}

// A class that chose notify-only (traffic signals by default) is reported, not quarantined.
func TestNotifyOnlyClassIsNotQuarantined(t *testing.T) {
	r := newQuarantineRig()
	r.h.DeactivateCertificates = true
	r.logs.failures(8, certSignal, "signal-0001")
	if err := r.h.Handle(context.Background(), snsEvent(r.alarm(t))); err != nil {
		t.Fatal(err)
	}
	if len(r.quarantined()) != 0 || r.registry.certStatus[certSignal] != iottypes.CertificateStatusActive {
		t.Errorf("quarantined %v, certificate %s; want nothing changed", r.quarantined(), r.registry.certStatus[certSignal])
	}
	want := []Action{{Certificate: certSignal, Thing: "signal-0001", Outcome: OutcomeNotifyOnlyClass, Events: 8,
		Detail: "class traffic_signal is notify-only in the fleet file"}}
	if diff := cmp.Diff(want, r.outcomes(t)); diff != "" {
		t.Errorf("published (-want +got):\n%s", diff)
	}
	if p := r.notifier.published[0]; aws.ToString(p.TopicArn) != alertTopic || !strings.HasPrefix(aws.ToString(p.Subject), "SmartCity quarantine: 1 notify-only-class") {
		t.Errorf("published to %s with subject %q", aws.ToString(p.TopicArn), aws.ToString(p.Subject))
	}
}

// At most Cap automated actions per window, across invocations; a redelivered alarm spends
// nothing twice; the next window has a fresh budget.
func TestQuarantineCapHolds(t *testing.T) {
	r := newQuarantineRig()
	r.h.Budget = &TableBudget{Client: r.table, Table: "DeviceState", Cap: 2}
	var certs []string
	for i := range 4 {
		id := strings.Repeat(string("abdf"[i]), 64)
		thing := "light-10" + strconv.Itoa(i)
		r.registry.register(thing, streetLightType, certARN(id))
		r.logs.failures(10-i, id, thing) // more events first
		certs = append(certs, id)
	}
	for range 2 { // the alarm, then its redelivery
		if err := r.h.Handle(context.Background(), snsEvent(r.alarm(t))); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff([]string{"light-100", "light-101"}, r.quarantined()); diff != "" {
		t.Errorf("quarantined (-want +got):\n%s", diff)
	}
	var capped []string
	for _, a := range r.outcomes(t) {
		if a.Outcome == OutcomeCapReached {
			capped = append(capped, a.Thing)
		}
	}
	if diff := cmp.Diff([]string{"light-102", "light-103", "light-102", "light-103"}, capped); diff != "" {
		t.Errorf("reported over the cap (-want +got):\n%s", diff)
	}
	// An hour later the budget is fresh: the two left out are quarantined when they offend again.
	r.h.Now = func() time.Time { return alarmChanged.Add(time.Hour) }
	r.logs.entries = nil
	r.logs.failures(9, certs[2], "light-102")
	r.logs.failures(9, certs[3], "light-103")
	if err := r.h.Handle(context.Background(), snsEvent(r.alarm(t))); err != nil {
		t.Fatal(err)
	}
	if got := len(r.quarantined()); got != 4 {
		t.Errorf("next window: %d quarantined, want 4", got)
	}
	// No budget configured (QUARANTINE_CAP=0) acts on nothing.
	r = newQuarantineRig()
	r.h.Budget = nil
	r.logs.failures(9, cert1, "light-0001")
	if err := r.h.Handle(context.Background(), snsEvent(r.alarm(t))); err != nil {
		t.Fatal(err)
	}
	if len(r.quarantined()) != 0 {
		t.Errorf("no budget: quarantined %v", r.quarantined())
	}
}

func TestTableBudgetItem(t *testing.T) {
	table := &fakeTable{}
	b := &TableBudget{Client: table, Table: "DeviceState", Cap: 1}
	now := time.Date(2026, 3, 1, 12, 59, 59, 0, time.UTC)
	for i, c := range []struct {
		key  string
		want bool
	}{{"thing/a", true}, {"thing/a", true}, {"thing/b", false}} {
		ok, err := b.Take(context.Background(), c.key, now)
		if err != nil || ok != c.want {
			t.Errorf("Take #%d(%s) = %v, %v; want %v", i, c.key, ok, err, c.want)
		}
	}
	in := table.calls[0]
	if pk := in.Key["pk"].(*ddbtypes.AttributeValueMemberS).Value; pk != BudgetPartition {
		t.Errorf("pk = %q", pk)
	}
	if sk := in.Key["sk"].(*ddbtypes.AttributeValueMemberS).Value; sk != "2026-03-01T12:00:00Z" {
		t.Errorf("sk = %q, want the window's start", sk)
	}
	if exp := in.ExpressionAttributeValues[":exp"].(*ddbtypes.AttributeValueMemberN).Value; exp != strconv.FormatInt(time.Date(2026, 3, 2, 13, 0, 0, 0, time.UTC).Unix(), 10) {
		t.Errorf("expiresAt = %s, want a day after the window", exp)
	}
}

func TestDuplicateClientIDAlarm(t *testing.T) {
	r := newQuarantineRig()
	for i := range 5 {
		r.logs.entries = append(r.logs.entries, logEntry{at: alarmChanged.Add(-time.Duration(i+1) * time.Second),
			clientID: "light-0001", principalID: cert1b, disconnectR: "DUPLICATE_CLIENTID"})
	}
	msg := editJSON(t, readTestdata(t, "alarm-authorization-failures.json"), func(m map[string]any) { m["AlarmName"] = dupAlarmName })
	if err := r.h.Handle(context.Background(), snsEvent(msg)); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"light-0001"}, r.quarantined()); diff != "" {
		t.Errorf("quarantined (-want +got):\n%s", diff)
	}
}

func TestQuarantineAWSFailuresAreReturned(t *testing.T) {
	cases := map[string]func(r *quarantineRig){
		"DescribeAlarms":  func(r *quarantineRig) { r.alarms.err = errNetwork },
		"GetMetricData":   func(r *quarantineRig) { r.metrics.err = errNetwork },
		"StartQuery":      func(r *quarantineRig) { r.logs.startErr = errNetwork },
		"GetQueryResults": func(r *quarantineRig) { r.logs.resultErr = errNetwork },
		"query failed":    func(r *quarantineRig) { r.logs.status = logtypes.QueryStatusFailed },
		"ListPrincipalThings": func(r *quarantineRig) {
			r.registry.listErr = errNetwork
		},
		"AddThingToThingGroup": func(r *quarantineRig) { r.registry.addErr["light-0001"] = errNetwork },
		"Publish":              func(r *quarantineRig) { r.notifier.err = errNetwork },
	}
	for name, breakIt := range cases {
		t.Run(name, func(t *testing.T) {
			r := newQuarantineRig()
			r.logs.failures(9, cert1, "light-0001")
			breakIt(r)
			if err := r.h.Handle(context.Background(), snsEvent(r.alarm(t))); err == nil {
				t.Fatal("Handle returned nil; an AWS failure must be returned so Lambda retries")
			}
		})
	}
}

func detectViolation(t *testing.T, thing string) string {
	return editJSON(t, readTestdata(t, "detect-violation.json"), func(m map[string]any) { m["thingName"] = thing })
}

// A Detect violation is acted on only while ListActiveViolations lists it.
func TestDetectViolationIsConfirmed(t *testing.T) {
	active := iottypes.ActiveViolation{ViolationId: aws.String("3ab9c1d2e4f5a6b7c8d9e0f1a2b3c4d5"), ThingName: aws.String("light-0001"),
		SecurityProfileName: aws.String("smartcity_dev_street_light")}

	r := newQuarantineRig()
	r.registry.violations = []iottypes.ActiveViolation{active}
	if err := r.h.Handle(context.Background(), snsEvent(detectViolation(t, "light-0001"))); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"light-0001"}, r.quarantined()); diff != "" {
		t.Errorf("confirmed violation: quarantined (-want +got):\n%s", diff)
	}

	// A forged violation naming the victim: Detect lists no such violation for it.
	r = newQuarantineRig()
	r.registry.violations = []iottypes.ActiveViolation{active}
	if err := r.h.Handle(context.Background(), snsEvent(detectViolation(t, "victim-light"))); err != nil {
		t.Fatal(err)
	}
	if len(r.quarantined()) != 0 || !r.out.has(t, "WARN detect violation not among the active violations; no action") {
		t.Errorf("forged violation: quarantined %v, logs %v", r.quarantined(), r.out.messages(t))
	}

	// A confirmed violation of a notify-only class is reported only.
	r = newQuarantineRig()
	r.registry.violations = []iottypes.ActiveViolation{{ViolationId: active.ViolationId, ThingName: aws.String("signal-0001"),
		SecurityProfileName: active.SecurityProfileName}}
	if err := r.h.Handle(context.Background(), snsEvent(detectViolation(t, "signal-0001"))); err != nil {
		t.Fatal(err)
	}
	if got := r.outcomes(t); len(r.quarantined()) != 0 || len(got) != 1 || got[0].Outcome != OutcomeNotifyOnlyClass {
		t.Errorf("notify-only violation: quarantined %v, published %+v", r.quarantined(), got)
	}

	// Cleared violations change nothing.
	r = newQuarantineRig()
	r.registry.violations = []iottypes.ActiveViolation{active}
	cleared := editJSON(t, detectViolation(t, "light-0001"), func(m map[string]any) { m["violationEventType"] = "alarm-cleared" })
	if err := r.h.Handle(context.Background(), snsEvent(cleared)); err != nil {
		t.Fatal(err)
	}
	if len(r.quarantined()) != 0 {
		t.Errorf("cleared violation quarantined %v", r.quarantined())
	}
}

// A thing attached to an offending certificate that is not the fleet's (another stage's) is
// reported, not quarantined.
func TestQuarantineOutOfScopeThing(t *testing.T) {
	r := newQuarantineRig()
	r.registry.register("prod-light", "smartcity_prod_street_light", certARN(cert1))
	r.logs.failures(9, cert1, "prod-light")
	if err := r.h.Handle(context.Background(), snsEvent(r.alarm(t))); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"light-0001"}, r.quarantined()); diff != "" {
		t.Errorf("quarantined (-want +got):\n%s", diff)
	}
	var out []string
	for _, a := range r.outcomes(t) {
		out = append(out, a.Thing+" "+a.Outcome)
	}
	if diff := cmp.Diff([]string{"light-0001 quarantined", "prod-light not-a-thing-of-the-fleet"}, out); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
}

func TestInsightsQuery(t *testing.T) {
	for _, m := range []string{MetricAuthorizationFailures, MetricDuplicateClientIDs} {
		q, err := InsightsQuery(m)
		if err != nil || strings.Contains(q, "clientId") || !strings.Contains(q, "stats count(*) as events by principalId") ||
			!strings.HasSuffix(q, "| limit "+strconv.Itoa(MaxPrincipalsPerAlarm)) {
			t.Errorf("InsightsQuery(%s) = %q, %v", m, q, err)
		}
	}
	if _, err := InsightsQuery("Other"); err == nil {
		t.Error("InsightsQuery(Other): want an error")
	}
}
