package defender

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/secure-smart-city/platform/lambdas/remediation/contract"
)

// TestChecks: 17 checks, each key once. That the remediation function knows a response for
// each, and that the ones it contains automatically run daily, is checked where both packages
// meet (test/operations_defender_test.go): a construct does not import a function's logic.
func TestChecks(t *testing.T) {
	keys := map[string]bool{}
	for _, c := range Checks {
		if keys[c.Key] {
			t.Errorf("key %s twice", c.Key)
		}
		keys[c.Key] = true
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
	// Every critical check runs daily.
	for _, c := range Checks {
		if c.Severity == "Critical" && !c.Unschedulable && !slices.Contains(daily, c.Name) {
			t.Errorf("%s (severity %s) is not in the daily audit", c.Name, c.Severity)
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
	if diff := cmp.Diff([]string{contract.MetricNamespace}, nested["Trigger"]["Namespace"]); diff != "" {
		t.Error(diff)
	}
}
