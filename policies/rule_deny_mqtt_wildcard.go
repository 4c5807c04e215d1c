package policies

import (
	"fmt"
	"strings"
)

// ruleDenyMQTTWildcard: "+" and "#" are literal characters in a policy, so a Deny written with
// them denies a topic nobody uses and leaves the intended topics allowed.
var ruleDenyMQTTWildcard = Rule{
	ID:   "IoTPolicy-DenyMqttWildcard",
	Name: "no MQTT wildcards in Deny",
	Description: "A Deny statement's topic or topic filter resource contains \"+\" or \"#\", which " +
		"policies match literally: the Deny does not deny what it appears to. Use \"*\" (IoT wildcard).",
	Mirrors: "IOT_POLICY_POTENTIAL_MISCONFIGURATION_CHECK",
	Check:   checkDenyMQTTWildcard,
}

func checkDenyMQTTWildcard(s Statement) []string {
	if s.Effect != Deny {
		return nil
	}
	var out []string
	for _, r := range s.Resources {
		typ, _ := splitResource(r)
		if typ != TypeTopic && typ != TypeTopicFilter && typ != "*" {
			continue
		}
		if strings.ContainsAny(string(r), "+#") {
			out = append(out, fmt.Sprintf("Deny on %q: \"+\" and \"#\" are literal in policies, so this denies only a topic spelled with them", r))
		}
	}
	return out
}
