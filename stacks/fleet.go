package stacks

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiot"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/secure-smart-city/platform/constructs/fleet"
)

// Fleet holds device identity and authorization: thing types, groups, things, certificates,
// policies, provisioning, IoT logging and the domain configuration.
type Fleet struct {
	awscdk.Stack
	// QuarantineGroup holds devices that misbehaved; its policy denies everything.
	QuarantineGroup awsiot.CfnThingGroup
	// QuarantineGroupName and QuarantineGroupArn name the quarantine group for grants and
	// the remediation function's environment.
	QuarantineGroupName string
	QuarantineGroupArn  *string
	// IoTLogs is the AWSIotLogsV2 log group AWS IoT logs to; metric filters go on it.
	IoTLogs awslogs.ILogGroup
	// ClassPolicies maps each device class id to its IoT policy's name.
	ClassPolicies map[string]string
	// Devices is the registry and identity of the stage's devices.
	Devices *fleet.Fleet
	// Logging is the account's IoT logging configuration.
	Logging *fleet.Logging
	// Endpoint is the devices' domain configuration.
	Endpoint *fleet.Endpoint
}

// IoTLogLevels is the IoT log level by stage. Authorization failures are ERROR entries and
// duplicate client ids INFO Disconnect entries; the Operations stack's metric filters need
// both. Dev logs everything at INFO. Prod logs WARN and above (no per-message INFO entries
// for every publish) and keeps Connect and Disconnect at INFO, which carry the duplicate
// client ids and are few per device.
func IoTLogLevels(stage Stage) (fleet.Level, map[string]fleet.Level) {
	if stage == StageProd {
		return fleet.LevelWarn, map[string]fleet.Level{"Connect": fleet.LevelInfo, fleet.EventDisconnect: fleet.LevelInfo}
	}
	return fleet.LevelInfo, nil
}

// NewFleet builds the Fleet stack.
func NewFleet(scope constructs.Construct, cfg Config, f *Foundation) *Fleet {
	stack := awscdk.NewStack(scope, jsii.String(cfg.StackName("Fleet")),
		cfg.stackProps("Fleet", "Smart city IoT platform: device identity, policies and provisioning"))
	devices := fleet.New(stack, "Devices", &fleet.Props{
		Fleet:         cfg.Fleet,
		Prefix:        cfg.RulePrefix(),
		EncryptionKey: f.PlatformKey.Key,
		Allowlist:     f.ProvisioningAllowlist.Table,
	})
	// The foundation's placeholder group had this logical id; keeping it means an update does
	// not replace a named group (CloudFormation would create the new one first, by the same name).
	if devices.QuarantineGroup != nil {
		devices.QuarantineGroup.OverrideLogicalId(jsii.String("QuarantineGroup"))
	}
	level, events := IoTLogLevels(cfg.Stage)
	logging := fleet.NewLogging(stack, "IoTLogging", &fleet.LoggingProps{
		EncryptionKey: f.PlatformKey.Key,
		Level:         level,
		EventLevels:   events,
		// An account that already has IoT logging keeps its own (see ContextExistingIoTLogging).
		ExistingAccountLogging: cfg.Existing.IoTLogging,
	})
	endpoint := fleet.NewEndpoint(stack, "DeviceEndpoint", &fleet.EndpointProps{Name: devices.Names.DomainConfiguration()})
	return &Fleet{
		Stack:               stack,
		QuarantineGroup:     devices.QuarantineGroup,
		QuarantineGroupName: devices.Names.Quarantine(),
		QuarantineGroupArn:  devices.QuarantineGroupArn(),
		IoTLogs:             logging.LogGroup,
		ClassPolicies:       devices.ClassPolicyNames(),
		Devices:             devices,
		Logging:             logging,
		Endpoint:            endpoint,
	}
}
