package remediate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	iottypes "github.com/aws/aws-sdk-go-v2/service/iot/types"

	"github.com/secure-smart-city/platform/fleetspec"
	"github.com/secure-smart-city/platform/internal/registry"
)

// testFleet is built in code, the seam main.go fills from FLEET_FILE. It declares no things:
// which things exist is the registry's business (fakeRegistry), as in the runtime copy.
func testFleet() *fleetspec.Fleet {
	return &fleetspec.Fleet{
		Name:      "smartcity",
		Districts: []fleetspec.District{{ID: "old_town", Name: "Old Town"}},
		Classes: []fleetspec.DeviceClass{{ID: "street_light", Name: "Street light"},
			// No remediation set: traffic signals default to notify-only.
			{ID: "traffic_signal", Name: "Traffic signal"}},
	}
}

const (
	testPrefix        = "smartcity_dev"
	streetLightType   = testPrefix + "_street_light"
	trafficSignalType = testPrefix + "_traffic_signal"
)

// testScope acts on reg's things of the test fleet's classes, through the registry cache the
// functions use.
func testScope(reg *fakeRegistry) Scope {
	return Scope{Fleet: testFleet(), ThingTypePrefix: testPrefix, Things: registry.NewCache(reg, registry.Options{})}
}

func snsEvent(messages ...string) events.SNSEvent {
	var ev events.SNSEvent
	for i, m := range messages {
		ev.Records = append(ev.Records, events.SNSEventRecord{
			EventSource: "aws:sns",
			SNS:         events.SNSEntity{MessageID: "msg-" + strconv.Itoa(i), Type: "Notification", Message: m},
		})
	}
	return ev
}

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// editJSON decodes a fixture, lets the test change it, and encodes it again.
func editJSON(t *testing.T, doc string, edit func(m map[string]any)) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(doc), &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

type logRecords struct{ buf bytes.Buffer }

func (l *logRecords) logger() *slog.Logger { return slog.New(slog.NewJSONHandler(&l.buf, nil)) }

func (l *logRecords) records(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		out = append(out, m)
	}
	return out
}

// messages returns "LEVEL msg" for every record, in order.
func (l *logRecords) messages(t *testing.T) []string {
	var out []string
	for _, r := range l.records(t) {
		out = append(out, r["level"].(string)+" "+r["msg"].(string))
	}
	return out
}

func (l *logRecords) has(t *testing.T, levelMsg string) bool {
	return slices.Contains(l.messages(t), levelMsg)
}

// field returns the string values of key in the records logged as levelMsg.
func (l *logRecords) field(t *testing.T, levelMsg, key string) []string {
	var out []string
	for _, r := range l.records(t) {
		if r["level"].(string)+" "+r["msg"].(string) == levelMsg {
			s, _ := r[key].(string)
			out = append(out, s)
		}
	}
	return out
}

// fakeFindings serves findings per check, two per page so pagination is exercised.
type fakeFindings struct {
	byCheck map[string][]iottypes.AuditFinding
	err     error
	calls   []iot.ListAuditFindingsInput
}

func (f *fakeFindings) ListAuditFindings(_ context.Context, in *iot.ListAuditFindingsInput, _ ...func(*iot.Options)) (*iot.ListAuditFindingsOutput, error) {
	f.calls = append(f.calls, *in)
	if f.err != nil {
		return nil, f.err
	}
	all := f.byCheck[aws.ToString(in.CheckName)]
	start := 0
	if in.NextToken != nil {
		start, _ = strconv.Atoi(*in.NextToken)
	}
	end := min(start+2, len(all))
	out := &iot.ListAuditFindingsOutput{Findings: all[start:end]}
	if end < len(all) {
		out.NextToken = aws.String(strconv.Itoa(end))
	}
	return out, nil
}

// fakeTasks behaves like the service: a task id can be started once.
type fakeTasks struct {
	started map[string]iot.StartAuditMitigationActionsTaskInput
	order   []string
	err     error
}

func (f *fakeTasks) StartAuditMitigationActionsTask(_ context.Context, in *iot.StartAuditMitigationActionsTaskInput, _ ...func(*iot.Options)) (*iot.StartAuditMitigationActionsTaskOutput, error) {
	if f.err != nil {
		return nil, f.err
	}
	if f.started == nil {
		f.started = map[string]iot.StartAuditMitigationActionsTaskInput{}
	}
	id := aws.ToString(in.TaskId)
	if _, ok := f.started[id]; ok {
		return nil, &iottypes.TaskAlreadyExistsException{Message: aws.String("task already exists")}
	}
	f.started[id] = *in
	f.order = append(f.order, id)
	return &iot.StartAuditMitigationActionsTaskOutput{TaskId: in.TaskId}, nil
}

func (f *fakeTasks) inputs() []iot.StartAuditMitigationActionsTaskInput {
	var out []iot.StartAuditMitigationActionsTaskInput
	for _, id := range f.order {
		out = append(out, f.started[id])
	}
	return out
}

