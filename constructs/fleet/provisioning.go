package fleet

import (
	"fmt"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiot"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/secure-smart-city/platform/constructs/golambda"
	"github.com/secure-smart-city/platform/fleetspec"
	"github.com/secure-smart-city/platform/lambdas/provisioninghook/contract"
	"github.com/secure-smart-city/platform/policies"
)

// CertificateModeJITP is the mode the city CA is registered in. SNI_ONLY ("multi-account")
// registration needs no verification certificate, which in DEFAULT mode must be signed by the
// CA's private key over a registration code fetched from the account: synth would have to call
// AWS and hold the CA key. JITP works in SNI_ONLY mode; devices must send the SNI extension,
// which they do anyway to reach the domain configuration's endpoint. The trade-off: AWS does
// not verify that the account holds the CA key, and other accounts may register the same CA
// in their own account (it gives them nothing here).
const CertificateModeJITP = "SNI_ONLY"

// HookPayloadVersion is the only pre-provisioning hook payload version AWS IoT defines.
const HookPayloadVersion = "2020-04-01"

// HookTimeout is the longest AWS IoT waits for a pre-provisioning hook: five seconds.
const HookTimeout = 5 * time.Second

// provisioningRole is the role AWS IoT assumes to run the JITP and claim templates. Instead of
// the managed AWSIoTThingsRegistration (30 actions on "*"), it holds the subset the two
// templates exercise: create a thing (with its type and attributes), add it to a class and a
// district group, attach the certificate and a class policy, activate the certificate, and
// the Describe/Get lookups of those resources. Group, type and policy resources are this
// stage's exact ARNs; things and certificates come into being during the provisioning, so
// only thing/* and cert/* can name them. Left out: UpdateThing (the templates' override
// settings leave an existing thing's type and attributes as they are, so the role need not,
// and cannot, rewrite them), CreatePolicy (templates name existing policies), every
// Detach/Remove action (nothing is ever taken away), the billing-group actions and the List*
// lookups bulk registration uses. The role cannot touch the quarantine group or policy.
func (f *Fleet) provisioningRole() awsiam.Role {
	stack := awscdk.Stack_Of(f.Construct)
	role := awsiam.NewRole(f.Construct, jsii.String("ProvisioningRole"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("iot.amazonaws.com"), &awsiam.ServicePrincipalOpts{Conditions: iotTrustConditions(stack)}),
		Description: jsii.String("Assumed by AWS IoT to run the JITP and fleet provisioning templates of " + f.Names.Prefix),
	})
	anyThing, anyCert := arn(f.Construct, "thing", "*"), arn(f.Construct, "cert", "*")
	var groups, types, pols []*string
	for _, id := range sortedKeys(f.ClassGroups) {
		groups = append(groups, f.ClassGroups[id].AttrArn())
		types = append(types, f.ThingTypes[id].AttrArn())
		pols = append(pols, f.ClassPolicies[id].AttrArn())
	}
	for _, id := range sortedKeys(f.DistrictGroups) {
		groups = append(groups, f.DistrictGroups[id].AttrArn())
	}
	add := func(sid string, actions []string, resources ...[]*string) {
		var res []*string
		for _, r := range resources {
			res = append(res, r...)
		}
		role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid: jsii.String(sid), Actions: jsii.Strings(actions...), Resources: &res,
		}))
	}
	add("Things", []string{"iot:CreateThing", "iot:DescribeThing", "iot:ListThingGroupsForThing"},
		[]*string{anyThing}, types)
	add("ClassAndDistrictGroups", []string{"iot:AddThingToThingGroup", "iot:UpdateThingGroupsForThing", "iot:DescribeThingGroup"},
		[]*string{anyThing}, groups)
	add("ThingTypes", []string{"iot:DescribeThingType"}, types)
	add("Certificates", []string{"iot:DescribeCertificate", "iot:UpdateCertificate", "iot:AttachThingPrincipal"},
		[]*string{anyCert, anyThing})
	add("ClassPolicies", []string{"iot:AttachPolicy", "iot:AttachPrincipalPolicy", "iot:GetPolicy"}, pols, []*string{anyCert})
	return role
}

