package stacks

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiot"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Fleet holds device identity and authorization: thing types, groups, things, certificates,
// policies, provisioning, IoT logging and the domain configuration.
type Fleet struct {
	awscdk.Stack
	// QuarantineGroup holds devices that misbehaved; its policy denies everything.
	QuarantineGroup awsiot.CfnThingGroup
}

// NewFleet builds the Fleet stack.
func NewFleet(scope constructs.Construct, cfg Config, f *Foundation) *Fleet {
	stack := awscdk.NewStack(scope, jsii.String(cfg.StackName("Fleet")),
		cfg.stackProps("Fleet", "Smart city IoT platform: device identity, policies and provisioning"))
	quarantine := awsiot.NewCfnThingGroup(stack, jsii.String("QuarantineGroup"), &awsiot.CfnThingGroupProps{
		ThingGroupName: jsii.String(cfg.RulePrefix() + "_quarantine"),
		ThingGroupProperties: &awsiot.CfnThingGroup_ThingGroupPropertiesProperty{
			ThingGroupDescription: jsii.String("Devices isolated after misbehaving; the group's policy denies every IoT action"),
		},
	})
	return &Fleet{Stack: stack, QuarantineGroup: quarantine}
}
