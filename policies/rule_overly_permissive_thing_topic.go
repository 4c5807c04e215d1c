package policies

import "fmt"

// ruleOverlyPermissiveThingTopic: the reserved $aws/things/<thing>/ topics carry shadows and
// jobs; publishing or subscribing there for every thing reads or rewrites every device's state.
var ruleOverlyPermissiveThingTopic = Rule{
	ID:   "IoTPolicy-OverlyPermissiveThingTopic",
	Name: "reserved thing topics only for the connected thing",
	Description: "Allow iot:Publish or iot:RetainPublish on a topic, or iot:Subscribe on a topic " +
		"filter, that matches $aws/things/<X>/... for more than one thing (topic/$aws/things/*, " +
		"topicfilter/$aws/things/+/shadow/update, *). iot:Receive alone is compliant: a device " +
		"receives only what it may subscribe to.",
	Mirrors: "IOT_POLICY_OVERLY_PERMISSIVE_CHECK: topic/$aws/things/*, topic/$aws/things/*/shadow/update, " +
		"topicfilter/$aws/things/*, topicfilter/$aws/things/+/shadow/update",
	Check: checkOverlyPermissiveThingTopic,
}

func checkOverlyPermissiveThingTopic(s Statement) []string {
	if s.Effect != Allow {
		return nil
	}
	publish := coversAnyAction(s.Actions, ActionPublish, ActionRetainPublish)
	subscribe := coversAction(s.Actions, ActionSubscribe)
	var out []string
	for _, r := range s.Resources {
		typ, rest := splitResource(r)
		switch {
		case publish && coversType(typ, TypeTopic) && reachesThingsReserved(statementTokens(s, rest, false)):
			out = append(out, fmt.Sprintf("publish on %q reaches the shadow and job topics of every thing; use $aws/things/%s/...", r, varRef(varThingName)))
		case subscribe && coversType(typ, TypeTopicFilter) && reachesThingsReserved(statementTokens(s, rest, true)):
			out = append(out, fmt.Sprintf("subscribe on %q reaches the shadow and job topics of every thing; use $aws/things/%s/...", r, varRef(varThingName)))
		}
	}
	return out
}
