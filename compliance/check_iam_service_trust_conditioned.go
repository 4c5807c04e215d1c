package compliance

import (
	"fmt"
	"sort"
	"strings"
)

// Confused-deputy protection of service roles. A role that trusts a service principal with no
// condition can be assumed by that service on behalf of any of its customers who name the
// role's ARN: the service is the deputy, the other customer the one who confuses it. AWS's
// remedy ("The confused deputy problem" in the IAM User Guide, and each service's own
// "Cross-service confused deputy prevention" page) is a condition on the global keys
// aws:SourceArn or aws:SourceAccount (or the organization keys) in the trust policy.
//
// The check holds every trust statement with a service principal to that, with one
// exception: Lambda execution roles (lambda.amazonaws.com). Lambda assumes an execution role
// only for a function that names it, which only a principal allowed iam:PassRole on the role
// can create, and the IAM guide does not recommend source conditions there.
//
// A second, narrower exception: the role an AWS::ApiGateway::Account names as its
// CloudWatchRoleArn may trust apigateway.amazonaws.com without a condition. AWS documents no
// source context for the calls API Gateway makes with the account's CloudWatch logging role
// (the AWS::ApiGateway::Account reference shows an unconditioned trust, and API Gateway has no
// "Cross-service confused deputy prevention" page), and a condition on a key the service does
// not send would silently stop API logging. Only that role, and only that principal, is
// exempt: any other role trusting API Gateway still needs a condition.
//
// The check proves a condition is present and can hold; it cannot know which ARN a service
// sends, so the narrowest documented form (an exact aws:SourceArn where the service documents
// it) is the constructs' job, each citing its AWS page.

// checkIAMServiceTrustConditioned holds service roles to the confused-deputy protection above.
var checkIAMServiceTrustConditioned = Check{
	Name:    "iam-service-trust-conditioned",
	Default: "every role a service assumes, other than Lambda execution roles, trusts it only under a confused-deputy condition (aws:SourceArn or aws:SourceAccount)",
	Run:     serviceTrustConditioned,
}

// ServiceTrustExempt are the service principals whose trust needs no source condition.
var ServiceTrustExempt = map[string]bool{"lambda.amazonaws.com": true}

// apiGatewayService is exempt only in the role an AWS::ApiGateway::Account logs with.
const apiGatewayService = "apigateway.amazonaws.com"

// sourceKeys are the global condition keys that scope a service principal to a source.
var sourceKeys = map[string]bool{
	"aws:sourcearn": true, "aws:sourceaccount": true, "aws:sourceorgid": true, "aws:sourceorgpaths": true,
}

// scopingOperators are the condition operators that require the key to match. The IfExists
// forms and Null pass a request that carries no source key at all, so they scope nothing.
func scopingOperator(op string) bool {
	if strings.HasSuffix(op, "IfExists") || op == "Null" {
		return false
	}
	for _, p := range []string{"StringEquals", "StringLike", "ArnEquals", "ArnLike", "ForAllValues:StringEquals", "ForAnyValue:StringEquals", "ForAnyValue:StringLike", "ForAllValues:StringLike"} {
		if op == p {
			return true
		}
	}
	return false
}

// serviceTrustConditioned inspects every AWS::IAM::Role: each Allow statement of its trust
// policy that names a service principal (other than ServiceTrustExempt) must carry a scoping
// condition on a source key whose value is not a bare wildcard; no statement may trust every
// principal.
func serviceTrustConditioned(t Template) (int, []string) {
	accountLogRoles := map[string]bool{}
	for _, a := range t.Resources("AWS::ApiGateway::Account") {
		if ga := List(Get(a.Properties, "CloudWatchRoleArn", "Fn::GetAtt")); len(ga) == 2 && ga[1] == "Arn" {
			if id, ok := ga[0].(string); ok {
				accountLogRoles[id] = true
			}
		}
	}
	return each(t, "AWS::IAM::Role", func(r Resource) string {
		var bad []string
		for i, st := range List(Get(r.Properties, "AssumeRolePolicyDocument", "Statement")) {
			if Get(st, "Effect") != "Allow" {
				continue
			}
			p := Get(st, "Principal")
			if p == "*" || Get(p, "AWS") == "*" {
				bad = append(bad, fmt.Sprintf("statement %d trusts every principal", i))
				continue
			}
			var services []string
			for _, s := range List(Get(p, "Service")) {
				name, ok := s.(string)
				if !ok {
					name = fmt.Sprint(s)
				}
				if !ServiceTrustExempt[name] && !(name == apiGatewayService && accountLogRoles[r.ID]) {
					services = append(services, name)
				}
			}
			if len(services) == 0 {
				continue
			}
			if keys := sourceConditions(Get(st, "Condition")); len(keys) == 0 {
				sort.Strings(services)
				bad = append(bad, fmt.Sprintf("statement %d trusts %s with no confused-deputy condition (aws:SourceArn or aws:SourceAccount)",
					i, strings.Join(services, ", ")))
			}
		}
		return strings.Join(bad, "; ")
	})
}

// sourceConditions returns the source keys a condition block scopes with an operator that
// requires them and a value that is not a bare "*".
func sourceConditions(cond any) []string {
	c, _ := cond.(map[string]any)
	var keys []string
	for op, kv := range c {
		if !scopingOperator(op) {
			continue
		}
		m, _ := kv.(map[string]any)
		for k, v := range m {
			if !sourceKeys[strings.ToLower(k)] {
				continue
			}
			values := List(v)
			scoped := len(values) > 0
			for _, x := range values {
				if s, ok := x.(string); ok && strings.Trim(s, "*?") == "" {
					scoped = false
				}
			}
			if scoped {
				keys = append(keys, k)
			}
		}
	}
	sort.Strings(keys)
	return keys
}
