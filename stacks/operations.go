package stacks

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	cmdapi "github.com/secure-smart-city/platform/lambdas/command/contract"

	"github.com/secure-smart-city/platform/constructs/commandapi"
	"github.com/secure-smart-city/platform/constructs/defender"
	"github.com/secure-smart-city/platform/constructs/ingest"
	"github.com/secure-smart-city/platform/constructs/monitoring"
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

// NewOperations builds the Operations stack.
func NewOperations(scope constructs.Construct, cfg Config, f *Foundation, fl *Fleet, in *Ingestion) *Operations {
	stack := awscdk.NewStack(scope, jsii.String(cfg.StackName("Operations")),
		cfg.stackProps("Operations", "Smart city IoT platform: alarms, dashboard, Device Defender and command API"))
	o := &Operations{Stack: stack}
	m := monitoring.New(stack, "Alarms", &monitoring.Props{AlertTopic: f.AlertTopic.Topic, Prefix: "SmartCity-" + string(cfg.Stage)})
	o.Alarms = m

	m.WatchTable("DeviceState", f.DeviceState)
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
				Label:  jsii.String(monitoring.LabelReason),
				Period: awscdk.Duration_Minutes(jsii.Number(5)),
			}),
			Latency: tel.MetricProcessingLatency(c.ID, label("Latency (max)")),
		})
	}
	m.WatchBroker(nil)

	groups := map[string]defender.ThingGroup{}
	for id, g := range fl.Devices.ClassGroups {
		groups[id] = defender.ThingGroup{Name: g.Ref(), Arn: g.AttrArn()}
	}
	o.Defender = defender.New(stack, "Defender", &defender.Props{
		AlertTopic:    f.AlertTopic.Topic,
		Monitoring:    m,
		EncryptionKey: f.PlatformKey.Key,
		Fleet:         cfg.Fleet,
		NamePrefix:    cfg.RulePrefix(),
		// Thing types are named like the classes' topic rules (topics.RuleName).
		ThingTypePrefix: cfg.RulePrefix(),
		QuarantineGroup: defender.ThingGroup{Name: jsii.String(fl.QuarantineGroupName), Arn: fl.QuarantineGroupArn},
		IoTLogs:         fl.IoTLogs,
		// The mitigation turns logging back on with the role the Fleet stack logs with.
		LoggingRole: fl.Logging.Role,
		Detect:      cfg.DefenderDetect,
		ClassGroups: groups,
		// The quarantine budget is a few items in the device state table (its own partition).
		QuarantineBudgetTable: f.DeviceState.Table,
		ClaimPolicyName:       claimPolicyName(fl),
		// An account that already has an audit configuration keeps it (ContextExistingAuditConfiguration).
		ExistingAuditConfiguration: cfg.Existing.AuditConfiguration,
	})
	// The alert topic denies sns:Publish to every role outside Foundation.AlertPublisherPath
	// (issue 11): Defender's two publishing roles live there, and so does the quarantine
	// function's role, which publishes what it did (or only reports) to a person.
	for _, id := range []string{"NotificationRole", "PublishFindingRole"} {
		if r := o.Defender.Node().TryFindChild(jsii.String(id)); r != nil {
			r.Node().DefaultChild().(awscdk.CfnResource).AddPropertyOverride(jsii.String("Path"), jsii.String(f.AlertPublisherPath))
		}
	}
	if q := o.Defender.Quarantine; q != nil && q.Role != nil {
		q.Role.Node().DefaultChild().(awscdk.CfnResource).AddPropertyOverride(jsii.String("Path"), jsii.String(f.AlertPublisherPath))
	}
	warnExistingSingletons(o.Defender.Construct, cfg.Existing)

	o.CommandAPI = newCommandAPI(stack, cfg, f)
	if api := o.CommandAPI; api.Function != nil {
		m.WatchFunction("CommandProcessor", api.Function, nil)
		m.WatchMetric("CommandApi-ServerErrors",
			"The command API answered 5XX: operators' commands failed. Read the CommandProcessor's ERROR logs and the "+
				"API's access log (requestId, caller ARN, status) for the failing requests.",
			api.MetricServerErrors(&awscloudwatch.MetricOptions{Statistic: jsii.String("Sum"), Period: awscdk.Duration_Minutes(jsii.Number(5))}), 1)
		// The audit trail fails closed: a failed intent write refuses the command (503), a
		// failed outcome write leaves a sent command without its outcome. Either is a gap a
		// person must look at.
		m.WatchMetric("CommandApi-AuditIntentWriteFailed",
			"The command function could not write an audit intent record, so it refused commands (503). Check the CommandAudit "+
				"table (throttling, its key, its resource policy) and the CommandProcessor's ERROR logs.",
			api.MetricAuditWriteFailed(cmdapi.KindIntent, &awscloudwatch.MetricOptions{Period: awscdk.Duration_Minutes(jsii.Number(5))}), 1)
		m.WatchMetric("CommandApi-AuditOutcomeWriteFailed",
			"A command was delivered but its audit outcome record could not be written: the trail has an intent without an "+
				"outcome. Check the CommandAudit table and the CommandProcessor's ERROR logs (requestId).",
			api.MetricAuditWriteFailed(cmdapi.KindOutcome, &awscloudwatch.MetricOptions{Period: awscdk.Duration_Minutes(jsii.Number(5))}), 1)
	}

	var districts []monitoring.DistrictMetrics
	for _, d := range cfg.Fleet.Districts {
		districts = append(districts, monitoring.DistrictMetrics{
			District: d.ID, Name: d.Name,
			Received: tel.MetricByDistrict(ingest.ProcessorReceived, d.ID, "Received ${PROP('Dim.Class')}"),
			Accepted: tel.MetricByDistrict(ingest.ProcessorAccepted, d.ID, "Accepted ${PROP('Dim.Class')}"),
			Rejected: tel.MetricByDistrict(ingest.ProcessorRejected, d.ID, "Rejected ${PROP('Dim.Class')}"),
		})
	}
	o.ControlCenter = monitoring.NewControlCenter(stack, "ControlCenter", &monitoring.ControlCenterProps{
		DashboardName: "SmartCity-" + string(cfg.Stage) + "-ControlCenter",
		Title:         "Smart City Control Center (" + string(cfg.Stage) + ")",
		Notes: "Telemetry figures per device class, then per district (one series per class). " +
			"Connected devices come from AWSIotLogsV2 (needs IoT logging at INFO).",
		Monitoring: m,
		Classes:    classes,
		Districts:  districts,
		IoTLogs:    fl.IoTLogs,
		Security:   o.Defender.SecurityMetrics(),
		// Rejects per thing come from the processor's logs: a per-thing metric dimension
		// would be one series per device.
		Queries: []monitoring.LogQuery{{
			Title:    "Rejected records by thing (class, district, reason)",
			LogGroup: in.Telemetry.Processor.LogGroup,
			Query:    ingest.RejectsByThingQuery,
		}},
	})
	return o
}

