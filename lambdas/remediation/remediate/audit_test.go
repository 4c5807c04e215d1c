package remediate

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	iottypes "github.com/aws/aws-sdk-go-v2/service/iot/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

const auditTaskID = "4e2bcd1ccbc2a5dd15292a82ab80c380"

var testActions = ActionNames{
	DeactivateCertificate: "smartcity-deactivate-cert",
	Quarantine:            "smartcity-quarantine",
	EnableLogging:         "smartcity-enable-logging",
	PublishFinding:        "smartcity-publish-finding",
}

func finding(id, check string, clientIDs ...string) iottypes.AuditFinding {
	f := iottypes.AuditFinding{
		FindingId: aws.String(id), CheckName: aws.String(check), TaskId: aws.String(auditTaskID),
		NonCompliantResource: &iottypes.NonCompliantResource{
			ResourceType:       iottypes.ResourceTypeDeviceCertificate,
			ResourceIdentifier: &iottypes.ResourceIdentifier{DeviceCertificateId: aws.String("cert-" + id)},
		},
	}
	for _, c := range clientIDs {
		f.RelatedResources = append(f.RelatedResources, iottypes.RelatedResource{
			ResourceType: iottypes.ResourceTypeClientId, ResourceIdentifier: &iottypes.ResourceIdentifier{ClientId: aws.String(c)},
		})
	}
	return f
}

// defaultFindings match the fixture: two shared-certificate findings, one expiring CA, logging
// off.
func defaultFindings() map[string][]iottypes.AuditFinding {
	return map[string][]iottypes.AuditFinding{
		"DEVICE_CERTIFICATE_SHARED_CHECK": {
			finding("f-shared-2", "DEVICE_CERTIFICATE_SHARED_CHECK", "light-0002", "light-0002-clone"),
			finding("f-shared-1", "DEVICE_CERTIFICATE_SHARED_CHECK", "light-0001"),
		},
		"CA_CERTIFICATE_EXPIRING_CHECK": {finding("f-ca-1", "CA_CERTIFICATE_EXPIRING_CHECK")},
		"LOGGING_DISABLED_CHECK":        {finding("f-log-1", "LOGGING_DISABLED_CHECK")},
	}
}

type auditRig struct {
	h        *Audit
	findings *fakeFindings
	tasks    *fakeTasks
	registry *fakeRegistry
	logs     *logRecords
}

// newAuditRig: the registry holds light-0001 to light-0003 of the fleet's street light type.
func newAuditRig(findings map[string][]iottypes.AuditFinding) *auditRig {
	reg := newFakeRegistry()
	for _, n := range []string{"light-0001", "light-0002", "light-0003"} {
		reg.register(n, streetLightType)
	}
	r := &auditRig{findings: &fakeFindings{byCheck: findings}, tasks: &fakeTasks{}, registry: reg, logs: &logRecords{}}
	r.h = &Audit{Actions: testActions, Scope: testScope(reg), Findings: r.findings, Tasks: r.tasks, Log: r.logs.logger()}
	return r
}

func wantTask(check string, actions []string, ids ...string) iot.StartAuditMitigationActionsTaskInput {
	taskID := mitigationTaskID(auditTaskID, check, ids)
	return iot.StartAuditMitigationActionsTaskInput{
		TaskId:                     aws.String(taskID),
		ClientRequestToken:         aws.String(clientToken(taskID)),
		Target:                     &iottypes.AuditMitigationActionsTaskTarget{FindingIds: ids},
		AuditCheckToActionsMapping: map[string][]string{check: actions},
	}
}

var taskOpts = cmpopts.IgnoreUnexported(iot.StartAuditMitigationActionsTaskInput{}, iottypes.AuditMitigationActionsTaskTarget{})

