package ota

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"
)

// SigningProfileArn is the ARN of the AWS Signer profile.
func (o *OTA) SigningProfileArn() *string { return jsii.String(o.profileArn) }

// TemplateArn is the ARN of a class's job template, or nil for a class without one.
func (o *OTA) TemplateArn(class string) *string {
	t, ok := o.Templates[class]
	if !ok {
		return nil
	}
	return t.AttrArn()
}

// GrantStartSigningJob lets grantee (the release pipeline's role) sign images with this
// profile, read the profile and follow its signing jobs. AWS Signer reads the image and writes
// the signed object with the caller's own permissions: grant those on the firmware store too
// (FirmwareStore.GrantRead on the image, GrantPut on SignedKeyPrefix).
func (o *OTA) GrantStartSigningJob(grantee awsiam.IGrantable) awsiam.Grant {
	stack := awscdk.Stack_Of(o.Construct)
	profile := awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
		Grantee:      grantee,
		Actions:      jsii.Strings("signer:StartSigningJob", "signer:GetSigningProfile"),
		ResourceArns: jsii.Strings(o.profileArn),
	})
	jobs := awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
		Grantee: grantee,
		Actions: jsii.Strings("signer:DescribeSigningJob"),
		ResourceArns: jsii.Strings("arn:" + *stack.Partition() + ":signer:" + *stack.Region() + ":" + *stack.Account() +
			":/signing-jobs/*"),
	})
	return profile.Combine(jobs)
}