// fakeMetrics returns its series one per page.
type fakeMetrics struct {
	series []cwtypes.MetricDataResult
	err    error
	calls  []cloudwatch.GetMetricDataInput
}

func (f *fakeMetrics) GetMetricData(_ context.Context, in *cloudwatch.GetMetricDataInput, _ ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricDataOutput, error) {
	f.calls = append(f.calls, *in)
	if f.err != nil {
		return nil, f.err
	}
	i := 0
	if in.NextToken != nil {
		i, _ = strconv.Atoi(*in.NextToken)
	}
	out := &cloudwatch.GetMetricDataOutput{}
	if i < len(f.series) {
		out.MetricDataResults = f.series[i : i+1]
	}
	if i+1 < len(f.series) {
		out.NextToken = aws.String(strconv.Itoa(i + 1))
	}
	return out, nil
}

func series(thing string, values ...float64) cwtypes.MetricDataResult {
	return cwtypes.MetricDataResult{Id: aws.String("devices"), Label: aws.String(thing), Values: values, StatusCode: cwtypes.StatusCodeComplete}
}

// fakeRegistry is the IoT registry: things, their types, principals, group members and
// certificates.
type fakeRegistry struct {
	mu            sync.Mutex
	things        map[string][]string // thing -> principals
	types         map[string]string   // thing -> thing type ("" none)
	describeErr   error
	describeCalls int
	members       map[string][]string // group -> things
	certStatus    map[string]iottypes.CertificateStatus
	addErr        map[string]error // per thing
	listErr       error
	updateErr     map[string]error // per certificate id
	addCalls      int
}

func newFakeRegistry() *fakeRegistry {
	return &fakeRegistry{things: map[string][]string{}, types: map[string]string{}, members: map[string][]string{}, certStatus: map[string]iottypes.CertificateStatus{},
		addErr: map[string]error{}, updateErr: map[string]error{}}
}

// register adds a thing of a type with its principals.
func (r *fakeRegistry) register(thing, thingType string, principals ...string) {
	r.things[thing] = principals
	r.types[thing] = thingType
}

func (r *fakeRegistry) DescribeThing(_ context.Context, in *iot.DescribeThingInput, _ ...func(*iot.Options)) (*iot.DescribeThingOutput, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.describeCalls++
	if r.describeErr != nil {
		return nil, r.describeErr
	}
	thing := aws.ToString(in.ThingName)
	if _, ok := r.things[thing]; !ok {
		return nil, &iottypes.ResourceNotFoundException{Message: aws.String("Thing " + thing + " cannot be found.")}
	}
	out := &iot.DescribeThingOutput{ThingName: aws.String(thing), Attributes: map[string]string{"district": "old_town"}}
	if typ := r.types[thing]; typ != "" {
		out.ThingTypeName = aws.String(typ)
	}
	return out, nil
}

func (r *fakeRegistry) AddThingToThingGroup(_ context.Context, in *iot.AddThingToThingGroupInput, _ ...func(*iot.Options)) (*iot.AddThingToThingGroupOutput, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.addCalls++
	thing := aws.ToString(in.ThingName)
	if err := r.addErr[thing]; err != nil {
		return nil, err
	}
	if _, ok := r.things[thing]; !ok {
		return nil, &iottypes.ResourceNotFoundException{Message: aws.String("thing " + thing + " not found")}
	}
	g := aws.ToString(in.ThingGroupName)
	if !slices.Contains(r.members[g], thing) {
		r.members[g] = append(r.members[g], thing)
		slices.Sort(r.members[g])
	}
	return &iot.AddThingToThingGroupOutput{}, nil
}

func (r *fakeRegistry) ListThingPrincipals(_ context.Context, in *iot.ListThingPrincipalsInput, _ ...func(*iot.Options)) (*iot.ListThingPrincipalsOutput, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.listErr != nil {
		return nil, r.listErr
	}
	all := r.things[aws.ToString(in.ThingName)]
	i := 0
	if in.NextToken != nil {
		i, _ = strconv.Atoi(*in.NextToken)
	}
	out := &iot.ListThingPrincipalsOutput{}
	if i < len(all) {
		out.Principals = all[i : i+1]
	}
	if i+1 < len(all) {
		out.NextToken = aws.String(strconv.Itoa(i + 1))
	}
	return out, nil
}

func (r *fakeRegistry) UpdateCertificate(_ context.Context, in *iot.UpdateCertificateInput, _ ...func(*iot.Options)) (*iot.UpdateCertificateOutput, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	id := aws.ToString(in.CertificateId)
	if err := r.updateErr[id]; err != nil {
		return nil, err
	}
	if _, ok := r.certStatus[id]; !ok {
		return nil, &iottypes.ResourceNotFoundException{Message: aws.String("certificate not found")}
	}
	r.certStatus[id] = in.NewStatus
	return &iot.UpdateCertificateOutput{}, nil
}

var errNetwork = errors.New("dial tcp: connection reset by peer")