func TestAuditStartsOneTaskPerNonCompliantCheck(t *testing.T) {
	r := newAuditRig(defaultFindings())
	if err := r.h.Handle(context.Background(), snsEvent(readTestdata(t, "audit-notification.json"))); err != nil {
		t.Fatalf("Handle: %v", err)
	}
	want := []iot.StartAuditMitigationActionsTaskInput{
		wantTask("DEVICE_CERTIFICATE_SHARED_CHECK",
			[]string{"smartcity-deactivate-cert", "smartcity-quarantine", "smartcity-publish-finding"}, "f-shared-1", "f-shared-2"),
		wantTask("CA_CERTIFICATE_EXPIRING_CHECK", []string{"smartcity-publish-finding"}, "f-ca-1"),
		wantTask("LOGGING_DISABLED_CHECK", []string{"smartcity-enable-logging", "smartcity-publish-finding"}, "f-log-1"),
	}
	if diff := cmp.Diff(want, r.tasks.inputs(), taskOpts); diff != "" {
		t.Errorf("tasks (-want +got):\n%s", diff)
	}
	// Compliant and failed checks are not listed at all.
	var listed []string
	for _, c := range r.findings.calls {
		if aws.ToString(c.TaskId) != auditTaskID {
			t.Errorf("listed findings of task %q", aws.ToString(c.TaskId))
		}
		listed = append(listed, aws.ToString(c.CheckName))
	}
	listed = slices.Compact(listed)
	if diff := cmp.Diff([]string{"DEVICE_CERTIFICATE_SHARED_CHECK", "CA_CERTIFICATE_EXPIRING_CHECK", "LOGGING_DISABLED_CHECK"}, listed); diff != "" {
		t.Errorf("checks listed (-want +got):\n%s", diff)
	}
}

func TestAuditRedeliveryStartsNoSecondTask(t *testing.T) {
	r := newAuditRig(defaultFindings())
	msg := readTestdata(t, "audit-notification.json")
	for i := range 2 {
		if err := r.h.Handle(context.Background(), snsEvent(msg)); err != nil {
			t.Fatalf("delivery %d: %v", i, err)
		}
	}
	if got := len(r.tasks.started); got != 3 {
		t.Errorf("started %d tasks over two deliveries, want 3", got)
	}
	if !r.logs.has(t, "INFO mitigation task already started") {
		t.Errorf("redelivery not logged as already started: %v", r.logs.messages(t))
	}
}

func TestAuditPaginatesAndChunksFindings(t *testing.T) {
	const check = "REVOKED_DEVICE_CERTIFICATE_STILL_ACTIVE_CHECK"
	var fs []iottypes.AuditFinding
	var ids []string
	for i := range 30 {
		id := fmt.Sprintf("f-%02d", i)
		fs = append(fs, finding(id, check, "light-0001"))
		ids = append(ids, id)
	}
	suppressed := finding("f-suppressed", check, "light-0001")
	suppressed.IsSuppressed = aws.Bool(true)
	fs = append(fs, suppressed)
	r := newAuditRig(map[string][]iottypes.AuditFinding{check: fs})
	msg := fmt.Sprintf(`{"taskId":%q,"taskStatus":"COMPLETED","taskType":"ON_DEMAND_AUDIT_TASK","auditDetails":[{"checkName":%q,"checkRunStatus":"COMPLETED_NON_COMPLIANT","nonCompliantResourcesCount":31,"totalResourcesCount":31}]}`, auditTaskID, check)
	if err := r.h.Handle(context.Background(), snsEvent(msg)); err != nil {
		t.Fatal(err)
	}
	if got := len(r.findings.calls); got != 16 {
		t.Errorf("ListAuditFindings called %d times, want 16 pages of 2", got)
	}
	actions := []string{"smartcity-deactivate-cert", "smartcity-quarantine", "smartcity-publish-finding"}
	want := []iot.StartAuditMitigationActionsTaskInput{wantTask(check, actions, ids[:25]...), wantTask(check, actions, ids[25:]...)}
	if diff := cmp.Diff(want, r.tasks.inputs(), taskOpts); diff != "" {
		t.Errorf("tasks (-want +got):\n%s", diff)
	}
}

func TestAuditSkipsFindingsForUnknownThings(t *testing.T) {
	const check = "DEVICE_CERTIFICATE_SHARED_CHECK"
	r := newAuditRig(map[string][]iottypes.AuditFinding{check: {
		finding("f-known", check, "light-0003"),
		finding("f-mixed", check, "light-0001", "intruder-7"),
		finding("f-unknown", check, "intruder-7", "intruder-8"),
		finding("f-no-client", check),
	}})
	msg := fmt.Sprintf(`{"taskId":%q,"taskStatus":"COMPLETED","auditDetails":[{"checkName":%q,"checkRunStatus":"COMPLETED_NON_COMPLIANT","nonCompliantResourcesCount":4}]}`, auditTaskID, check)
	if err := r.h.Handle(context.Background(), snsEvent(msg)); err != nil {
		t.Fatal(err)
	}
	want := []iot.StartAuditMitigationActionsTaskInput{wantTask(check,
		[]string{"smartcity-deactivate-cert", "smartcity-quarantine", "smartcity-publish-finding"}, "f-known", "f-mixed", "f-no-client")}
	if diff := cmp.Diff(want, r.tasks.inputs(), taskOpts); diff != "" {
		t.Errorf("tasks (-want +got):\n%s", diff)
	}
	var logged []any
	for _, rec := range r.logs.records(t) {
		if rec["msg"] == "finding names only things outside the fleet; no action" && rec["level"] == "ERROR" {
			logged = append(logged, rec["findingId"])
		}
	}
	if diff := cmp.Diff([]any{"f-unknown"}, logged); diff != "" {
		t.Errorf("logged unknown-thing findings (-want +got):\n%s", diff)
	}
}

