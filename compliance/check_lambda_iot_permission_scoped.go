package compliance

import (
	"fmt"
	"strings"
)

// checkLambdaIoTPermissionScoped inspects every Lambda permission that AWS IoT uses or that
// names a topic rule as its source. A permission whose source is a topic rule but whose
// principal is not iot.amazonaws.com never lets the rule invoke (cfn-lint W3664); one for
// iot.amazonaws.com without a source ARN and account lets any rule, of any account, invoke
// the function.
var checkLambdaIoTPermissionScoped = Check{
	Name:    "lambda-iot-permission-scoped",
	Default: "a Lambda permission for AWS IoT (a topic rule) names principal iot.amazonaws.com, the source ARN and the source account (cfn-lint W3664)",
	Run:     lambdaIoTPermissionScoped,
}

func lambdaIoTPermissionScoped(t Template) (int, []string) {
	rules := map[string]bool{}
	for _, r := range t.Resources("AWS::IoT::TopicRule") {
		rules[r.ID] = true
	}
	n := 0
	var out []string
	for _, p := range t.Resources("AWS::Lambda::Permission") {
		principal, _ := Get(p.Properties, "Principal").(string)
		src := Get(p.Properties, "SourceArn")
		fromRule := mentions(src, ":rule/")
		if g, ok := Get(src, "Fn::GetAtt", 0).(string); ok && rules[g] {
			fromRule = true
		}
		if principal != "iot.amazonaws.com" && !fromRule {
			continue
		}
		n++
		var bad []string
		if principal != "iot.amazonaws.com" {
			bad = append(bad, fmt.Sprintf("source is a topic rule but principal is %q, not iot.amazonaws.com", principal))
		}
		if src == nil {
			bad = append(bad, "no SourceArn")
		}
		if Get(p.Properties, "SourceAccount") == nil {
			bad = append(bad, "no SourceAccount")
		}
		if len(bad) > 0 {
			out = append(out, p.ID+": "+strings.Join(bad, "; "))
		}
	}
	return n, out
}