// iotTrustConditions is the confused-deputy condition of a role AWS IoT assumes for this
// account's provisioning templates, CA registration and logging. "Cross-service confused
// deputy prevention" in the AWS IoT Developer Guide
// (https://docs.aws.amazon.com/iot/latest/developerguide/cross-service-confused-deputy-prevention.html)
// documents aws:SourceAccount together with aws:SourceArn in the format
// arn:aws:iot:<region>:<account-id>:*. AWS documents no narrower source ARN for these roles:
// neither the provisioning template's nor the CA certificate's ARN is stated as what AWS IoT
// sends when it assumes the provisioning role (JITP, fleet provisioning), nor any resource
// for the logging role ("Configure logging role and policy"). A guessed exact ARN that AWS
// does not send would silently stop every provisioning, so the documented account-wide ARN is
// the narrowest sound condition.
func iotTrustConditions(stack awscdk.Stack) *map[string]any {
	return &map[string]any{
		"StringEquals": map[string]any{"aws:SourceAccount": stack.Account()},
		"ArnLike": map[string]any{"aws:SourceArn": stack.FormatArn(&awscdk.ArnComponents{
			Service: jsii.String("iot"), Resource: jsii.String("*"),
		})},
	}
}

// jitp registers the fleet file's CA for Just-in-Time Provisioning with JITPTemplate.
func (f *Fleet) jitp(fl *fleetspec.Fleet) error {
	pem, err := fl.CACertificatePEM()
	if err != nil {
		return fmt.Errorf("fleet: %w", err)
	}
	body, err := JITPTemplate().JSON()
	if err != nil {
		return fmt.Errorf("fleet: JITP template: %w", err)
	}
	f.CACertificate = awsiot.NewCfnCACertificate(f.Construct, jsii.String("CityCA"), &awsiot.CfnCACertificateProps{
		CaCertificatePem:       jsii.String(string(pem)),
		Status:                 jsii.String("ACTIVE"),
		CertificateMode:        jsii.String(CertificateModeJITP),
		AutoRegistrationStatus: jsii.String("ENABLE"),
		RegistrationConfig: &awsiot.CfnCACertificate_RegistrationConfigProperty{
			TemplateBody: jsii.String(body),
			RoleArn:      f.ProvisioningRole.RoleArn(),
		},
	})
	if p := f.ProvisioningRole.Node().TryFindChild(jsii.String("DefaultPolicy")); p != nil {
		f.CACertificate.Node().AddDependency(p)
	}
	return nil
}

