package policies

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiot"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Checker is a CDK aspect that runs the rules over every AWS::IoT::Policy in the tree and
// turns each finding into an error annotation, which fails synthesis:
//
//	awscdk.Aspects_Of(app).Add(policies.NewChecker(), nil)
//
// jsii needs the pointer NewChecker returns; a Checker value fails with "Value does not have
// the $jsii.byref key". The aspect sees the document as the construct holds it: a later
// AddPropertyOverride on PolicyDocument escapes it, so synth tests should also run CheckJSON
// over the template's AWS::IoT::Policy resources.
type Checker struct {
	rules []Rule
}

// NewChecker returns a Checker running rules, or every rule (Rules()) when none are given.
func NewChecker(rules ...Rule) *Checker {
	if len(rules) == 0 {
		rules = Rules()
	}
	return &Checker{rules: rules}
}

// Visit implements awscdk.IAspect.
func (c *Checker) Visit(node constructs.IConstruct) {
	var doc any
	var res awscdk.CfnResource
	switch n := node.(type) {
	case awsiot.CfnPolicy:
		res, doc = n, n.PolicyDocument()
	case awscdk.CfnResource:
		if t := n.CfnResourceType(); t == nil || *t != "AWS::IoT::Policy" {
			return
		}
		// A CfnResource built by hand keeps its properties as given, CloudFormation names.
		if props := n.CfnProperties(); props != nil {
			doc = (*props)["PolicyDocument"]
		}
		res = n
	default:
		return
	}
	ann := awscdk.Annotations_Of(node)
	resolved := awscdk.Stack_Of(node).Resolve(doc)
	findings, err := checkJSON(c.rules, resolved)
	if err != nil {
		ann.AddError(jsii.String(fmt.Sprintf("[%s] IoT policy document cannot be checked: %v", UnreadableID, err)))
		return
	}
	suppressed, err := parseSuppressions(res.GetMetadata(jsii.String(SuppressionMetadataKey)), c.rules)
	if err != nil {
		ann.AddError(jsii.String(fmt.Sprintf("[%s] %v", SuppressionID, err)))
	}
	for _, f := range findings {
		if reason, ok := suppressed[f.RuleID]; ok {
			ann.AddInfo(jsii.String(fmt.Sprintf("[%s] suppressed (%s): %s", f.RuleID, reason, f.Message)))
			continue
		}
		ann.AddError(jsii.String(f.String()))
	}
}

// Suppress exempts one policy resource from one rule, with a reason of at least 10
// characters that the synth output repeats. Prefer fixing the policy.
func Suppress(policy awscdk.CfnResource, ruleID, reason string) {
	key := jsii.String(SuppressionMetadataKey)
	policy.AddMetadata(key, appendSuppression(policy.GetMetadata(key), ruleID, reason))
}
