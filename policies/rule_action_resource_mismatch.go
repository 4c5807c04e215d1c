package policies

import (
	"fmt"
	"strings"
)

// ruleActionResourceMismatch: a grant that can never match is a policy that does not do what
// its author thinks (iot:Subscribe on topic/..., say, which needs topicfilter/...). Usually the
// author then widens something else until the device works.
var ruleActionResourceMismatch = Rule{
	ID:   "IoTPolicy-ActionResourceMismatch",
	Name: "actions and resources that can match",
	Description: "A statement with no actions or resources; an unknown iot: action; a resource that " +
		"is not an IoT resource or of an unknown type; an action none of whose resources has its " +
		"type (iot:Subscribe needs topicfilter/, Publish/Receive topic/, Connect client/, shadow " +
		"and job actions thing/); a resource no action of the statement applies to; \"+\" or \"#\" " +
		"in an Allow topic/ resource, where they are literal and no topic name contains them; a " +
		"${iot:Connection.Thing.<x>} variable that is not a thing policy variable (a misspelling), " +
		"which never resolves.",
	Mirrors: "none (this project's own); AWS IoT Core action resources table",
	Check:   checkActionResourceMismatch,
}

func checkActionResourceMismatch(s Statement) []string {
	var out []string
	if len(s.Actions) == 0 {
		out = append(out, "statement has no actions")
	}
	if len(s.Resources) == 0 {
		out = append(out, "statement has no resources")
	}
	judgeResources := true
	for _, a := range s.Actions {
		lower := strings.ToLower(a)
		if a != "*" && !strings.HasPrefix(lower, "iot:") {
			judgeResources = false // another service's action (greengrass:, say): not ours to judge
			continue
		}
		if strings.ContainsAny(a, "*?") {
			continue
		}
		typ, known := actionTypes[lower]
		if !known {
			out = append(out, fmt.Sprintf("unknown IoT action %q", a))
			continue
		}
		if typ == "" || len(s.Resources) == 0 {
			continue
		}
		has := false
		for _, r := range s.Resources {
			rt, _ := splitResource(r)
			if coversType(rt, typ) {
				has = true
				break
			}
		}
		if !has {
			out = append(out, fmt.Sprintf("%s applies to %s/ resources and the statement has none, so it grants nothing", a, typ))
		}
	}
	if !judgeResources {
		return out
	}
	for _, r := range s.Resources {
		typ, rest := splitResource(r)
		switch {
		case typ == "*":
		case typ == "":
			out = append(out, fmt.Sprintf("resource %q is neither an IoT ARN nor <type>/<name>", r))
		case !isKnownType(typ):
			out = append(out, fmt.Sprintf("resource %q has unknown type %q", r, typ))
		case !coversActionOfType(s.Actions, typ):
			out = append(out, fmt.Sprintf("resource %q is a %s/ resource, which none of the statement's actions applies to", r, typ))
		case s.Effect == Allow && typ == TypeTopic && strings.ContainsAny(rest, "+#"):
			out = append(out, fmt.Sprintf("topic resource %q contains \"+\" or \"#\", literal in policies: no topic name contains them (use topicfilter/ for iot:Subscribe, \"*\" for a wildcard)", r))
		}
		for _, t := range tokenize(rest, false) {
			if isUnknownThingVar(t) {
				out = append(out, fmt.Sprintf("resource %q uses %s, which is not a thing policy variable (ThingName, ThingTypeName, IsAttached, Attributes[<name>]): it never resolves, so the resource matches nothing", r, t.display()))
			}
		}
	}
	return out
}

func isKnownType(typ string) bool {
	return isDataPlaneType(typ) || typ == TypeRoleAlias
}