// claim builds fleet provisioning by claim: the template with the Go pre-provisioning hook,
// the hook function (allowlist read and conditional write only), its invoke permission for
// this one template, and the claim certificates' policy.
func (f *Fleet) claim(allowlist awsdynamodb.ITable) {
	name := f.Names.ClaimTemplate()
	stack := awscdk.Stack_Of(f.Construct)
	env := map[string]string{contract.EnvAllowlistTable: *allowlist.TableName()}
	if f.props.AllowUnboundClaims {
		env[contract.EnvAllowUnboundClaims] = "true"
	}
	f.ProvisioningHook = golambda.New(f.Construct, "ProvisioningHook", &golambda.Props{
		Entry:         "lambdas/provisioninghook",
		Description:   "Pre-provisioning hook of " + name + ": admits an allowlisted serial once, with its device's key, for a thing not in service",
		EncryptionKey: f.props.EncryptionKey,
		Environment:   env,
		Timeout:       HookTimeout,
		LogRetention:  f.props.LogRetention,
		RemovalPolicy: f.props.RemovalPolicy,
	})
	allowlist.Grant(f.ProvisioningHook.Role, jsii.String("dynamodb:GetItem"), jsii.String("dynamodb:UpdateItem"))
	if k := allowlist.EncryptionKey(); k != nil {
		k.GrantEncryptDecrypt(f.ProvisioningHook.Role)
	}
	// The registry reads of the no-hijack check. The Service Authorization Reference ("Actions,
	// resources, and condition keys for AWS IoT") gives iot:ListThingPrincipals the required
	// resource type thing and iot:DescribeCertificate the required resource type cert; the
	// thing is whichever the allowlist names and the certificates whichever are attached to
	// it, so thing/* and cert/* of this account and region are the narrowest ARNs. Read-only.
	f.ProvisioningHook.Role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid: jsii.String("ThingPrincipals"), Actions: jsii.Strings("iot:ListThingPrincipals"),
		Resources: &[]*string{arn(f.Construct, "thing", "*")},
	}))
	f.ProvisioningHook.Role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid: jsii.String("CertificateStatus"), Actions: jsii.Strings("iot:DescribeCertificate"),
		Resources: &[]*string{arn(f.Construct, "cert", "*")},
	}))
	templateArn := arn(f.Construct, "provisioningtemplate", name)
	f.ProvisioningHook.Resource.AddPermission(jsii.String("InvokedByClaimTemplate"), &awslambda.Permission{
		Principal:     awsiam.NewServicePrincipal(jsii.String("iot.amazonaws.com"), nil),
		Action:        jsii.String("lambda:InvokeFunction"),
		SourceArn:     templateArn,
		SourceAccount: stack.Account(),
	})
	body, err := ClaimTemplate(f.Names).JSON()
	if err != nil {
		panic(err) // a map of strings always marshals
	}
	f.ClaimTemplate = awsiot.NewCfnProvisioningTemplate(f.Construct, jsii.String("ClaimTemplate"), &awsiot.CfnProvisioningTemplateProps{
		TemplateName:        jsii.String(name),
		Description:         jsii.String("Fleet provisioning by claim: the hook admits allowlisted serials with their device's key and pins thing name, class and district"),
		Enabled:             jsii.Bool(true),
		TemplateType:        jsii.String("FLEET_PROVISIONING"),
		ProvisioningRoleArn: f.ProvisioningRole.RoleArn(),
		TemplateBody:        jsii.String(body),
		PreProvisioningHook: &awsiot.CfnProvisioningTemplate_ProvisioningHookProperty{
			PayloadVersion: jsii.String(HookPayloadVersion),
			TargetArn:      f.ProvisioningHook.Resource.FunctionArn(),
		},
	})
	// The template is usable as soon as it exists: the hook must already be invokable and the
	// role already allowed.
	for _, dep := range []constructs.IConstruct{
		f.ProvisioningHook.Resource.Node().TryFindChild(jsii.String("InvokedByClaimTemplate")),
		f.ProvisioningRole.Node().TryFindChild(jsii.String("DefaultPolicy")),
	} {
		if dep != nil {
			f.ClaimTemplate.Node().AddDependency(dep)
		}
	}
	f.ClaimPolicy = awsiot.NewCfnPolicy(f.Construct, jsii.String("ClaimPolicy"), &awsiot.CfnPolicyProps{
		PolicyName:     jsii.String(f.Names.ClaimPolicy()),
		PolicyDocument: policies.Claim(name).CloudFormation(),
	})
}

// MetricProvisioningDecisions is the count of the pre-provisioning hook's decisions with the
// given reason (contract.Reason...), from the hook's embedded-metric-format log lines.
// Default statistic Sum over five minutes.
func (f *Fleet) MetricProvisioningDecisions(reason string, opts *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	o := awscloudwatch.MetricOptions{}
	if opts != nil {
		o = *opts
	}
	if o.Statistic == nil {
		o.Statistic = jsii.String("Sum")
	}
	if o.Period == nil {
		o.Period = awscdk.Duration_Minutes(jsii.Number(5))
	}
	return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace:     jsii.String(contract.MetricNamespace),
		MetricName:    jsii.String(contract.MetricDecisions),
		DimensionsMap: &map[string]*string{contract.DimensionReason: jsii.String(reason)},
		Statistic:     o.Statistic,
		Period:        o.Period,
		Label:         o.Label,
		Unit:          o.Unit,
		Color:         o.Color,
		Account:       o.Account,
		Region:        o.Region,
	})
}
