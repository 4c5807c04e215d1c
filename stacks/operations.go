package stacks

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/secure-smart-city/platform/constructs/commandapi"
	"github.com/secure-smart-city/platform/constructs/defender"
	"github.com/secure-smart-city/platform/constructs/ingest"
	"github.com/secure-smart-city/platform/constructs/monitoring"
	"github.com/secure-smart-city/platform/topics"
)

// Operations holds what watches and acts: alarms, the dashboard, Device Defender and the
// command API.
type Operations struct {
	awscdk.Stack
	// Alarms creates every alarm; its Alarms field lists them.
	Alarms *monitoring.Monitoring
	// Defender is Device Defender: audit, mitigation, detection and quarantine.
	Defender *defender.Defender
	// ControlCenter is the Smart City Control Center dashboard.
	ControlCenter *monitoring.ControlCenter
	// CommandAPI is the operators' IAM-authorized, WAF-guarded command API.
	CommandAPI *commandapi.API
}

// iotLogGroup is the AWS IoT v2 log group; AWS IoT writes to it by this fixed name.
const iotLogGroup = "AWSIotLogsV2"

// NewOperations builds the Operations stack.
func NewOperations(scope constructs.Construct, cfg Config, f *Foundation, fl *Fleet, in *Ingestion) *Operations {
	stack := awscdk.NewStack(scope, jsii.String(cfg.StackName("Operations")),
		cfg.stackProps("Operations", "Smart city IoT platform: alarms, dashboard, Device Defender and command API"))
	o := &Operations{Stack: stack}
	m := monitoring.New(stack, "Alarms", &monitoring.Props{AlertTopic: f.AlertTopic.Topic, Prefix: "SmartCity-" + string(cfg.Stage)})
	o.Alarms = m

	m.WatchTable("DeviceState", f.DeviceState)
	m.WatchTable("TelemetryState", f.TelemetryState)
	m.WatchTable("ProvisioningAllowlist", f.ProvisioningAllowlist)
	m.WatchTable("CommandAudit", f.CommandAudit)
	m.WatchQueue("RuleErrors", in.RuleErrors)

	tel := in.Telemetry
	m.WatchFunction("TelemetryProcessor", tel.Processor, &monitoring.FunctionOptions{StreamConsumer: tel.Stream != nil})
	if tel.Stream != nil {
		m.WatchStream("TelemetryStream", tel.Stream, nil)
	}
	var classes []monitoring.ClassMetrics
	five := func() *awscloudwatch.MetricOptions {
		return &awscloudwatch.MetricOptions{Period: awscdk.Duration_Minutes(jsii.Number(5))}
	}
	for _, c := range cfg.Fleet.Classes {
		m.WatchRule(tel.RuleName(c.ID))
		m.WatchRatio("Telemetry-"+c.ID+"-RejectedRatio",
			"More than 5% of "+c.Name+" messages were rejected by the telemetry processor in 2 of 3 periods. "+
				"See the Control Center's 'Rejected by reason' graph and the archive's rejected/ objects: a firmware "+
				"change, a fleet file out of step with the devices, or a device sending garbage.",
			tel.MetricRejected(c.ID, five()), tel.MetricReceived(c.ID, five()), 5)
		classes = append(classes, monitoring.ClassMetrics{
			Class: c.ID, Name: c.Name,
			Received: tel.MetricReceived(c.ID, label("Received")), Accepted: tel.MetricAccepted(c.ID, label("Accepted")),
			Rejected: tel.MetricRejected(c.ID, label("Rejected")),
			RejectedByReason: awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
				Expression: jsii.String(`SEARCH('{"` + ingest.TelemetryNamespace + `",` + ingest.DimensionClass + `,` + ingest.DimensionReason +
					`} MetricName="` + ingest.ProcessorRejected + `" ` + ingest.DimensionClass + `="` + c.ID + `"', 'Sum', 300)`),
				Period: awscdk.Duration_Minutes(jsii.Number(5)),
			}),
			Latency: tel.MetricProcessingLatency(c.ID, label("Latency (max)")),
		})
	}
	m.WatchBroker(nil)

	// Until the Fleet stack exposes the AWSIotLogsV2 group it creates, refer to it by its fixed
	// name (AWS IoT creates it on first use otherwise).
	iotLogs := awslogs.LogGroup_FromLogGroupName(stack, jsii.String("IoTLogs"), jsii.String(iotLogGroup))
	o.Defender = defender.New(stack, "Defender", &defender.Props{
		AlertTopic:      f.AlertTopic.Topic,
		Monitoring:      m,
		EncryptionKey:   f.PlatformKey.Key,
		Fleet:           cfg.Fleet,
		NamePrefix:      cfg.RulePrefix(),
		QuarantineGroup: defender.ThingGroup{Name: fl.QuarantineGroup.Ref(), Arn: fl.QuarantineGroup.AttrArn()},
		IoTLogs:         iotLogs,
		Detect:          cfg.DefenderDetect,
		ClassGroups:     classGroups(stack, cfg),
	})

	o.ControlCenter = monitoring.NewControlCenter(stack, "ControlCenter", &monitoring.ControlCenterProps{
		DashboardName: "SmartCity-" + string(cfg.Stage) + "-ControlCenter",
		Title:         "Smart City Control Center (" + string(cfg.Stage) + ")",
		Notes: "Telemetry figures are per device class: the telemetry processor does not emit a District dimension yet. " +
			"Connected devices come from AWSIotLogsV2 (needs IoT logging at INFO).",
		Monitoring: m,
		Classes:    classes,
		IoTLogs:    iotLogs,
		Security:   o.Defender.SecurityMetrics(),
	})
	o.CommandAPI = newCommandAPI(stack, cfg, f)
	return o
}

func label(l string) *awscloudwatch.MetricOptions {
	return &awscloudwatch.MetricOptions{Period: awscdk.Duration_Minutes(jsii.Number(5)), Label: jsii.String(l)}
}

// classGroups are the per-class thing groups the Fleet stack creates, named like the class's
// topic rule (fleet.Names.Class).
func classGroups(stack awscdk.Stack, cfg Config) map[string]defender.ThingGroup {
	out := map[string]defender.ThingGroup{}
	for _, c := range cfg.Fleet.Classes {
		name := topics.RuleName(cfg.RulePrefix(), c.ID)
		out[c.ID] = defender.ThingGroup{
			Name: jsii.String(name),
			Arn: stack.FormatArn(&awscdk.ArnComponents{Service: jsii.String("iot"), Resource: jsii.String("thinggroup"),
				ResourceName: jsii.String(name), ArnFormat: awscdk.ArnFormat_SLASH_RESOURCE_NAME}),
		}
	}
	return out
}
