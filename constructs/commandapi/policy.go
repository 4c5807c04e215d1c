package commandapi

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"

	"github.com/secure-smart-city/platform/fleetspec"
)

// DenyNonOperatorsSid is the Sid of the resource policy statement that denies every caller
// that is not one of the fleet's operator roles.
const DenyNonOperatorsSid = "DenyAllButOperatorRoles"

// OperatorRolePatterns are the aws:PrincipalArn values that admit an operator role: its ARN
// without a path, and with any path. For a role session, aws:PrincipalArn is the role's ARN,
// arn:<partition>:iam::<account>:role/<path><name>, path included (IAM User Guide, "AWS global
// condition context keys", aws:PrincipalArn), whereas the session ARN the function sees has
// no path. Role names are unique within an account whatever their path ("IAM identifiers";
// CreateRole: names are not distinguished by case), and contain no "/", so ".../role/*/<name>"
// matches only that role under another path.
func OperatorRolePatterns(stack awscdk.Stack, role string) []*string {
	prefix := "arn:" + *stack.Partition() + ":iam::" + *stack.Account() + ":role/"
	return []*string{jsii.String(prefix + role), jsii.String(prefix + "*/" + role)}
}

// ResourcePolicy is the REST API's resource policy: an explicit Deny of execute-api:Invoke to
// every principal whose aws:PrincipalArn is not one of the operators' roles. With IAM
// authorization, a same-account identity policy that allows execute-api:Invoke (an
// administrator's, a CI role's) suffices when the resource policy is silent, so only an
// explicit Deny keeps them out (API Gateway developer guide, "How API Gateway resource
// policies affect authorization workflow"). aws:PrincipalArn is one of the condition keys API
// Gateway supports in resource policies for IAM authorization ("AWS condition keys that can
// be used in API Gateway resource policies"). With a negated operator, a request without the
// key matches the condition and is denied too (IAM User Guide, "Condition operators"). The
// policy has no Allow: same-account operator roles are allowed by their identity policies
// (GrantSendCommands), and other accounts, needing an Allow here, stay out.
func ResourcePolicy(stack awscdk.Stack, operators []fleetspec.Operator) awsiam.PolicyDocument {
	var patterns []*string
	for _, op := range operators {
		patterns = append(patterns, OperatorRolePatterns(stack, op.Role)...)
	}
	if len(patterns) == 0 {
		// New refuses a fleet without operators; this keeps the policy valid and closed if
		// it is ever built without one.
		patterns = []*string{jsii.String("arn:" + *stack.Partition() + ":iam::" + *stack.Account() + ":role/no-operator-declared")}
	}
	return awsiam.NewPolicyDocument(&awsiam.PolicyDocumentProps{
		Statements: &[]awsiam.PolicyStatement{awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String(DenyNonOperatorsSid),
			Effect:     awsiam.Effect_DENY,
			Principals: &[]awsiam.IPrincipal{awsiam.NewAnyPrincipal()},
			Actions:    jsii.Strings("execute-api:Invoke"),
			// API Gateway expands execute-api:/* to every method of every stage of this API.
			Resources:  jsii.Strings("execute-api:/*"),
			Conditions: &map[string]any{"StringNotLike": map[string]any{"aws:PrincipalArn": patterns}},
		})},
	})
}