// Warnings for each account singleton the stage leaves to the account: what the platform
// then depends on, which no template can set or check.
const (
	WarningExistingIoTLogging = "the account's own AWS IoT logging stays in charge (existingIotLogging). Detection and the " +
		"Control Center depend on it: v2 logging to the AWSIotLogsV2 log group, with Connect and Disconnect events at INFO " +
		"(refused CONNECTs and duplicate client ids are logged there; the default level ERROR or more verbose keeps the " +
		"authorization failures). Check with `aws iot get-v2-logging-options` and set with `aws iot set-v2-logging-options` " +
		"or `aws iot set-v2-logging-level`; without it the security alarms never fire."
	WarningExistingAuditConfiguration = "the account's own Device Defender audit configuration stays in charge " +
		"(existingAuditConfiguration). The scheduled audits need their checks enabled there, and audit remediation runs only " +
		"if it notifies the alert topic (aws iot update-account-audit-configuration --audit-notification-target-configurations " +
		"with the alert topic and the Defender NotificationRole)."
	WarningExistingAPIGatewayAccount = "the region's API Gateway CloudWatch role stays as the account set it " +
		"(existingApiGatewayAccount): it must be able to write the command API's execution and access log groups, or the " +
		"API's logs are lost."
)

func warnExistingSingletons(scope constructs.Construct, e ExistingSingletons) {
	warn := func(id, msg string) {
		awscdk.Annotations_Of(scope).AddWarningV2(jsii.String("smartcity:"+id), jsii.String(msg), nil)
	}
	if e.IoTLogging {
		warn("existingIotLogging", WarningExistingIoTLogging)
	}
	if e.AuditConfiguration {
		warn("existingAuditConfiguration", WarningExistingAuditConfiguration)
	}
	if e.APIGatewayAccount {
		warn("existingApiGatewayAccount", WarningExistingAPIGatewayAccount)
	}
}

// claimPolicyName is the claim certificates' IoT policy, or "" when provisioning by claim is off.
func claimPolicyName(fl *Fleet) string {
	if fl.Devices == nil || fl.Devices.ClaimPolicy == nil {
		return ""
	}
	return fl.Devices.Names.ClaimPolicy()
}

func label(l string) *awscloudwatch.MetricOptions {
	return &awscloudwatch.MetricOptions{Period: awscdk.Duration_Minutes(jsii.Number(5)), Label: jsii.String(l)}
}