// TestAuditActsOnRuntimeThings: a finding about a thing the fleet file never declared, of the
// fleet's thing type, is contained; one about another stage's thing is not; a registry that
// cannot answer fails the event so Lambda retries it.
func TestAuditActsOnRuntimeThings(t *testing.T) {
	const check = "DEVICE_CERTIFICATE_SHARED_CHECK"
	findings := map[string][]iottypes.AuditFinding{check: {
		finding("f-runtime", check, "sl-harbour-042"),
		finding("f-prod", check, "sl-prod-001"),
	}}
	msg := fmt.Sprintf(`{"taskId":%q,"taskStatus":"COMPLETED","auditDetails":[{"checkName":%q,"checkRunStatus":"COMPLETED_NON_COMPLIANT","nonCompliantResourcesCount":2}]}`, auditTaskID, check)
	r := newAuditRig(findings)
	r.registry.register("sl-harbour-042", streetLightType)
	r.registry.register("sl-prod-001", "smartcity_prod_street_light")
	if err := r.h.Handle(context.Background(), snsEvent(msg)); err != nil {
		t.Fatal(err)
	}
	want := []iot.StartAuditMitigationActionsTaskInput{wantTask(check,
		[]string{"smartcity-deactivate-cert", "smartcity-quarantine", "smartcity-publish-finding"}, "f-runtime")}
	if diff := cmp.Diff(want, r.tasks.inputs(), taskOpts); diff != "" {
		t.Errorf("tasks (-want +got):\n%s", diff)
	}
	if got := r.logs.field(t, "ERROR finding names only things outside the fleet; no action", "findingId"); !cmp.Equal(got, []string{"f-prod"}) {
		t.Errorf("no-action findings %v, want [f-prod]", got)
	}

	r = newAuditRig(findings)
	r.registry.describeErr = errNetwork
	if err := r.h.Handle(context.Background(), snsEvent(msg)); !errors.Is(err, errNetwork) {
		t.Errorf("registry failure: %v, want it returned for a retry", err)
	}
	if len(r.tasks.started) != 0 {
		t.Errorf("started %v while the registry could not say which things are the fleet's", r.tasks.order)
	}
}

func TestAuditOnlyUnknownThingsStartsNothing(t *testing.T) {
	const check = "REVOKED_DEVICE_CERTIFICATE_STILL_ACTIVE_CHECK"
	r := newAuditRig(map[string][]iottypes.AuditFinding{check: {finding("f-1", check, "ghost-1")}})
	msg := fmt.Sprintf(`{"taskId":%q,"taskStatus":"COMPLETED","auditDetails":[{"checkName":%q,"checkRunStatus":"COMPLETED_NON_COMPLIANT","nonCompliantResourcesCount":1}]}`, auditTaskID, check)
	if err := r.h.Handle(context.Background(), snsEvent(msg)); err != nil {
		t.Fatal(err)
	}
	if len(r.tasks.started) != 0 {
		t.Errorf("started %v, want nothing", r.tasks.order)
	}
}

