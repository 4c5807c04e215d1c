package stacks

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/secure-smart-city/platform/constructs/commandapi"
)

// newCommandAPI builds the operators' command API into the Operations stack: the stage is
// named after the platform stage, so a URL says which city it commands.
func newCommandAPI(stack awscdk.Stack, cfg Config, f *Foundation) *commandapi.API {
	api := commandapi.New(stack, "CommandApi", &commandapi.Props{
		Fleet: cfg.Fleet,
		// Thing types are named like the classes' topic rules (topics.RuleName).
		ThingTypePrefix: cfg.RulePrefix(),
		EncryptionKey:   f.PlatformKey.Resource,
		StateTable:      f.DeviceState.Resource,
		AuditTable:      f.CommandAudit.Resource,
		StageName:       string(cfg.Stage),
		RemovalPolicy:   awscdk.RemovalPolicy_RETAIN,
		// An account whose API Gateway already has a CloudWatch role keeps it (ContextExistingAPIGatewayAccount).
		AccountCloudWatchRole: jsii.Bool(!cfg.Existing.APIGatewayAccount),
	})
	awscdk.NewCfnOutput(stack, jsii.String("CommandApiUrl"), &awscdk.CfnOutputProps{
		Description: jsii.String("Base URL of the command API (IAM/SigV4 authorized): GET devices/{thing}, POST devices/{thing}/commands"),
		Value:       api.URL(),
	})
	return api
}
