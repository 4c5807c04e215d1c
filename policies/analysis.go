package policies

import (
	"strings"
)

// actionTypes maps each IoT policy action, in lower case (the rules look actions up that way),
// to the resource type it authorizes; "" means the action takes no typed resource.
var actionTypes = lowerKeys(canonicalActions)

// canonicalActions lists the actions by their documented names.
var canonicalActions = map[string]string{
	ActionConnect:                      TypeClient,
	ActionPublish:                      TypeTopic,
	ActionReceive:                      TypeTopic,
	ActionRetainPublish:                TypeTopic,
	ActionGetRetainedMessage:           TypeTopic,
	ActionListRetainedMessages:         "",
	ActionSubscribe:                    TypeTopicFilter,
	ActionDeleteThingShadow:            TypeThing,
	ActionGetThingShadow:               TypeThing,
	ActionUpdateThingShadow:            TypeThing,
	ActionListNamedShadowsForThing:     TypeThing,
	ActionDescribeJobExecution:         TypeThing,
	ActionGetPendingJobExecutions:      TypeThing,
	ActionStartNextPendingJobExecution: TypeThing,
	ActionUpdateJobExecution:           TypeThing,
	ActionAssumeRoleWithCertificate:    TypeRoleAlias,
}

func lowerKeys(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[strings.ToLower(k)] = v
	}
	return out
}

// dataPlaneTypes are the resource types of the device data plane: who connects, which topics
// flow, which shadows and job executions are touched.
var dataPlaneTypes = []string{TypeClient, TypeTopic, TypeTopicFilter, TypeThing}

// shadowJobActions are the thing actions IOT_POLICY_OVERLY_PERMISSIVE_CHECK names.
var shadowJobActions = []string{
	ActionDeleteThingShadow, ActionGetThingShadow, ActionUpdateThingShadow,
	ActionDescribeJobExecution, ActionGetPendingJobExecutions,
	ActionStartNextPendingJobExecution, ActionUpdateJobExecution,
}

// splitResource returns a relative resource's type and the pattern after "<type>/". A
// resource whose type part is itself open ("*", "topic*") has type "*" and rest "*"; one
// with no "/" has type "".
func splitResource(r Resource) (typ, rest string) {
	s := string(r)
	i := strings.IndexByte(s, '/')
	head := s
	if i >= 0 {
		head = s[:i]
	}
	for _, t := range tokenize(head, false) {
		if t.kind != tokLit {
			return "*", "*"
		}
	}
	if i < 0 {
		return "", ""
	}
	return head, s[i+1:]
}

// coversType reports whether a resource of type typ (possibly "*") includes resources of
// type want.
func coversType(typ, want string) bool { return typ == "*" || typ == want }

// coversAction reports whether any of the statement's action patterns matches action.
func coversAction(patterns []string, action string) bool {
	for _, p := range patterns {
		if globFold(p, action) {
			return true
		}
	}
	return false
}

// coversAnyAction reports whether the statement's actions include any of actions.
func coversAnyAction(patterns []string, actions ...string) bool {
	for _, a := range actions {
		if coversAction(patterns, a) {
			return true
		}
	}
	return false
}

// actionsOfType are the known actions that authorize resources of type typ.
func actionsOfType(typ string) []string {
	var out []string
	for a, t := range canonicalActions {
		if t == typ {
			out = append(out, a)
		}
	}
	return out
}

// coversActionOfType reports whether the statement allows or denies some action on typ.
func coversActionOfType(patterns []string, typ string) bool {
	return coversAnyAction(patterns, actionsOfType(typ)...)
}

// hasIsAttached reports whether the statement carries Bool iot:Connection.Thing.IsAttached
// "true" and nothing weaker (BoolIfExists would pass when the key is absent).
func hasIsAttached(c Conditions) bool {
	for key, values := range c["Bool"] {
		if !strings.EqualFold(key, IsAttachedKey) {
			continue
		}
		if len(values) == 0 {
			return false
		}
		for _, v := range values {
			if !strings.EqualFold(v, "true") {
				return false
			}
		}
		return true
	}
	return false
}

// statementTokens tokenizes a resource's rest within its statement. Under the IsAttached
// condition the client id is the attached thing's name, so ${iot:ClientId} is read as
// ${iot:Connection.Thing.ThingName} there.
func statementTokens(s Statement, rest string, mqtt bool) []token {
	toks := tokenize(rest, mqtt)
	if hasIsAttached(s.Conditions) {
		for i, t := range toks {
			if isClientIDVar(t) {
				toks[i] = token{tokVar, varThingName}
			}
		}
	}
	return toks
}
