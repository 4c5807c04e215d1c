package policies

import (
	"fmt"
	"sort"
)

// CheckTemplate runs the rules over every AWS::IoT::Policy in a synthesized CloudFormation
// template (as parsed JSON) and returns one line per unsuppressed finding, "<logical id>:
// <finding>". It sees the template as deployed, including escape-hatch overrides that the
// Checker aspect, which reads constructs before synthesis, cannot see; the app runs it after
// synth so that `cdk synth` fails on them too.
func CheckTemplate(template map[string]any) []string {
	rules := Rules()
	resources, _ := template["Resources"].(map[string]any)
	ids := make([]string, 0, len(resources))
	for id := range resources {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var out []string
	for _, id := range ids {
		r, _ := resources[id].(map[string]any)
		if r["Type"] != "AWS::IoT::Policy" {
			continue
		}
		props, _ := r["Properties"].(map[string]any)
		findings, err := checkJSON(rules, props["PolicyDocument"])
		if err != nil {
			out = append(out, fmt.Sprintf("%s: [%s] IoT policy document cannot be checked: %v", id, UnreadableID, err))
			continue
		}
		meta, _ := r["Metadata"].(map[string]any)
		suppressed, err := parseSuppressions(meta[SuppressionMetadataKey], rules)
		if err != nil {
			out = append(out, fmt.Sprintf("%s: [%s] %v", id, SuppressionID, err))
		}
		for _, f := range findings {
			if _, ok := suppressed[f.RuleID]; !ok {
				out = append(out, id+": "+f.String())
			}
		}
	}
	return out
}
