package policies

import (
	"errors"
	"fmt"
	"strings"
)

// SuppressionMetadataKey is the CloudFormation metadata key under which a policy resource
// lists the rules it is exempt from, in cdk-nag's shape:
// {"rules_to_suppress": [{"id": "<rule id>", "reason": "<why>"}]}. Add entries with Suppress.
const SuppressionMetadataKey = "iot_policy_checks"

// minReasonLength keeps reasons from being "ok" or "n/a" (cdk-nag asks for 10 characters too).
const minReasonLength = 10

// Pseudo rule ids the Checker reports under; they cannot be suppressed.
const (
	// UnreadableID: the policy document cannot be read, so it cannot be checked.
	UnreadableID = "IoTPolicy-Unreadable"
	// SuppressionID: a suppression entry is malformed, has no reason or names no rule.
	SuppressionID = "IoTPolicy-Suppression"
)

// parseSuppressions reads the metadata value (nil when absent) into rule id -> reason. Entries
// must name one of rules and give a reason of at least minReasonLength characters.
func parseSuppressions(v any, rules []Rule) (map[string]string, error) {
	out := map[string]string{}
	if v == nil {
		return out, nil
	}
	val, err := toJSONValue(v)
	if err != nil {
		return nil, err
	}
	m, ok := val.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("metadata %s is %s, want {\"rules_to_suppress\": [...]}", SuppressionMetadataKey, kind(val))
	}
	list, ok := m["rules_to_suppress"].([]any)
	if !ok {
		return nil, fmt.Errorf("metadata %s has no rules_to_suppress list", SuppressionMetadataKey)
	}
	known := map[string]bool{}
	for _, r := range rules {
		known[r.ID] = true
	}
	var errs []error
	for i, e := range list {
		entry, _ := e.(map[string]any)
		id, _ := entry["id"].(string)
		reason, _ := entry["reason"].(string)
		switch {
		case !known[id]:
			errs = append(errs, fmt.Errorf("suppression %d names unknown rule %q", i, id))
		case len(strings.TrimSpace(reason)) < minReasonLength:
			errs = append(errs, fmt.Errorf("suppression %d of %s needs a reason of at least %d characters", i, id, minReasonLength))
		default:
			out[id] = strings.TrimSpace(reason)
		}
	}
	return out, errors.Join(errs...)
}

// appendSuppression adds one entry to an existing metadata value (nil when absent).
func appendSuppression(existing any, ruleID, reason string) map[string]any {
	var list []any
	if val, err := toJSONValue(existing); err == nil {
		if m, ok := val.(map[string]any); ok {
			list, _ = m["rules_to_suppress"].([]any)
		}
	}
	list = append(list, map[string]any{"id": ruleID, "reason": reason})
	return map[string]any{"rules_to_suppress": list}
}
