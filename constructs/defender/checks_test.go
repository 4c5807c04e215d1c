package defender

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/secure-smart-city/platform/lambdas/remediation/remediate"
)

// TestChecksMatchRemediation: the audit enables exactly the checks the remediation function
// knows a response for, so no finding falls through to its "unknown check" path.
func TestChecksMatchRemediation(t *testing.T) {
	var names []string
	keys := map[string]bool{}
	for _, c := range Checks {
		names = append(names, c.Name)
		if keys[c.Key] {
			t.Errorf("key %s twice", c.Key)
		}
		keys[c.Key] = true
	}
	slices.Sort(names)
	if diff := cmp.Diff(remediate.AuditChecks(), names); diff != "" {
		t.Errorf("checks differ from remediate.AuditChecks() (-remediate +defender):\n%s", diff)
	}
	if len(Checks) != 17 {
		t.Errorf("%d checks, want 17", len(Checks))
	}
}

func TestSchedules(t *testing.T) {
	weekly, daily := WeeklyChecks(), DailyChecks()
	if len(weekly) != 15 {
		t.Errorf("weekly audit has %d checks, want the 15 schedulable ones: %v", len(weekly), weekly)
	}
	for _, c := range daily {
		if !slices.Contains(weekly, c) {
			t.Errorf("daily check %s is not in the weekly audit", c)
		}
	}
	for _, c := range []string{"INTERMEDIATE_CA_REVOKED_FOR_ACTIVE_DEVICE_CERTIFICATES_CHECK", "IOT_POLICY_POTENTIAL_MISCONFIGURATION_CHECK"} {
		if !unschedulable(c) || slices.Contains(weekly, c) || slices.Contains(daily, c) {
			t.Errorf("%s must not be scheduled (CloudFormation refuses it)", c)
		}
	}
	// Every critical check, and every check whose finding the platform contains
	// automatically, runs daily.
	for _, c := range Checks {
		steps := remediate.CheckSteps(c.Name)
		contains := slices.Contains(steps, remediate.StepDeactivateCertificate) || slices.Contains(steps, remediate.StepQuarantine)
		if (c.Severity == "Critical" || contains) && !c.Unschedulable && !slices.Contains(daily, c.Name) {
			t.Errorf("%s (severity %s, contained automatically %v) is not in the daily audit", c.Name, c.Severity, contains)
		}
	}
	if !known("LOGGING_DISABLED_CHECK") || known("NO_SUCH_CHECK") {
		t.Error("known() is wrong")
	}
}

func TestFilters(t *testing.T) {
	if got := AuditNotificationFilter()["taskType"]; !slices.Contains(got, "SCHEDULED_AUDIT_TASK") || !slices.Contains(got, "ON_DEMAND_AUDIT_TASK") {
		t.Errorf("audit filter %v", got)
	}
	top, nested := SecurityAlarmFilter()
	if diff := cmp.Diff([]string{"ALARM"}, top["NewStateValue"]); diff != "" {
		t.Error(diff)
	}
	if diff := cmp.Diff([]string{remediate.Namespace}, nested["Trigger"]["Namespace"]); diff != "" {
		t.Error(diff)
	}
}
