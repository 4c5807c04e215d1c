package stacks

import (
	"time"

	telcontract "github.com/secure-smart-city/platform/lambdas/telemetry/contract"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/secure-smart-city/platform/constructs/commandapi"
	"github.com/secure-smart-city/platform/constructs/defender"
	"github.com/secure-smart-city/platform/constructs/golambda"
	"github.com/secure-smart-city/platform/constructs/ingest"
	"github.com/secure-smart-city/platform/constructs/monitoring"
	cmdcontract "github.com/secure-smart-city/platform/lambdas/command/contract"
)

// Operations holds what watches and acts: alarms, the dashboard, Device Defender and the
// command API.
type Operations struct {
	awscdk.Stack
	// Alarms are the stack's alarms (children of the construct "Alarms"), in the Control
	// Center's order. The OTA alarms (stacks/ota.go) are not among them.
	Alarms []awscloudwatch.Alarm
	// Defender is Device Defender: audit, mitigation, detection and quarantine.
	Defender *defender.Defender
	// ControlCenter is the Smart City Control Center dashboard.
	ControlCenter *monitoring.ControlCenter
	// CommandAPI is the operators' IAM-authorized, WAF-guarded command API.
	CommandAPI *commandapi.API
}

// watchedFunction is what the alarms and the dashboard need of a Go function.
func watchedFunction(name string, fn *golambda.Function, stream bool) monitoring.Function {
	w := monitoring.Function{
		Name: name, Function: fn.Resource, StreamConsumer: stream,
		Timeout: time.Duration(fn.TimeoutSeconds() * float64(time.Second)),
	}
	if fn.Failures != nil {
		w.Failures = fn.Failures.Resource
	}
	return w
}

