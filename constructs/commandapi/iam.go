package commandapi

import (
	"fmt"
	"sort"
)

// IAM limits a customer-managed policy document to 6,144 characters (whitespace excluded) and
// a role to 10 attached managed policies unless the account's quota is raised.
const (
	managedPolicyBudget = 5600 // bytes of resource ARNs per policy, leaving room for the rest
	MaxThingPolicies    = 10
)

// arnOverhead is the longest "arn:<partition>:iot:<region>:<account>:" plus JSON quoting and
// a comma, so estimates hold in every partition and region.
const arnOverhead = len("arn:aws-iso-b:iot:ap-southeast-99:123456789012:") + 3

// thingARNBytes estimates the bytes one thing adds to a thing-scoped policy: its command
// topic (iot:Publish) and its thing (iot:UpdateThingShadow).
func thingARNBytes(thing string) int {
	return arnOverhead + len("topic/city/things/") + len(thing) + len("/commands") +
		arnOverhead + len("thing/") + len(thing)
}

// chunkThings splits the fleet's thing names (sorted, so the chunks are stable) into groups
// whose per-thing permissions fit one managed policy each.
func chunkThings(names []string) ([][]string, error) {
	sorted := append([]string(nil), names...)
	sort.Strings(sorted)
	var chunks [][]string
	var cur []string
	size := 0
	for _, n := range sorted {
		b := thingARNBytes(n)
		if len(cur) > 0 && size+b > managedPolicyBudget {
			chunks = append(chunks, cur)
			cur, size = nil, 0
		}
		cur = append(cur, n)
		size += b
	}
	if len(cur) > 0 {
		chunks = append(chunks, cur)
	}
	if len(chunks) > MaxThingPolicies {
		return nil, fmt.Errorf("commandapi: the fleet's %d things need %d thing-scoped IAM policies for the command function, more than the %d a role may have attached by default",
			len(names), len(chunks), MaxThingPolicies)
	}
	return chunks, nil
}
