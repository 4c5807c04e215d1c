package stacks

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/jsii-runtime-go"

	"github.com/secure-smart-city/platform/constructs/ota"
)

// ContextCodeSigningCertificateArn is the context key of the ACM code-signing certificate the
// signing profile uses. Without it the Operations stack takes the ARN as the CloudFormation
// parameter ParameterCodeSigningCertificateArn, so synth never needs the certificate and a
// deploy cannot forget it.
const (
	ContextCodeSigningCertificateArn   = "codeSigningCertificateArn"
	ParameterCodeSigningCertificateArn = "CodeSigningCertificateArn"
)

// OTA is over-the-air updates: the firmware bucket (stateful, in the Foundation stack) and the
// signing profile, job templates, alarms and rollout dashboard (in the Operations stack).
type OTA struct {
	// Store is the firmware bucket.
	Store *ota.FirmwareStore
	// Updates are the signing profile, job templates, alarms and dashboard.
	Updates *ota.OTA
}

// NewOTA adds OTA to the Foundation and Operations stacks. It is self-contained: the alarms
// notify the alert topic directly rather than through the Operations stack's monitoring.
func NewOTA(cfg Config, f *Foundation, o *Operations) *OTA {
	store := ota.NewFirmwareStore(f.Stack, "Firmware", &ota.StoreProps{
		EncryptionKey: f.PlatformKey.Resource,
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	var certArn *string
	if v, ok := o.Stack.Node().TryGetContext(jsii.String(ContextCodeSigningCertificateArn)).(string); ok && v != "" {
		certArn = jsii.String(v)
	} else {
		certArn = awscdk.NewCfnParameter(o.Stack, jsii.String(ParameterCodeSigningCertificateArn), &awscdk.CfnParameterProps{
			Type:                  jsii.String("String"),
			Description:           jsii.String("ARN of the ACM code-signing certificate (ECDSA P-256) the firmware signing profile signs with"),
			AllowedPattern:        jsii.String(`arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]{36}`),
			ConstraintDescription: jsii.String("an ACM certificate ARN"),
		}).ValueAsString()
	}
	updates := ota.New(o.Stack, "Ota", &ota.Props{
		Fleet:                     cfg.Fleet,
		NamePrefix:                cfg.RulePrefix(),
		FirmwareBucket:            store.Bucket,
		FirmwareKey:               store.Key,
		CodeSigningCertificateArn: certArn,
		AlarmAction:               awscloudwatchactions.NewSnsAction(f.AlertTopic.Resource),
		AlarmPrefix:               cfg.AlarmPrefix(),
		LogKey:                    f.PlatformKey.Resource,
	})
	awscdk.NewCfnOutput(f.Stack, jsii.String("FirmwareBucketName"), &awscdk.CfnOutputProps{
		Value: store.BucketName(), Description: jsii.String("Firmware bucket: cmd/ota uploads images under firmware/<class>/<version>/"),
	})
	awscdk.NewCfnOutput(o.Stack, jsii.String("FirmwareSigningProfile"), &awscdk.CfnOutputProps{
		Value: jsii.String(updates.SigningProfileName), Description: jsii.String("AWS Signer profile cmd/ota signs firmware with"),
	})
	return &OTA{Store: store, Updates: updates}
}
