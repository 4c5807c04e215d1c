package policies

import "fmt"

// ruleWildcardResource: a device policy may use a wildcard only below the device's own name,
// otherwise the wildcard reaches other devices' topics, shadows, jobs or client ids.
var ruleWildcardResource = Rule{
	ID:   "IoTPolicy-WildcardResource",
	Name: "no unscoped wildcard resources on data-plane actions",
	Description: "Allow on a data-plane action (Connect, Publish, Receive, RetainPublish, Subscribe, " +
		"GetRetainedMessage, shadow and job actions) with a resource that is \"*\", has an open " +
		"type, or has a \"*\", \"?\", ${iot:ClientId} or (in a topic filter) \"+\"/\"#\" that does " +
		"not come after ${iot:Connection.Thing.ThingName} as a whole topic level. Compliant: " +
		"$aws/things/${iot:Connection.Thing.ThingName}/shadow/* and .../jobs/*; the fleet " +
		"provisioning request topics ($aws/certificates/create/..., .../create-from-csr/..., " +
		"$aws/provisioning-templates/<template>/provision/...), answered only on the requesting " +
		"connection; client ids whose literal prefix cannot be a thing name (claim.*).",
	Mirrors: "cfn_nag W39 (IotPolicyWildcardResourceRule); cfn-guard IOT_POLICY_WILDCARD_RESOURCE_RULE; " +
		"the intent of IOT_POLICY_OVERLY_PERMISSIVE_CHECK (\"access to resources associated with just that device\")",
	Check: checkWildcardResource,
}

func checkWildcardResource(s Statement) []string {
	if s.Effect != Allow {
		return nil
	}
	var out []string
	for _, r := range s.Resources {
		typ, rest := splitResource(r)
		if typ == "*" {
			for _, t := range dataPlaneTypes {
				if coversActionOfType(s.Actions, t) {
					out = append(out, fmt.Sprintf("resource %q on data-plane actions reaches every device's resources", r))
					break
				}
			}
			continue
		}
		if !isDataPlaneType(typ) || !coversActionOfType(s.Actions, typ) {
			continue
		}
		toks := statementTokens(s, rest, typ == TypeTopicFilter)
		open := firstOpen(toks)
		if open < 0 || scopedByThing(toks, open) {
			continue
		}
		if typ == TypeClient && excludesThingNames(toks, open) {
			continue
		}
		if lit, ok := literalPrefix(toks, open); ok && (typ == TypeTopic || typ == TypeTopicFilter) && isPerConnectionTopic(lit) {
			continue
		}
		fix := "put " + varRef(varThingName) + " as a whole topic level before it"
		if typ == TypeClient || typ == TypeThing {
			fix = "name the connected thing with " + varRef(varThingName)
		}
		out = append(out, fmt.Sprintf("resource %q: %q is not scoped to the connected thing (%s), so it reaches other devices' resources",
			r, toks[open].display(), fix))
	}
	return out
}

func isDataPlaneType(typ string) bool {
	for _, t := range dataPlaneTypes {
		if t == typ {
			return true
		}
	}
	return false
}

func (t token) display() string {
	if t.kind == tokVar {
		return varRef(t.text)
	}
	return t.text
}
