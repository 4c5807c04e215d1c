package keys

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// serviceStatement is the one key policy statement a service principal gets. Every statement
// but EventBridge's is bound to this account (confused-deputy protection).
func serviceStatement(scope constructs.Construct, s Service) awsiam.PolicyStatement {
	stack := awscdk.Stack_Of(scope)
	partition, region, account := *stack.Partition(), *stack.Region(), *stack.Account()
	switch s {
	case ServiceLogs:
		return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String("CloudWatchLogsOfThisAccount"),
			Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("logs."+region+".amazonaws.com"), nil)},
			Actions:    jsii.Strings("kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"),
			Resources:  jsii.Strings("*"),
			Conditions: &map[string]any{
				"ArnLike": map[string]any{
					"kms:EncryptionContext:aws:logs:arn": "arn:" + partition + ":logs:" + region + ":" + account + ":log-group:*",
				},
			},
		})
	case ServiceCloudWatchAlarms:
		return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String("CloudWatchAlarmsOfThisAccount"),
			Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
			Actions:    jsii.Strings("kms:Decrypt", "kms:GenerateDataKey*"),
			Resources:  jsii.Strings("*"),
			Conditions: &map[string]any{
				"StringEquals": map[string]any{"aws:SourceAccount": account},
				"ArnLike":      map[string]any{"aws:SourceArn": "arn:" + partition + ":cloudwatch:" + region + ":" + account + ":alarm:*"},
			},
		})
	case ServiceSNS:
		return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String("SNSOfThisAccount"),
			Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("sns.amazonaws.com"), nil)},
			Actions:    jsii.Strings("kms:Decrypt", "kms:GenerateDataKey*"),
			Resources:  jsii.Strings("*"),
			Conditions: &map[string]any{
				"StringEquals": map[string]any{"aws:SourceAccount": account},
			},
		})
	case ServiceEvents:
		return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String("EventBridgeDelivery"),
			Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("events.amazonaws.com"), nil)},
			Actions:    jsii.Strings("kms:Decrypt", "kms:GenerateDataKey*"),
			Resources:  jsii.Strings("*"),
		})
	}
	return nil
}

// GrantGuardSid names the statement of Control Tower control CT.KMS.PR.3.
const GrantGuardSid = "DenyGrantsNotForAWSResources"

// GrantGuardStatement is Control Tower control CT.KMS.PR.3, which every key policy carries:
// no principal may create a grant unless the grant is for an AWS resource (DynamoDB, Lambda,
// SQS and the other integrated services create those with kms:GrantIsForAWSResource true) or
// an AWS service makes the call. Without it, any principal the account lets use kms:* could
// hand the key to anyone through a grant.
func GrantGuardStatement() awsiam.PolicyStatement {
	return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String(GrantGuardSid),
		Effect:     awsiam.Effect_DENY,
		Principals: &[]awsiam.IPrincipal{awsiam.NewAnyPrincipal()},
		Actions:    jsii.Strings("kms:CreateGrant"),
		Resources:  jsii.Strings("*"),
		Conditions: &map[string]any{
			"BoolIfExists": map[string]any{
				"kms:GrantIsForAWSResource": "false",
				"aws:PrincipalIsAWSService": "false",
			},
		},
	})
}
