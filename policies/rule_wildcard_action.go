package policies

import (
	"fmt"
	"strings"
)

// ruleWildcardAction: the IoT actions a device needs are few and named; a wildcard grants
// every action AWS adds later as well. Partial wildcards ("iot:Get*", even "iot:Publish*")
// are findings too: they already span unrelated actions (iot:Get* covers
// GetThingShadow and GetRetainedMessage) or will.
var ruleWildcardAction = Rule{
	ID:          "IoTPolicy-WildcardAction",
	Name:        "no wildcard actions in Allow",
	Description: "An Allow statement's action contains \"*\" or \"?\" (\"*\", \"iot:*\", \"iot:Publish*\"). Deny iot:* is fine.",
	Mirrors:     "cfn_nag W38 (IotPolicyWildcardActionRule); cfn-guard IOT_POLICY_WILDCARD_ACTION_RULE",
	Check:       checkWildcardAction,
}

func checkWildcardAction(s Statement) []string {
	if s.Effect != Allow {
		return nil
	}
	var out []string
	for _, a := range s.Actions {
		if strings.ContainsAny(a, "*?") {
			out = append(out, fmt.Sprintf("Allow with wildcard action %q: list the IoT actions the statement needs", a))
		}
	}
	return out
}
