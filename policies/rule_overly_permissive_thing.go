package policies

import "fmt"

// ruleOverlyPermissiveThing: shadow and job actions on many things read or change every
// device's state and job executions.
var ruleOverlyPermissiveThing = Rule{
	ID:   "IoTPolicy-OverlyPermissiveThing",
	Name: "shadow and job actions only on the connected thing",
	Description: "Allow DeleteThingShadow, GetThingShadow, UpdateThingShadow, DescribeJobExecution, " +
		"GetPendingJobExecutions, StartNextPendingJobExecution or UpdateJobExecution on a thing " +
		"resource with a wildcard (thing/*, *) or ${iot:ClientId}.",
	Mirrors: "IOT_POLICY_OVERLY_PERMISSIVE_CHECK: thing/* for the shadow and job actions",
	Check:   checkOverlyPermissiveThing,
}

func checkOverlyPermissiveThing(s Statement) []string {
	if s.Effect != Allow || !coversAnyAction(s.Actions, shadowJobActions...) {
		return nil
	}
	var out []string
	for _, r := range s.Resources {
		typ, rest := splitResource(r)
		if typ == "*" || (typ == TypeThing && firstOpen(statementTokens(s, rest, false)) >= 0) {
			out = append(out, fmt.Sprintf("shadow and job actions on %q reach other things; use %s", r, Thing(varRef(varThingName))))
		}
	}
	return out
}
