package compliance

import (
	"fmt"
	"strings"
)

// checkIAMWildcardResources: Resource "*" grants the action on every resource of the account,
// present and future; it is acceptable only where IAM offers nothing narrower.
var checkIAMWildcardResources = Check{
	Name:    "iam-wildcard-resources",
	Default: "no IAM statement allows Resource * except for actions that have no resource-level permissions",
	Run:     iamWildcardResources,
}

// UnscopableActions have no resource-level permissions, so only they may use Resource "*".
var UnscopableActions = map[string]bool{
	"xray:PutTraceSegments":    true,
	"xray:PutTelemetryRecords": true,
	"iot:DescribeEndpoint":     true,
	"cloudwatch:PutMetricData": true,
	// Device Defender remediation: none of these has a resource type in the Service
	// Authorization Reference (AWS IoT, CloudWatch), so they can only name "*".
	"iot:ListAuditFindings":               true,
	"iot:StartAuditMitigationActionsTask": true,
	"iot:ListPrincipalThings":             true,
	"iot:ListThingPrincipals":             true,
	"iot:SetV2LoggingOptions":             true,
	"cloudwatch:GetMetricData":            true,
	// The quarantine function reads its Logs Insights query's results by query id; the
	// action has no resource type (Service Authorization Reference, CloudWatch Logs).
	"logs:GetQueryResults": true,
}

func iamWildcardResources(t Template) (int, []string) {
	return each(t, "AWS::IAM::Policy", func(r Resource) string {
		var bad []string
		for i, st := range List(Get(r.Properties, "PolicyDocument", "Statement")) {
			if Get(st, "Effect") != "Allow" {
				continue
			}
			star := false
			for _, res := range List(Get(st, "Resource")) {
				if res == "*" {
					star = true
				}
			}
			if !star {
				continue
			}
			for _, a := range List(Get(st, "Action")) {
				if name, _ := a.(string); !UnscopableActions[name] {
					bad = append(bad, fmt.Sprintf("statement %d allows %v on Resource *", i, a))
				}
			}
		}
		return strings.Join(bad, "; ")
	})
}