func TestAuditBadInputIsLoggedNotReturned(t *testing.T) {
	valid := readTestdata(t, "audit-notification.json")
	tests := []struct {
		name    string
		message string
		wantLog string
	}{
		{"not JSON", "Device Defender says hello", "ERROR malformed audit notification"},
		{"empty", "", "ERROR malformed audit notification"},
		{"JSON array", "[1,2]", "ERROR malformed audit notification"},
		{"no task id", editJSON(t, valid, func(m map[string]any) { delete(m, "taskId") }), "ERROR audit notification has no valid task id"},
		{"task id with a slash", editJSON(t, valid, func(m map[string]any) { m["taskId"] = "../tasks/x" }), "ERROR audit notification has no valid task id"},
		{"audit failed", editJSON(t, valid, func(m map[string]any) { m["taskStatus"] = "FAILED" }), "INFO audit did not complete; nothing to mitigate"},
		{"audit canceled", editJSON(t, valid, func(m map[string]any) { m["taskStatus"] = "CANCELED" }), "INFO audit did not complete; nothing to mitigate"},
		{"check name with quotes", editJSON(t, valid, func(m map[string]any) {
			m["auditDetails"] = []any{map[string]any{"checkName": `X" OR "1`, "checkRunStatus": "COMPLETED_NON_COMPLIANT", "nonCompliantResourcesCount": 1}}
		}), "ERROR audit notification names an invalid check"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newAuditRig(defaultFindings())
			if err := r.h.Handle(context.Background(), snsEvent(tt.message)); err != nil {
				t.Fatalf("Handle returned %v for bad input", err)
			}
			if len(r.findings.calls) != 0 || len(r.tasks.started) != 0 {
				t.Errorf("acted on bad input: %d list calls, tasks %v", len(r.findings.calls), r.tasks.order)
			}
			if !r.logs.has(t, tt.wantLog) {
				t.Errorf("log %v lacks %q", r.logs.messages(t), tt.wantLog)
			}
		})
	}
}

func TestAuditUnknownCheckIsPublished(t *testing.T) {
	const check = "SOME_FUTURE_CHECK"
	r := newAuditRig(map[string][]iottypes.AuditFinding{check: {finding("f-1", check, "someone")}})
	msg := fmt.Sprintf(`{"taskId":%q,"taskStatus":"COMPLETED","auditDetails":[{"checkName":%q,"checkRunStatus":"COMPLETED_NON_COMPLIANT","nonCompliantResourcesCount":1}]}`, auditTaskID, check)
	if err := r.h.Handle(context.Background(), snsEvent(msg)); err != nil {
		t.Fatal(err)
	}
	want := []iot.StartAuditMitigationActionsTaskInput{wantTask(check, []string{"smartcity-publish-finding"}, "f-1")}
	if diff := cmp.Diff(want, r.tasks.inputs(), taskOpts); diff != "" {
		t.Errorf("tasks (-want +got):\n%s", diff)
	}
}

func TestAuditUnconfiguredActionsAreDropped(t *testing.T) {
	r := newAuditRig(defaultFindings())
	r.h.Actions = ActionNames{Quarantine: "smartcity-quarantine"}
	if err := r.h.Handle(context.Background(), snsEvent(readTestdata(t, "audit-notification.json"))); err != nil {
		t.Fatal(err)
	}
	// Only the shared-certificate check has a configured step left.
	want := []iot.StartAuditMitigationActionsTaskInput{
		wantTask("DEVICE_CERTIFICATE_SHARED_CHECK", []string{"smartcity-quarantine"}, "f-shared-1", "f-shared-2"),
	}
	if diff := cmp.Diff(want, r.tasks.inputs(), taskOpts); diff != "" {
		t.Errorf("tasks (-want +got):\n%s", diff)
	}
}

func TestAuditAWSErrors(t *testing.T) {
	tests := []struct {
		name      string
		listErr   error
		startErr  error
		wantError bool
	}{
		{"list throttled", &iottypes.ThrottlingException{Message: aws.String("slow down")}, nil, true},
		{"list network failure", errNetwork, nil, true},
		{"list: audit task unknown", &iottypes.ResourceNotFoundException{Message: aws.String("no such task")}, nil, false},
		{"start throttled", nil, &iottypes.ThrottlingException{Message: aws.String("slow down")}, true},
		{"start limit exceeded", nil, &iottypes.LimitExceededException{Message: aws.String("too many tasks")}, true},
		{"start internal failure", nil, &iottypes.InternalFailureException{Message: aws.String("oops")}, true},
		{"start rejected", nil, &iottypes.InvalidRequestException{Message: aws.String("action not valid for check")}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newAuditRig(defaultFindings())
			r.findings.err, r.tasks.err = tt.listErr, tt.startErr
			err := r.h.Handle(context.Background(), snsEvent(readTestdata(t, "audit-notification.json")))
			if (err != nil) != tt.wantError {
				t.Fatalf("error = %v, want error: %v", err, tt.wantError)
			}
			if err != nil && !errors.Is(err, tt.listErr) && !errors.Is(err, tt.startErr) {
				t.Errorf("error %v does not wrap the AWS error", err)
			}
		})
	}
}

