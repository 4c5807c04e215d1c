package policies

import "fmt"

// ruleGroupScopedResource: the thing type and attribute variables look like they scope a
// resource to the connecting device, but they resolve to the same value for a whole group of
// things (every street light, every device of a district). A topic named by them alone is
// shared: any device of the group publishes as any other or reads what was meant for another.
var ruleGroupScopedResource = Rule{
	ID:   "IoTPolicy-GroupScopedResource",
	Name: "thing type and attribute variables only beside the thing name",
	Description: "Allow on a data-plane action (Connect, Publish, Receive, RetainPublish, Subscribe, " +
		"GetRetainedMessage, shadow and job actions) with a resource that uses " +
		"${iot:Connection.Thing.ThingTypeName} or ${iot:Connection.Thing.Attributes[...]} but not " +
		"${iot:Connection.Thing.ThingName} as a whole level: every thing of that type or with that " +
		"attribute value shares the resource. Compliant: $aws/rules/${iot:Connection.Thing.ThingTypeName}/" +
		"districts/${iot:Connection.Thing.Attributes[district]}/things/${iot:Connection.Thing.ThingName}/telemetry; " +
		"non-compliant: the same topic without the thing-name level.",
	Mirrors: "the intent of IOT_POLICY_OVERLY_PERMISSIVE_CHECK (\"access to resources associated with just " +
		"that device\"); this project's own reading of thing policy variables",
	Check: checkGroupScopedResource,
}

func checkGroupScopedResource(s Statement) []string {
	if s.Effect != Allow {
		return nil
	}
	var out []string
	for _, r := range s.Resources {
		typ, rest := splitResource(r)
		if !isDataPlaneType(typ) || !coversActionOfType(s.Actions, typ) {
			continue
		}
		toks := statementTokens(s, rest, typ == TypeTopicFilter)
		group, owned := -1, false
		for i, t := range toks {
			if group < 0 && isGroupVar(t) {
				group = i
			}
			owned = owned || ownsLevel(toks, i)
		}
		if group < 0 || owned {
			continue
		}
		out = append(out, fmt.Sprintf("resource %q: %s resolves to the same value for many things, and the resource has no %s level, so every thing of that group shares it",
			r, toks[group].display(), varRef(varThingName)))
	}
	return out
}