// NewOperations builds the Operations stack. Its alarms are composed here from the other
// constructs' metrics, all under the construct "Alarms" (their logical ids start with it),
// and the Control Center lists them in the order they are built.
func NewOperations(scope constructs.Construct, cfg Config, f *Foundation, fl *Fleet, in *Ingestion) *Operations {
	stack := awscdk.NewStack(scope, jsii.String(cfg.StackName("Operations")),
		cfg.stackProps("Operations", "Smart city IoT platform: alarms, dashboard, Device Defender and command API"))
	o := &Operations{Stack: stack}
	alarms := constructs.NewConstruct(stack, jsii.String("Alarms"))
	action := awscloudwatchactions.NewSnsAction(f.AlertTopic.Resource)
	prefix := cfg.AlarmPrefix()
	var pipeline monitoring.Pipeline
	add := func(a ...awscloudwatch.Alarm) { o.Alarms = append(o.Alarms, a...) }
	function := func(w monitoring.Function) {
		add(monitoring.FunctionAlarms(alarms, action, prefix, w)...)
		pipeline.Functions = append(pipeline.Functions, w)
		if w.Failures != nil {
			pipeline.DeadLetters = append(pipeline.DeadLetters, monitoring.Queue{Name: w.Name + "Failures", Queue: w.Failures})
		}
	}
	queue := func(q monitoring.Queue) {
		add(monitoring.QueueAlarm(alarms, action, prefix, q))
		pipeline.DeadLetters = append(pipeline.DeadLetters, q)
	}
	threshold := func(t monitoring.Threshold) {
		add(monitoring.ThresholdAlarm(alarms, action, prefix, t))
	}

	add(monitoring.TableAlarm(alarms, action, prefix, "DeviceState", f.DeviceState.Resource))
	add(monitoring.TableAlarm(alarms, action, prefix, "ProvisioningAllowlist", f.ProvisioningAllowlist.Resource))
	add(monitoring.TableAlarm(alarms, action, prefix, "CommandAudit", f.CommandAudit.Resource))
	queue(monitoring.Queue{Name: "RuleErrors", Queue: in.RuleErrors.Resource})

	tel := in.Telemetry
	function(watchedFunction("TelemetryProcessor", tel.Processor, tel.Stream != nil))
	if tel.Stream != nil {
		s := monitoring.Stream{Name: "TelemetryStream", Stream: tel.Stream}
		add(monitoring.StreamAlarms(alarms, action, prefix, s)...)
		pipeline.Streams = append(pipeline.Streams, s)
	}
	var classes []monitoring.ClassMetrics
	five := func() *awscloudwatch.MetricOptions {
		return &awscloudwatch.MetricOptions{Period: awscdk.Duration_Minutes(jsii.Number(5))}
	}
	for _, c := range cfg.Fleet.Classes {
		rule := tel.RuleName(c.ID)
		add(monitoring.RuleAlarms(alarms, action, prefix, rule)...)
		pipeline.Rules = append(pipeline.Rules, rule)
		add(monitoring.RatioAlarm(alarms, action, prefix, monitoring.Ratio{
			Name: "Telemetry-" + c.ID + "-RejectedRatio",
			Description: "More than 5% of " + c.Name + " messages were rejected by the telemetry processor in 2 of 3 periods. " +
				"See the Control Center's 'Rejected by reason' graph and the archive's rejected/ objects: a firmware " +
				"change, a fleet file out of step with the devices, or a device sending garbage.",
			Numerator: tel.MetricRejected(c.ID, five()), Denominator: tel.MetricReceived(c.ID, five()), MaxPercent: 5,
		}))
		classes = append(classes, monitoring.ClassMetrics{
			Class: c.ID, Name: c.Name,
			Received: tel.MetricReceived(c.ID, label("Received")), Accepted: tel.MetricAccepted(c.ID, label("Accepted")),
			Rejected:         tel.MetricRejected(c.ID, label("Rejected")),
			RejectedByReason: tel.MetricRejectedByReason(c.ID, &awscloudwatch.MetricOptions{Label: jsii.String(monitoring.LabelReason)}),
			Latency:          tel.MetricProcessingLatency(c.ID, label("Latency (max)")),
		})
	}
	add(monitoring.BrokerAlarms(alarms, action, prefix, nil)...)

	classGroups := map[string]string{}
	for id, g := range fl.Devices.ClassGroups {
		classGroups[id] = *g.AttrArn()
	}
	props := &defender.Props{
		AlertTopic:    f.AlertTopic.Resource,
		EncryptionKey: f.PlatformKey.Resource,
		Fleet:         cfg.Fleet,
		NamePrefix:    cfg.RulePrefix(),
		// Thing types are named like the classes' topic rules (topics.RuleName).
		ThingTypePrefix:     cfg.RulePrefix(),
		QuarantineGroupName: fl.QuarantineGroupName,
		QuarantineGroupArn:  *fl.QuarantineGroupArn,
		IoTLogs:             fl.IoTLogs,
		// The mitigation turns logging back on with the role the Fleet stack logs with.
		LoggingRole:    fl.Logging.Role,
		Detect:         cfg.DefenderDetect,
		ClassGroupArns: classGroups,
		// The quarantine budget is a few items in the device state table (its own partition).
		QuarantineBudgetTable: f.DeviceState.Resource,
		ClaimPolicyName:       claimPolicyName(fl),
		// An account that already has an audit configuration keeps it (ContextExistingAuditConfiguration).
		ExistingAuditConfiguration: cfg.Existing.AuditConfiguration,
		// The alert topic denies sns:Publish to every role outside Foundation.AlertPublisherPath
		// (issue 11): Defender's two publishing roles live there, and so does the quarantine
		// function's role, which publishes what it did (or only reports) to a person.
		PublisherPath: f.AlertPublisherPath,
	}
	// The security alarms the quarantine function acts on are built before the Defender,
	// which needs their names and ARNs; the Control Center lists them after its audit
	// remediation alarms.
	var security []awscloudwatch.Alarm
	for _, det := range defender.Detections(props) {
		a := monitoring.ThresholdAlarm(alarms, action, prefix, monitoring.Threshold{
			Name: "Security-" + det.ID, Description: det.Description, Metric: det.Metric, Threshold: det.Threshold,
		})
		security = append(security, a)
		props.SecurityAlarms = append(props.SecurityAlarms, a)
	}
	o.Defender = defender.New(stack, "Defender", props)
	queue(monitoring.Queue{Name: "RemediationDeadLetters", Queue: o.Defender.DeadLetters.Resource})
	function(watchedFunction("AuditRemediation", o.Defender.AuditRemediation, false))
	add(security...)
	function(watchedFunction("Quarantine", o.Defender.Quarantine, false))
	warnExistingSingletons(o.Defender.Construct, cfg.Existing)

	o.CommandAPI = newCommandAPI(stack, cfg, f)
	api := o.CommandAPI
	function(watchedFunction("CommandProcessor", api.Function, false))
	threshold(monitoring.Threshold{
		Name: "CommandApi-ServerErrors",
		Description: "The command API answered 5XX: operators' commands failed. Read the CommandProcessor's ERROR logs and the " +
			"API's access log (requestId, caller ARN, status) for the failing requests.",
		Metric:    api.MetricServerErrors(&awscloudwatch.MetricOptions{Statistic: jsii.String("Sum"), Period: awscdk.Duration_Minutes(jsii.Number(5))}),
		Threshold: 1,
	})
	// The audit trail fails closed: a failed intent write refuses the command (503), a
	// failed outcome write leaves a sent command without its outcome. Either is a gap a
	// person must look at.
	threshold(monitoring.Threshold{
		Name: "CommandApi-AuditIntentWriteFailed",
		Description: "The command function could not write an audit intent record, so it refused commands (503). Check the CommandAudit " +
			"table (throttling, its key, its resource policy) and the CommandProcessor's ERROR logs.",
		Metric:    api.MetricAuditWriteFailed(cmdcontract.KindIntent, &awscloudwatch.MetricOptions{Period: awscdk.Duration_Minutes(jsii.Number(5))}),
		Threshold: 1,
	})
	threshold(monitoring.Threshold{
		Name: "CommandApi-AuditOutcomeWriteFailed",
		Description: "A command was delivered but its audit outcome record could not be written: the trail has an intent without an " +
			"outcome. Check the CommandAudit table and the CommandProcessor's ERROR logs (requestId).",
		Metric:    api.MetricAuditWriteFailed(cmdcontract.KindOutcome, &awscloudwatch.MetricOptions{Period: awscdk.Duration_Minutes(jsii.Number(5))}),
		Threshold: 1,
	})

	var districts []monitoring.DistrictMetrics
	for _, d := range cfg.Fleet.Districts {
		districts = append(districts, monitoring.DistrictMetrics{
			District: d.ID, Name: d.Name,
			Received: tel.MetricByDistrict(telcontract.MetricReceived, d.ID, "Received ${PROP('Dim.Class')}"),
			Accepted: tel.MetricByDistrict(telcontract.MetricAccepted, d.ID, "Accepted ${PROP('Dim.Class')}"),
			Rejected: tel.MetricByDistrict(telcontract.MetricRejected, d.ID, "Rejected ${PROP('Dim.Class')}"),
		})
	}
	shown := make([]awscloudwatch.IAlarm, len(o.Alarms))
	for i, a := range o.Alarms {
		shown[i] = a
	}
	o.ControlCenter = monitoring.NewControlCenter(stack, "ControlCenter", &monitoring.ControlCenterProps{
		DashboardName: "SmartCity-" + string(cfg.Stage) + "-ControlCenter",
		Title:         "Smart City Control Center (" + string(cfg.Stage) + ")",
		Notes: "Telemetry figures per device class, then per district (one series per class). " +
			"Connected devices come from AWSIotLogsV2 (needs IoT logging at INFO).",
		Alarms:    shown,
		Classes:   classes,
		Districts: districts,
		Pipeline:  pipeline,
		IoTLogs:   fl.IoTLogs,
		Security:  o.Defender.SecurityMetrics(),
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
	if fl.Devices.ClaimPolicy == nil {
		return ""
	}
	return fl.Devices.Names.ClaimPolicy()
}

func label(l string) *awscloudwatch.MetricOptions {
	return &awscloudwatch.MetricOptions{Period: awscdk.Duration_Minutes(jsii.Number(5)), Label: jsii.String(l)}
}