// The 17 checks of SECURITY-REFERENCE.md, and the mitigation action types AWS supports for
// each (Device Defender's "audit check to mitigation action mapping").
var supportedSteps = map[string][]Step{
	"AUTHENTICATED_COGNITO_ROLE_OVERLY_PERMISSIVE_CHECK":           {StepPublishFinding},
	"CA_CERTIFICATE_EXPIRING_CHECK":                                {StepPublishFinding},
	"CA_CERTIFICATE_KEY_QUALITY_CHECK":                             {StepPublishFinding},
	"CONFLICTING_CLIENT_IDS_CHECK":                                 {StepPublishFinding},
	"DEVICE_CERTIFICATE_AGE_CHECK":                                 {StepPublishFinding, StepDeactivateCertificate, StepQuarantine},
	"DEVICE_CERTIFICATE_EXPIRING_CHECK":                            {StepPublishFinding, StepDeactivateCertificate, StepQuarantine},
	"DEVICE_CERTIFICATE_KEY_QUALITY_CHECK":                         {StepPublishFinding, StepDeactivateCertificate, StepQuarantine},
	"DEVICE_CERTIFICATE_SHARED_CHECK":                              {StepPublishFinding, StepDeactivateCertificate, StepQuarantine},
	"INTERMEDIATE_CA_REVOKED_FOR_ACTIVE_DEVICE_CERTIFICATES_CHECK": {StepPublishFinding, StepDeactivateCertificate, StepQuarantine},
	"IOT_POLICY_OVERLY_PERMISSIVE_CHECK":                           {StepPublishFinding},
	"IOT_POLICY_POTENTIAL_MISCONFIGURATION_CHECK":                  {StepPublishFinding},
	"IOT_ROLE_ALIAS_ALLOWS_ACCESS_TO_UNUSED_SERVICES_CHECK":        {StepPublishFinding},
	"IOT_ROLE_ALIAS_OVERLY_PERMISSIVE_CHECK":                       {StepPublishFinding},
	"LOGGING_DISABLED_CHECK":                                       {StepPublishFinding, StepEnableLogging},
	"REVOKED_CA_CERTIFICATE_STILL_ACTIVE_CHECK":                    {StepPublishFinding},
	"REVOKED_DEVICE_CERTIFICATE_STILL_ACTIVE_CHECK":                {StepPublishFinding, StepDeactivateCertificate, StepQuarantine},
	"UNAUTHENTICATED_COGNITO_ROLE_OVERLY_PERMISSIVE_CHECK":         {StepPublishFinding},
}

func TestCheckStepsCoverEveryCheckWithSupportedActions(t *testing.T) {
	var want []string
	for c := range supportedSteps {
		want = append(want, c)
	}
	slices.Sort(want)
	if diff := cmp.Diff(want, AuditChecks()); diff != "" {
		t.Errorf("mapped checks (-want +got):\n%s", diff)
	}
	for check, steps := range checkSteps {
		if len(steps) == 0 {
			t.Errorf("%s has no steps", check)
		}
		for _, s := range steps {
			if !slices.Contains(supportedSteps[check], s) {
				t.Errorf("%s maps to %s, which Device Defender does not support for it", check, s)
			}
		}
		// Containment before notification: a failed action skips the finding's later ones.
		if i := slices.Index(steps, StepPublishFinding); i != len(steps)-1 {
			t.Errorf("%s: publish-finding is step %d of %v, want last", check, i, steps)
		}
	}
}

func TestMitigationTaskIDFitsTheAPI(t *testing.T) {
	taskIDPattern := regexp.MustCompile(`^[a-zA-Z0-9_-]{1,128}$`)
	tokenPattern := regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)
	longAudit := strings.Repeat("a", 40)
	ids := []string{"f-1", "f-2"}
	for _, check := range append(AuditChecks(), strings.Repeat("X", 100)) {
		id := mitigationTaskID(longAudit, check, ids)
		if !taskIDPattern.MatchString(id) {
			t.Errorf("task id %q (%d chars) does not fit the API", id, len(id))
		}
		if tok := clientToken(id); !tokenPattern.MatchString(tok) {
			t.Errorf("client token %q does not fit the API", tok)
		}
	}
	a := mitigationTaskID(auditTaskID, "LOGGING_DISABLED_CHECK", []string{"f-1"})
	if b := mitigationTaskID(auditTaskID, "LOGGING_DISABLED_CHECK", []string{"f-1"}); a != b {
		t.Errorf("task id not deterministic: %q vs %q", a, b)
	}
	if b := mitigationTaskID(auditTaskID, "LOGGING_DISABLED_CHECK", []string{"f-2"}); a == b {
		t.Errorf("different findings share task id %q", a)
	}
}
