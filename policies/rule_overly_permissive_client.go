package policies

import "fmt"

// ruleOverlyPermissiveClient: a certificate must connect only as the thing attached to it.
// Another client id lets a stolen certificate take over (and disconnect) any device's session.
var ruleOverlyPermissiveClient = Rule{
	ID:   "IoTPolicy-OverlyPermissiveClient",
	Name: "connect only as the attached thing",
	Description: "Allow iot:Connect must not match any client id (client/*, a client wildcard, *) " +
		"and must carry Bool iot:Connection.Thing.IsAttached \"true\" unless its client ids cannot " +
		"be thing names. A wildcard whose literal prefix holds a character thing names never " +
		"contain (the claim namespace \"claim.*\") cannot take over a device and is allowed.",
	Mirrors: "IOT_POLICY_OVERLY_PERMISSIVE_CHECK: client/*; client/${iot:ClientId} without IsAttached",
	Check:   checkOverlyPermissiveClient,
}

func checkOverlyPermissiveClient(s Statement) []string {
	if s.Effect != Allow || !coversAction(s.Actions, ActionConnect) {
		return nil
	}
	var out []string
	for _, r := range s.Resources {
		typ, rest := splitResource(r)
		if typ == "*" {
			out = append(out, fmt.Sprintf("iot:Connect on %q allows any client id: connect as %s with the IsAttached condition", r, Client(varRef(varThingName))))
			continue
		}
		if typ != TypeClient {
			continue
		}
		toks := tokenize(rest, false)
		open := firstOpen(toks)
		end := open
		if open < 0 {
			end = len(toks)
		}
		switch {
		case excludesThingNames(toks, end):
			// A namespace no thing name can be in: the claim certificate's.
		case hasWildcardToken(toks):
			out = append(out, fmt.Sprintf("iot:Connect on %q matches any client id with that pattern, including other devices' thing names", r))
		case !hasIsAttached(s.Conditions):
			out = append(out, fmt.Sprintf("iot:Connect on %q without Bool %s \"true\": a certificate with this policy may take a client id that is not its own thing", r, IsAttachedKey))
		}
	}
	return out
}

// varRef writes a policy variable reference.
func varRef(name string) string { return "${" + name + "}" }

func hasWildcardToken(toks []token) bool {
	for _, t := range toks {
		if t.kind == tokStar || t.kind == tokQmark {
			return true
		}
	}
	return false
}
