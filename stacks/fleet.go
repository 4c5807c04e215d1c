package stacks

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiot"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/secure-smart-city/platform/constructs/fleet"
	"github.com/secure-smart-city/platform/constructs/monitoring"
	"github.com/secure-smart-city/platform/lambdas/provisioninghook/contract"
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
	// LoggingRole is the role AWS IoT logs with; a mitigation that turns logging back on
	// passes it.
	LoggingRole awsiam.IRole
	// ClassGroupArns maps each device class id to its thing group's ARN.
	ClassGroupArns map[string]*string
	// ClassPolicies maps each device class id to its IoT policy's name.
	ClassPolicies map[string]string
	// Devices is the registry and identity of the stage's devices.
	Devices *fleet.Fleet
	// Logging is the account's IoT logging configuration.
	Logging *fleet.Logging
	// Endpoint is the devices' domain configuration.
	Endpoint *fleet.Endpoint
	// ProvisioningAlarms are the alarms on the provisioning hook's attack refusals (children
	// of the construct "ProvisioningAlarms"); none without claim provisioning.
	ProvisioningAlarms []awscloudwatch.Alarm
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
	unbound, err := allowUnboundClaims(scope)
	if err != nil {
		awscdk.Annotations_Of(stack).AddError(jsii.String(err.Error()))
	}
	if unbound {
		awscdk.Annotations_Of(stack).AddWarning(jsii.String("context " + ContextAllowUnboundClaims +
			"=true: the provisioning hook admits allowlist entries without a key fingerprint, with no device-unique proof (trials only)"))
	}
	devices := fleet.New(stack, "Devices", &fleet.Props{
		Fleet:              cfg.Fleet,
		Prefix:             cfg.RulePrefix(),
		EncryptionKey:      f.PlatformKey.Resource,
		Allowlist:          f.ProvisioningAllowlist.Resource,
		AllowUnboundClaims: unbound,
	})
	// The foundation's placeholder group had this logical id; keeping it means an update does
	// not replace a named group (CloudFormation would create the new one first, by the same name).
	devices.QuarantineGroup.OverrideLogicalId(jsii.String("QuarantineGroup"))
	level, events := IoTLogLevels(cfg.Stage)
	logging := fleet.NewLogging(stack, "IoTLogging", &fleet.LoggingProps{
		EncryptionKey: f.PlatformKey.Resource,
		Level:         level,
		EventLevels:   events,
		// An account that already has IoT logging keeps its own (see ContextExistingIoTLogging).
		ExistingAccountLogging: cfg.Existing.IoTLogging,
	})
	endpoint := fleet.NewEndpoint(stack, "DeviceEndpoint", &fleet.EndpointProps{Name: devices.Names.DomainConfiguration()})
	var alarms []awscloudwatch.Alarm
	if devices.ProvisioningHook != nil { // provisioning by claim is on
		alarms = provisioningAlarms(stack, cfg, f, devices)
	}
	return &Fleet{
		Stack:               stack,
		QuarantineGroup:     devices.QuarantineGroup,
		QuarantineGroupName: devices.QuarantineGroupName(),
		QuarantineGroupArn:  devices.QuarantineGroupArn(),
		IoTLogs:             logging.LogGroup,
		LoggingRole:         logging.Role,
		ClassGroupArns:      devices.ClassGroupArns(),
		ClassPolicies:       devices.ClassPolicyNames(),
		Devices:             devices,
		Logging:             logging,
		Endpoint:            endpoint,
		ProvisioningAlarms:  alarms,
	}
}

// ContextAllowUnboundClaims (true or false, default false) lets the provisioning hook admit
// allowlist entries without a key fingerprint: `cdk deploy -c allowUnboundClaims=true`, for a
// trial with devices whose keys were never recorded. It removes the device-unique proof.
const ContextAllowUnboundClaims = "allowUnboundClaims"

// allowUnboundClaims reads ContextAllowUnboundClaims; anything but a boolean is an error, not
// a guess.
func allowUnboundClaims(scope constructs.Construct) (bool, error) {
	return contextBool(scope, ContextAllowUnboundClaims)
}

// provisioningAlarms alarms, next to the hook, on each refusal that means someone presents a
// serial or a thing that is not theirs (contract.AlarmedReasons), notifying the Foundation's
// alert topic. One refusal is enough: a real device never causes these.
func provisioningAlarms(stack awscdk.Stack, cfg Config, f *Foundation, devices *fleet.Fleet) []awscloudwatch.Alarm {
	scope := constructs.NewConstruct(stack, jsii.String("ProvisioningAlarms"))
	action := awscloudwatchactions.NewSnsAction(f.AlertTopic.Resource)
	why := map[string]string{
		contract.ReasonRaceLost: "Two certificates claimed the same serial at once and one lost the allowlist's conditional write. " +
			"With key proof on, both carried the device's key: look for a cloned device.",
		contract.ReasonAlreadyProvisioned: "A certificate claimed a serial that is already provisioned with another certificate: a copied serial, " +
			"or a device re-provisioning with a new key (then reset its allowlist entry deliberately).",
		contract.ReasonFingerprintMismatch: "A claim presented an allowlisted serial with a key that is not the one the manufacturer recorded: " +
			"someone holds the claim certificate and a serial but not the device.",
		contract.ReasonThingInUse: "A claim targeted a thing that already has an active certificate: a takeover attempt, or a replaced device " +
			"whose old certificate must be deactivated first.",
	}
	var out []awscloudwatch.Alarm
	for _, reason := range contract.AlarmedReasons {
		out = append(out, monitoring.ThresholdAlarm(scope, action, cfg.AlarmPrefix(), monitoring.Threshold{
			Name:        "Provisioning-" + reason,
			Description: why[reason] + " The hook's log group has the serial, certificate id and client id (filter on reason = " + reason + ").",
			Metric:      devices.MetricProvisioningDecisions(reason, nil),
			Threshold:   1,
		}))
	}
	return out
}
