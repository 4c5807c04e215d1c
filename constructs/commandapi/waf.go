package commandapi

import (
	"github.com/aws/aws-cdk-go/awscdk/v2/awswafv2"
	"github.com/aws/jsii-runtime-go"
)

// Names of the web ACL's rules; each is also its CloudWatch metric name (the Rule dimension
// of AWS/WAFV2 metrics).
const (
	// RuleRateLimit blocks a source IP that sends more than the rate limit in five minutes.
	RuleRateLimit = "RateLimitPerIp"
	// RulePathShape blocks paths a thing name cannot produce: a character outside AWS IoT's
	// thing name alphabet [a-zA-Z0-9:_-] (after URL decoding), or a thing longer than 128.
	RulePathShape = "ThingPathShape"
	// RuleJSONOnly blocks a POST whose Content-Type is not application/json: API Gateway
	// validates a body only against the model of its content type, so any other type would
	// skip the command schema.
	RuleJSONOnly = "JsonBodyOnly"
	// RuleCommon is AWS's core rule set (OWASP-style inspection of the whole request).
	RuleCommon = "AWSManagedRulesCommonRuleSet"
	// RuleKnownBadInputs blocks request patterns known to exploit vulnerabilities.
	RuleKnownBadInputs = "AWSManagedRulesKnownBadInputsRuleSet"
)

// ThingNamePattern is AWS IoT's thing naming rule; the ThingPathShape rule enforces its
// alphabet and length on the path, which API Gateway's parameter validation cannot.
const ThingNamePattern = `^[a-zA-Z0-9:_-]{1,128}$`

// pathCharset matches any character no path of this API may hold.
const pathCharset = `[^a-zA-Z0-9:_/-]`

// maxStageName bounds a stage name whose value is not known at synth.
const maxStageName = 128

// maxPathBytes is the longest path of this API: /<stage>/devices/<128-char thing>/commands.
func maxPathBytes(stageLen int) int {
	return len("/") + stageLen + len("/devices/") + 128 + len("/commands")
}

func visibility(metric string) *awswafv2.CfnWebACL_VisibilityConfigProperty {
	return &awswafv2.CfnWebACL_VisibilityConfigProperty{
		CloudWatchMetricsEnabled: jsii.Bool(true),
		MetricName:               jsii.String(metric),
		SampledRequestsEnabled:   jsii.Bool(true),
	}
}

func noTransform() *[]any {
	return &[]any{&awswafv2.CfnWebACL_TextTransformationProperty{Priority: jsii.Number(0), Type: jsii.String("NONE")}}
}

func block() *awswafv2.CfnWebACL_RuleActionProperty {
	return &awswafv2.CfnWebACL_RuleActionProperty{Block: map[string]any{}}
}

// webACLRules are the web ACL's rules in evaluation order: the cheap ones first, so a flood
// or a malformed path is dropped before the managed groups inspect it.
func webACLRules(rateLimit, stageLen int) *[]any {
	managed := func(name string, priority int) *awswafv2.CfnWebACL_RuleProperty {
		return &awswafv2.CfnWebACL_RuleProperty{
			Name:           jsii.String(name),
			Priority:       jsii.Number(float64(priority)),
			OverrideAction: &awswafv2.CfnWebACL_OverrideActionProperty{None: map[string]any{}},
			Statement: &awswafv2.CfnWebACL_StatementProperty{
				ManagedRuleGroupStatement: &awswafv2.CfnWebACL_ManagedRuleGroupStatementProperty{
					VendorName: jsii.String("AWS"),
					Name:       jsii.String(name),
				},
			},
			VisibilityConfig: visibility(name),
		}
	}
	return &[]any{
		&awswafv2.CfnWebACL_RuleProperty{
			Name:     jsii.String(RuleRateLimit),
			Priority: jsii.Number(0),
			Action:   block(),
			Statement: &awswafv2.CfnWebACL_StatementProperty{
				RateBasedStatement: &awswafv2.CfnWebACL_RateBasedStatementProperty{
					AggregateKeyType:    jsii.String("IP"),
					Limit:               jsii.Number(float64(rateLimit)),
					EvaluationWindowSec: jsii.Number(300),
				},
			},
			VisibilityConfig: visibility(RuleRateLimit),
		},
		&awswafv2.CfnWebACL_RuleProperty{
			Name:     jsii.String(RulePathShape),
			Priority: jsii.Number(1),
			Action:   block(),
			Statement: &awswafv2.CfnWebACL_StatementProperty{
				OrStatement: &awswafv2.CfnWebACL_OrStatementProperty{
					Statements: &[]any{
						&awswafv2.CfnWebACL_StatementProperty{
							RegexMatchStatement: &awswafv2.CfnWebACL_RegexMatchStatementProperty{
								FieldToMatch: &awswafv2.CfnWebACL_FieldToMatchProperty{UriPath: map[string]any{}},
								RegexString:  jsii.String(pathCharset),
								TextTransformations: &[]any{&awswafv2.CfnWebACL_TextTransformationProperty{
									Priority: jsii.Number(0), Type: jsii.String("URL_DECODE"),
								}},
							},
						},
						&awswafv2.CfnWebACL_StatementProperty{
							SizeConstraintStatement: &awswafv2.CfnWebACL_SizeConstraintStatementProperty{
								FieldToMatch:        &awswafv2.CfnWebACL_FieldToMatchProperty{UriPath: map[string]any{}},
								ComparisonOperator:  jsii.String("GT"),
								Size:                jsii.Number(float64(maxPathBytes(stageLen))),
								TextTransformations: noTransform(),
							},
						},
					},
				},
			},
			VisibilityConfig: visibility(RulePathShape),
		},
		&awswafv2.CfnWebACL_RuleProperty{
			Name:     jsii.String(RuleJSONOnly),
			Priority: jsii.Number(2),
			Action:   block(),
			Statement: &awswafv2.CfnWebACL_StatementProperty{
				AndStatement: &awswafv2.CfnWebACL_AndStatementProperty{
					Statements: &[]any{
						&awswafv2.CfnWebACL_StatementProperty{
							ByteMatchStatement: &awswafv2.CfnWebACL_ByteMatchStatementProperty{
								FieldToMatch:         &awswafv2.CfnWebACL_FieldToMatchProperty{Method: map[string]any{}},
								PositionalConstraint: jsii.String("EXACTLY"),
								SearchString:         jsii.String("POST"),
								TextTransformations:  noTransform(),
							},
						},
						&awswafv2.CfnWebACL_StatementProperty{
							NotStatement: &awswafv2.CfnWebACL_NotStatementProperty{
								Statement: &awswafv2.CfnWebACL_StatementProperty{
									ByteMatchStatement: &awswafv2.CfnWebACL_ByteMatchStatementProperty{
										FieldToMatch: &awswafv2.CfnWebACL_FieldToMatchProperty{
											// A JSON property in CloudFormation: the key is "Name".
											SingleHeader: map[string]any{"Name": "content-type"},
										},
										PositionalConstraint: jsii.String("STARTS_WITH"),
										SearchString:         jsii.String("application/json"),
										TextTransformations: &[]any{&awswafv2.CfnWebACL_TextTransformationProperty{
											Priority: jsii.Number(0), Type: jsii.String("LOWERCASE"),
										}},
									},
								},
							},
						},
					},
				},
			},
			VisibilityConfig: visibility(RuleJSONOnly),
		},
		managed(RuleCommon, 3),
		managed(RuleKnownBadInputs, 4),
	}
}
