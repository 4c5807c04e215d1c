// Package defender builds AWS IoT Device Defender for the platform: the account audit
// configuration with all 17 checks and scheduled audits, mitigation actions and the function
// that applies them to audit findings, behaviour detection from the AWS IoT logs that works in
// every account (metric filters, alarms and a quarantine function), and, for accounts that still
// have it, Device Defender Detect security profiles.
package defender

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiot"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/secure-smart-city/platform/constructs/golambda"
	"github.com/secure-smart-city/platform/constructs/keys"
	"github.com/secure-smart-city/platform/constructs/securestore"
	"github.com/secure-smart-city/platform/fleetspec"
	"github.com/secure-smart-city/platform/internal/propcheck"
	"github.com/secure-smart-city/platform/lambdas/remediation/contract"
)

// Props configures a Defender.
type Props struct {
	// AlertTopic receives audit notifications, findings published by the mitigation action,
	// Detect alerts and the security alarms; the remediation functions subscribe to it with
	// message-body filters. Required.
	AlertTopic awssns.ITopic
	// EncryptionKey encrypts the remediation functions' environment, logs and failure queues.
	// Required.
	EncryptionKey awskms.IKey
	// Fleet's classes are shipped to the remediation functions (its declared things are left
	// out): they act on any thing the IoT registry holds whose thing type is one of these
	// classes (topics.RuleName(ThingTypePrefix, class)), declared or provisioned at run time.
	// Required.
	Fleet *fleetspec.Fleet
	// ThingTypePrefix is the prefix of the fleet's thing type names, for example
	// "smartcity_dev". Default: NamePrefix.
	ThingTypePrefix string
	// NamePrefix prefixes the account-wide names (mitigation actions, scheduled audits, security
	// profiles), for example "smartcity_dev". Required.
	NamePrefix string
	// QuarantineGroupName and QuarantineGroupArn name the thing group whose policy denies every
	// IoT action (there is no L2 construct for a thing group; both may be tokens, for example a
	// CfnThingGroup's Ref and AttrArn). Required.
	QuarantineGroupName, QuarantineGroupArn string
	// IoTLogs is the AWS IoT v2 log group (AWSIotLogsV2) the detection's metric filters read.
	// Required.
	IoTLogs awslogs.ILogGroup
	// SecurityAlarms are the alarms on Detections(props), one per detection and in its order,
	// built by the caller (for example with monitoring.ThresholdAlarm) so that they live with
	// the stack's other alarms. The quarantine function acts only on these alarms'
	// notifications, after confirming each with CloudWatch. Required.
	SecurityAlarms []awscloudwatch.IAlarm
	// ExistingAuditConfiguration leaves out AWS::IoT::AccountAuditConfiguration (one per
	// account and region, which CloudFormation cannot create twice) for an account that
	// already has one; AuditConfiguration stays nil. The scheduled audits are still created and
	// need their checks enabled there, and audit remediation runs only if that configuration
	// notifies the alert topic. Default: false.
	ExistingAuditConfiguration bool
	// CertificateAgeDays is DEVICE_CERTIFICATE_AGE_CHECK's threshold (30 to 3652).
	// Default: 365 (DefaultCertificateAgeDays).
	CertificateAgeDays *int
	// WeeklyAuditDay is the weekly audit's day (SUN, MON, ..., SAT). Default: SUN.
	WeeklyAuditDay string
	// LoggingRole is the role AWS IoT logs with; the ENABLE_IOT_LOGGING mitigation passes it.
	// Default: - a role that may write only to IoTLogs.
	LoggingRole awsiam.IRole
	// LoggingLevel the ENABLE_IOT_LOGGING mitigation restores (ERROR, WARN, INFO, DEBUG).
	// Default: INFO, which logs the connects and disconnects the Control Center counts.
	LoggingLevel string
	// DeviceThreshold is how many authorization failures, or duplicate client id events, one
	// device may cause per 5 minutes before it is quarantined (at least 1); the security alarms
	// use the same threshold, so any offending device fires them. Default: 5
	// (DefaultDeviceThreshold).
	DeviceThreshold *int
	// DeactivateCertificates makes the quarantine function also set the offending
	// certificates INACTIVE (only the certificate that misbehaved, never the thing's others;
	// never a claim certificate). Default: false (the group's deny-all policy already cuts
	// them off, and an inactive certificate needs an operator to reactivate).
	DeactivateCertificates bool
	// QuarantineBudgetTable holds the quarantine function's count of automated actions per
	// hour (one item per hour, partition contract.BudgetPartition; keys pk and sk, TTL
	// attribute expiresAt, like the platform's device state table). Required.
	QuarantineBudgetTable awsdynamodb.ITable
	// QuarantineCap is how many automated actions (things quarantined, certificates
	// deactivated) the quarantine function may take per hour; beyond it, it only notifies.
	// 0 makes every class notify-only. Default: 10 (contract.DefaultQuarantineCap).
	QuarantineCap *int
	// ClaimPolicyName is the fleet provisioning claim certificates' IoT policy: every
	// certificate it is attached to is notified about, never acted on. Default: - none
	// (provisioning by claim is off).
	ClaimPolicyName string
	// ClaimCertificateIDs are claim certificate ids known in advance, treated the same way.
	// Default: none.
	ClaimCertificateIDs []string
	// Detect creates a Device Defender Detect security profile per device class. Detect is
	// closed to new customers since 31 August 2026, and creating a profile fails in an account
	// without it. Default: false.
	Detect bool
	// PublisherPath is the IAM path of the roles that publish to the alert topic (the
	// NotificationRole, the PublishFindingRole and the quarantine function's role), for a topic
	// policy that admits publishers by path. Default: - the roles' default path ("/").
	PublisherPath string
	// ClassGroupArns are the per-class thing groups' ARNs (class id -> ARN, may be tokens) the
	// Detect profiles target. Required when Detect is true.
	ClassGroupArns map[string]string
	// Behaviors are the Detect thresholds. Default: DefaultBehaviors().
	Behaviors *Behaviors
}

// Behaviors are a Detect security profile's thresholds, each per DurationSeconds.
type Behaviors struct {
	AuthorizationFailures int
	MessagesSent          int
	MessagesReceived      int
	ConnectionAttempts    int
	Disconnects           int
	// DurationSeconds is 300, 600, 900, 1800 or 3600.
	DurationSeconds int
}

// DefaultBehaviors suit devices that report every few seconds at most and rarely reconnect.
func DefaultBehaviors() Behaviors {
	return Behaviors{AuthorizationFailures: 5, MessagesSent: 300, MessagesReceived: 100, ConnectionAttempts: 10, Disconnects: 10, DurationSeconds: 300}
}

// DefaultDeviceThreshold is Props.DeviceThreshold's default.
const DefaultDeviceThreshold = 5

// Mitigations are the account's mitigation actions.
type Mitigations struct {
	// DeactivateCertificate is UPDATE_DEVICE_CERTIFICATE (DEACTIVATE).
	DeactivateCertificate awsiot.CfnMitigationAction
	// Quarantine is ADD_THINGS_TO_THING_GROUP (the quarantine group, overriding dynamic groups).
	Quarantine awsiot.CfnMitigationAction
	// EnableLogging is ENABLE_IOT_LOGGING.
	EnableLogging awsiot.CfnMitigationAction
	// PublishFinding is PUBLISH_FINDING_TO_SNS (the alert topic).
	PublishFinding awsiot.CfnMitigationAction
}

// ActionNames are the mitigation actions' names, as the audit function reads them from its
// environment (contract.EnvAction...).
type ActionNames struct {
	DeactivateCertificate, Quarantine, EnableLogging, PublishFinding string
}

// Defender is the platform's Device Defender.
type Defender struct {
	constructs.Construct
	// AuditConfiguration enables all 17 checks (child id "Resource"); nil with
	// Props.ExistingAuditConfiguration.
	AuditConfiguration awsiot.CfnAccountAuditConfiguration
	// AuditRole lets Device Defender read the account's configuration.
	AuditRole awsiam.Role
	// NotificationRole lets Device Defender publish audit notifications and Detect alerts to
	// the alert topic; PublishFindingRole lets the PUBLISH_FINDING_TO_SNS mitigation publish
	// there.
	NotificationRole, PublishFindingRole awsiam.Role
	// DailyAudit runs the critical checks every day; WeeklyAudit every schedulable check.
	DailyAudit, WeeklyAudit awsiot.CfnScheduledAudit
	// Mitigations are the mitigation actions; ActionNames their names as the audit function
	// reads them.
	Mitigations Mitigations
	ActionNames ActionNames
	// AuditRemediation starts mitigation tasks for audit findings (lambdas/remediation/audit).
	// Alarm on it like any asynchronous function (its Failures queue included).
	AuditRemediation *golambda.Function
	// Quarantine contains the certificates behind confirmed security alarms and Detect
	// violations (lambdas/remediation/quarantine). Alarm on it like AuditRemediation.
	Quarantine *golambda.Function
	// MetricFilters turn IoT log entries into the contract.MetricNamespace fleet totals
	// (Detections). They have no dimensions: every value in a log entry that could be one is
	// chosen or influenced by the client, and the quarantine function finds the principals
	// with Logs Insights.
	MetricFilters []awslogs.MetricFilter
	// SecurityProfiles are the Detect profiles, one per class (empty unless Props.Detect).
	SecurityProfiles []awsiot.CfnSecurityProfile
	// DeadLetters receives alert-topic deliveries to the remediation functions that SNS could
	// not make; alarm on it as soon as it holds a message.
	DeadLetters *securestore.Queue

	namePrefix string
}

var (
	namePattern = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,90}$`)
	// thingTypePrefixPattern is a fleet name and stage joined by "_" (fleetspec RulePrefix).
	thingTypePrefixPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,80}$`)
	days                   = map[string]bool{"SUN": true, "MON": true, "TUE": true, "WED": true, "THU": true, "FRI": true, "SAT": true}
	logLevels              = map[string]bool{"ERROR": true, "WARN": true, "INFO": true, "DEBUG": true}
	durations              = map[int]bool{300: true, 600: true, 900: true, 1800: true, 3600: true}
	certificateIDPattern   = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// New builds Device Defender. Props errors are reported at synth time with the construct's
// path, all at once; the Defender is then built from placeholder values, so every field but
// AuditConfiguration (see Props.ExistingAuditConfiguration) is set either way.
func New(scope constructs.Construct, id string, props *Props) *Defender {
	this := constructs.NewConstruct(scope, jsii.String(id))
	p, errs := validate(props)
	defer func() { errs.Attach(this) }()
	p = placeholders(this, p)
	d := &Defender{Construct: this, namePrefix: p.NamePrefix}
	// Both remediation functions read the same runtime copy of the fleet.
	fleet, err := runtimeFleet(p.Fleet)
	if err != nil {
		if props != nil && props.Fleet != nil {
			errs.Addf("defender: fleet runtime copy: %v", err)
		}
		fleet = []byte("{}")
	}
	d.audit(p)
	d.mitigations(p)
	d.auditRemediation(p, fleet)
	d.detection(p, fleet)
	if p.Detect {
		d.securityProfiles(p)
	}
	if p.PublisherPath != "" {
		for _, r := range []awsiam.Role{d.NotificationRole, d.PublishFindingRole, d.Quarantine.Role} {
			r.Node().DefaultChild().(awscdk.CfnResource).AddPropertyOverride(jsii.String("Path"), jsii.String(p.PublisherPath))
		}
	}
	return d
}

// runtimeFleet is the fleet copy the remediation functions read: classes, without the declared
// things, so their assets name no thing and do not change when things are added to the fleet.
func runtimeFleet(f *fleetspec.Fleet) ([]byte, error) {
	c := *f
	c.Things = nil
	return c.RuntimeJSON()
}

// Placeholders for required props that are missing, so that a Defender with props errors is
// still built whole (synth stops with the errors; nothing is deployed).
const (
	placeholderRegion    = "us-east-1"
	placeholderAccount   = "000000000000"
	placeholderPrefix    = "invalid"
	placeholderGroupName = "invalid_quarantine"
)

// placeholders fills what validate reported missing or invalid.
func placeholders(scope constructs.Construct, p Props) Props {
	arn := func(service, resource string) *string {
		return jsii.String("arn:aws:" + service + ":" + placeholderRegion + ":" + placeholderAccount + ":" + resource)
	}
	if p.AlertTopic == nil {
		p.AlertTopic = awssns.Topic_FromTopicArn(scope, jsii.String("MissingAlertTopic"), arn("sns", "missing-alert-topic"))
	}
	if p.EncryptionKey == nil {
		p.EncryptionKey = awskms.Key_FromKeyArn(scope, jsii.String("MissingEncryptionKey"), arn("kms", "key/00000000-0000-0000-0000-000000000000"))
	}
	if p.Fleet == nil {
		p.Fleet = &fleetspec.Fleet{}
	}
	if p.IoTLogs == nil {
		p.IoTLogs = awslogs.LogGroup_FromLogGroupName(scope, jsii.String("MissingIoTLogs"), jsii.String("AWSIotLogsV2"))
	}
	if p.QuarantineBudgetTable == nil {
		p.QuarantineBudgetTable = awsdynamodb.Table_FromTableArn(scope, jsii.String("MissingBudgetTable"), arn("dynamodb", "table/missing"))
	}
	if !namePattern.MatchString(p.NamePrefix) {
		p.NamePrefix = placeholderPrefix
	}
	if !thingTypePrefixPattern.MatchString(p.ThingTypePrefix) {
		p.ThingTypePrefix = placeholderPrefix
	}
	if p.QuarantineGroupName == "" || p.QuarantineGroupArn == "" {
		p.QuarantineGroupName = placeholderGroupName
		p.QuarantineGroupArn = *arn("iot", "thinggroup/"+placeholderGroupName)
	}
	var alarms []awscloudwatch.IAlarm
	for _, a := range p.SecurityAlarms {
		if a != nil {
			alarms = append(alarms, a)
		}
	}
	p.SecurityAlarms = alarms
	if p.Detect {
		groups := map[string]string{}
		for _, c := range p.Fleet.Classes {
			groups[c.ID] = p.ClassGroupArns[c.ID]
			if groups[c.ID] == "" {
				groups[c.ID] = *arn("iot", "thinggroup/"+placeholderPrefix+"_"+c.ID)
			}
		}
		p.ClassGroupArns = groups
	}
	if p.ClaimPolicyName != "" && !namePattern.MatchString(p.ClaimPolicyName) {
		p.ClaimPolicyName = placeholderPrefix
	}
	var claims []string
	for _, id := range p.ClaimCertificateIDs {
		if certificateIDPattern.MatchString(id) {
			claims = append(claims, id)
		}
	}
	p.ClaimCertificateIDs = claims
	return p
}

// defaults fills the optional props a caller left unset; it never reports errors.
func defaults(props *Props) Props {
	p := Props{}
	if props != nil {
		p = *props
	}
	if p.ThingTypePrefix == "" {
		p.ThingTypePrefix = p.NamePrefix
	}
	if p.QuarantineCap == nil {
		p.QuarantineCap = intp(contract.DefaultQuarantineCap)
	}
	if p.CertificateAgeDays == nil {
		p.CertificateAgeDays = intp(DefaultCertificateAgeDays)
	}
	if p.WeeklyAuditDay == "" {
		p.WeeklyAuditDay = "SUN"
	}
	if p.LoggingLevel == "" {
		p.LoggingLevel = "INFO"
	}
	if p.DeviceThreshold == nil {
		p.DeviceThreshold = intp(DefaultDeviceThreshold)
	}
	if p.Behaviors == nil {
		b := DefaultBehaviors()
		p.Behaviors = &b
	}
	return p
}

// validate checks props and returns them with defaults; invalid optional values are replaced
// by their defaults after being reported.
func validate(props *Props) (Props, propcheck.Errors) {
	p := defaults(props)
	var errs propcheck.Errors
	if p.AlertTopic == nil {
		errs.Addf("defender: AlertTopic is required: audit findings and alarms must reach someone")
	}
	if p.EncryptionKey == nil {
		errs.Addf("defender: EncryptionKey is required for the remediation functions")
	}
	if p.Fleet == nil {
		errs.Addf("defender: Fleet is required: the remediation functions act only on things of the fleet's classes")
	}
	if !namePattern.MatchString(p.NamePrefix) {
		errs.Addf("defender: NamePrefix %q must be 1-90 of [a-zA-Z0-9_-] (it prefixes account-wide names)", p.NamePrefix)
	}
	if !thingTypePrefixPattern.MatchString(p.ThingTypePrefix) {
		errs.Addf("defender: ThingTypePrefix %q must be 1-81 lowercase letters, digits and underscores, starting with a letter (the fleet's rule prefix, e.g. smartcity_dev)", p.ThingTypePrefix)
	}
	if p.QuarantineGroupName == "" || p.QuarantineGroupArn == "" {
		errs.Addf("defender: QuarantineGroupName and QuarantineGroupArn are required")
	}
	if p.IoTLogs == nil {
		errs.Addf("defender: IoTLogs (the AWSIotLogsV2 log group) is required: detection reads it")
	}
	if p.QuarantineBudgetTable == nil {
		errs.Addf("defender: QuarantineBudgetTable is required: it caps automated quarantines per hour")
	}
	if n := len(detections); len(p.SecurityAlarms) != n {
		errs.Addf("defender: SecurityAlarms has %d alarms, want %d: one per Detections(props) (%s)", len(p.SecurityAlarms), n, detectionIDs())
	}
	for i, a := range p.SecurityAlarms {
		if a == nil {
			errs.Addf("defender: SecurityAlarms[%d] is nil", i)
		}
	}
	if *p.QuarantineCap < 0 {
		errs.Addf("defender: QuarantineCap %d must be 0 (notify only) or more", *p.QuarantineCap)
		p.QuarantineCap = intp(contract.DefaultQuarantineCap)
	}
	if p.ClaimPolicyName != "" && !namePattern.MatchString(p.ClaimPolicyName) {
		errs.Addf("defender: ClaimPolicyName %q must be 1-90 of [a-zA-Z0-9_-]", p.ClaimPolicyName)
	}
	for _, id := range p.ClaimCertificateIDs {
		if !certificateIDPattern.MatchString(id) {
			errs.Addf("defender: ClaimCertificateIDs: %q is not a certificate id (64 lowercase hex digits)", id)
		}
	}
	if c := *p.CertificateAgeDays; c < MinCertificateAgeDays || c > MaxCertificateAgeDays {
		errs.Addf("defender: CertificateAgeDays %d must be between %d and %d", c, MinCertificateAgeDays, MaxCertificateAgeDays)
		p.CertificateAgeDays = intp(DefaultCertificateAgeDays)
	}
	if !days[p.WeeklyAuditDay] {
		errs.Addf("defender: WeeklyAuditDay %q must be SUN, MON, TUE, WED, THU, FRI or SAT", p.WeeklyAuditDay)
		p.WeeklyAuditDay = "SUN"
	}
	if !logLevels[p.LoggingLevel] {
		errs.Addf("defender: LoggingLevel %q must be ERROR, WARN, INFO or DEBUG (the mitigation cannot disable logging)", p.LoggingLevel)
		p.LoggingLevel = "INFO"
	}
	if *p.DeviceThreshold < 1 {
		errs.Addf("defender: DeviceThreshold %d must be at least 1", *p.DeviceThreshold)
		p.DeviceThreshold = intp(DefaultDeviceThreshold)
	}
	if p.Detect {
		b := *p.Behaviors
		n := len(errs)
		if !durations[b.DurationSeconds] {
			errs.Addf("defender: Behaviors.DurationSeconds %d must be 300, 600, 900, 1800 or 3600", b.DurationSeconds)
		}
		for _, v := range []struct {
			name  string
			value int
		}{{"AuthorizationFailures", b.AuthorizationFailures}, {"MessagesSent", b.MessagesSent}, {"MessagesReceived", b.MessagesReceived},
			{"ConnectionAttempts", b.ConnectionAttempts}, {"Disconnects", b.Disconnects}} {
			if v.value < 1 {
				errs.Addf("defender: Behaviors.%s %d must be at least 1", v.name, v.value)
			}
		}
		if len(errs) > n {
			d := DefaultBehaviors()
			p.Behaviors = &d
		}
		if p.Fleet != nil {
			for _, c := range p.Fleet.Classes {
				if p.ClassGroupArns[c.ID] == "" {
					errs.Addf("defender: ClassGroupArns has no group ARN for class %q; Detect profiles target the class groups", c.ID)
				}
			}
		}
	}
	return p, errs
}

func intp(v int) *int { return &v }

// iotPrincipal is AWS IoT acting for this account only (confused-deputy protection).
func iotPrincipal(scope constructs.Construct) awsiam.IPrincipal {
	return awsiam.NewServicePrincipal(jsii.String("iot.amazonaws.com"), &awsiam.ServicePrincipalOpts{
		Conditions: &map[string]any{"StringEquals": map[string]any{"aws:SourceAccount": awscdk.Stack_Of(scope).Account()}},
	})
}

func (d *Defender) role(id, description string) awsiam.Role {
	return awsiam.NewRole(d.Construct, jsii.String(id), &awsiam.RoleProps{
		AssumedBy:   iotPrincipal(d.Construct),
		Description: jsii.String(description),
	})
}

// arn builds an IoT resource ARN in this stack's partition, region and account.
func (d *Defender) arn(resource string) *string {
	return awscdk.Stack_Of(d.Construct).FormatArn(&awscdk.ArnComponents{
		Service: jsii.String("iot"), Resource: jsii.String(resource), ResourceName: jsii.String("*"),
		ArnFormat: awscdk.ArnFormat_SLASH_RESOURCE_NAME,
	})
}

func (d *Defender) audit(p Props) {
	d.AuditRole = awsiam.NewRole(d.Construct, jsii.String("AuditRole"), &awsiam.RoleProps{
		AssumedBy:   iotPrincipal(d.Construct),
		Description: jsii.String("Device Defender audit: reads the account's IoT, IAM and Cognito configuration (AWS-documented managed policy)"),
		// AWS documents this policy for the audit role and extends it when checks are added;
		// it only reads.
		ManagedPolicies: &[]awsiam.IManagedPolicy{awsiam.ManagedPolicy_FromAwsManagedPolicyName(jsii.String("service-role/AWSIoTDeviceDefenderAudit"))},
	})
	d.NotificationRole = d.role("NotificationRole", "Device Defender: publishes audit notifications and Detect alerts to the alert topic")
	p.AlertTopic.GrantPublish(d.NotificationRole)

	// Keys in the property's JavaScript spelling (the CloudFormation key with a lowercase first
	// letter): CDK renders those and drops unknown ones.
	checks := map[string]any{}
	for _, c := range Checks {
		cfg := &awsiot.CfnAccountAuditConfiguration_AuditCheckConfigurationProperty{Enabled: jsii.Bool(true)}
		if c.Name == "DEVICE_CERTIFICATE_AGE_CHECK" {
			checks[jsName(c.Key)] = &awsiot.CfnAccountAuditConfiguration_DeviceCertAgeAuditCheckConfigurationProperty{
				Enabled: jsii.Bool(true),
				Configuration: &awsiot.CfnAccountAuditConfiguration_CertAgeCheckCustomConfigurationProperty{
					CertAgeThresholdInDays: jsii.String(strconv.Itoa(*p.CertificateAgeDays)),
				},
			}
			continue
		}
		checks[jsName(c.Key)] = cfg
	}
	if p.ExistingAuditConfiguration {
		d.scheduledAudits(p)
		return
	}
	d.AuditConfiguration = awsiot.NewCfnAccountAuditConfiguration(d.Construct, jsii.String("Resource"), &awsiot.CfnAccountAuditConfigurationProps{
		AccountId:                awscdk.Stack_Of(d.Construct).Account(),
		RoleArn:                  d.AuditRole.RoleArn(),
		AuditCheckConfigurations: checks,
		AuditNotificationTargetConfigurations: &awsiot.CfnAccountAuditConfiguration_AuditNotificationTargetConfigurationsProperty{
			Sns: &awsiot.CfnAccountAuditConfiguration_AuditNotificationTargetProperty{
				Enabled:   jsii.Bool(true),
				TargetArn: p.AlertTopic.TopicArn(),
				RoleArn:   d.NotificationRole.RoleArn(),
			},
		},
	})
	// The roles' policies must exist before Device Defender validates them.
	d.AuditConfiguration.Node().AddDependency(d.AuditRole, d.NotificationRole)
	d.scheduledAudits(p)
}

// scheduledAudits creates the daily and weekly audits, after the account configuration when
// this stack has it.
func (d *Defender) scheduledAudits(p Props) {
	d.DailyAudit = awsiot.NewCfnScheduledAudit(d.Construct, jsii.String("DailyAudit"), &awsiot.CfnScheduledAuditProps{
		ScheduledAuditName: jsii.String(p.NamePrefix + "_daily_critical"),
		Frequency:          jsii.String("DAILY"),
		TargetCheckNames:   jsii.Strings(DailyChecks()...),
	})
	d.WeeklyAudit = awsiot.NewCfnScheduledAudit(d.Construct, jsii.String("WeeklyAudit"), &awsiot.CfnScheduledAuditProps{
		ScheduledAuditName: jsii.String(p.NamePrefix + "_weekly_all"),
		Frequency:          jsii.String("WEEKLY"),
		DayOfWeek:          jsii.String(p.WeeklyAuditDay),
		TargetCheckNames:   jsii.Strings(WeeklyChecks()...),
	})
	if d.AuditConfiguration == nil {
		return
	}
	// A scheduled audit may name only checks the account configuration enables.
	reason := jsii.String("a scheduled audit may name only checks the account audit configuration enables")
	d.DailyAudit.AddResourceDependency(d.AuditConfiguration, reason)
	d.WeeklyAudit.AddResourceDependency(d.AuditConfiguration, reason)
}

// jsName is a CloudFormation property key as CDK's JavaScript props spell it.
func jsName(key string) string {
	return strings.ToLower(key[:1]) + key[1:]
}

func (d *Defender) mitigations(p Props) {
	action := func(id, name string, role awsiam.Role, params *awsiot.CfnMitigationAction_ActionParamsProperty) awsiot.CfnMitigationAction {
		a := awsiot.NewCfnMitigationAction(d.Construct, jsii.String(id), &awsiot.CfnMitigationActionProps{
			ActionName:   jsii.String(p.NamePrefix + "_" + name),
			RoleArn:      role.RoleArn(),
			ActionParams: params,
		})
		a.Node().AddDependency(role)
		return a
	}

	deactivate := d.role("DeactivateCertificateRole", "Device Defender mitigation: deactivates device certificates")
	deactivate.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: jsii.Strings("iot:UpdateCertificate"), Resources: &[]*string{d.arn("cert")},
	}))
	d.Mitigations.DeactivateCertificate = action("DeactivateCertificateAction", "deactivate_certificate", deactivate,
		&awsiot.CfnMitigationAction_ActionParamsProperty{
			UpdateDeviceCertificateParams: &awsiot.CfnMitigationAction_UpdateDeviceCertificateParamsProperty{Action: jsii.String("DEACTIVATE")},
		})

	quarantine := d.role("QuarantineRole", "Device Defender mitigation: adds things to the quarantine group only")
	quarantine.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: jsii.Strings("iot:AddThingToThingGroup"), Resources: &[]*string{jsii.String(p.QuarantineGroupArn), d.arn("thing")},
	}))
	// Device Defender finds the things of a finding's certificate with ListPrincipalThings,
	// which has no resource-level permissions.
	quarantine.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: jsii.Strings("iot:ListPrincipalThings"), Resources: jsii.Strings("*"),
	}))
	d.Mitigations.Quarantine = action("QuarantineAction", "quarantine", quarantine, &awsiot.CfnMitigationAction_ActionParamsProperty{
		AddThingsToThingGroupParams: &awsiot.CfnMitigationAction_AddThingsToThingGroupParamsProperty{
			ThingGroupNames: &[]*string{jsii.String(p.QuarantineGroupName)},
			// A thing at its group limit must still land in quarantine.
			OverrideDynamicGroups: jsii.Bool(true),
		},
	})

	logging := p.LoggingRole
	if logging == nil {
		r := d.role("LoggingRole", "AWS IoT logging: writes to the AWSIotLogsV2 log group only")
		r.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions: jsii.Strings("logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"),
			// The log group's ARN ends in ":*", which covers its streams.
			Resources: &[]*string{p.IoTLogs.LogGroupArn()},
		}))
		logging = r
	}
	enable := d.role("EnableLoggingRole", "Device Defender mitigation: turns AWS IoT logging back on with the logging role")
	// SetV2LoggingOptions has no resource-level permissions.
	enable.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: jsii.Strings("iot:SetV2LoggingOptions"), Resources: jsii.Strings("*"),
	}))
	enable.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: jsii.Strings("iam:PassRole"), Resources: &[]*string{logging.RoleArn()},
		Conditions: &map[string]any{"StringEquals": map[string]any{"iam:PassedToService": "iot.amazonaws.com"}},
	}))
	d.Mitigations.EnableLogging = action("EnableLoggingAction", "enable_logging", enable, &awsiot.CfnMitigationAction_ActionParamsProperty{
		EnableIoTLoggingParams: &awsiot.CfnMitigationAction_EnableIoTLoggingParamsProperty{
			LogLevel: jsii.String(p.LoggingLevel), RoleArnForLogging: logging.RoleArn(),
		},
	})

	publish := d.role("PublishFindingRole", "Device Defender mitigation: publishes findings to the alert topic")
	d.PublishFindingRole = publish
	p.AlertTopic.GrantPublish(publish)
	d.Mitigations.PublishFinding = action("PublishFindingAction", "publish_finding", publish, &awsiot.CfnMitigationAction_ActionParamsProperty{
		PublishFindingToSnsParams: &awsiot.CfnMitigationAction_PublishFindingToSnsParamsProperty{TopicArn: p.AlertTopic.TopicArn()},
	})

	d.ActionNames = ActionNames{
		DeactivateCertificate: p.NamePrefix + "_deactivate_certificate",
		Quarantine:            p.NamePrefix + "_quarantine",
		EnableLogging:         p.NamePrefix + "_enable_logging",
		PublishFinding:        p.NamePrefix + "_publish_finding",
	}
}

// AuditNotificationFilter selects Device Defender audit notifications among the alert topic's
// messages (alarms and published findings carry no taskType).
func AuditNotificationFilter() map[string][]string {
	return map[string][]string{"taskType": {"SCHEDULED_AUDIT_TASK", "ON_DEMAND_AUDIT_TASK"}}
}

func (d *Defender) auditRemediation(p Props, fleet []byte) {
	fn := golambda.New(d.Construct, "AuditRemediation", &golambda.Props{
		Entry:         "lambdas/remediation/audit",
		Description:   "Smart city platform: starts Device Defender mitigation tasks for audit findings",
		EncryptionKey: p.EncryptionKey,
		Environment: map[string]string{
			contract.EnvFleetFile:                   contract.FleetPath,
			contract.EnvThingTypePrefix:             p.ThingTypePrefix,
			contract.EnvActionDeactivateCertificate: d.ActionNames.DeactivateCertificate,
			contract.EnvActionQuarantine:            d.ActionNames.Quarantine,
			contract.EnvActionEnableLogging:         d.ActionNames.EnableLogging,
			contract.EnvActionPublishFinding:        d.ActionNames.PublishFinding,
		},
		Files:   map[string][]byte{contract.FleetFile: fleet},
		Timeout: 60 * time.Second,
		// Audits finish a few times a day; one at a time keeps mitigation tasks ordered.
		ReservedConcurrency: 2,
		Async:               true,
	})
	// ListAuditFindings and StartAuditMitigationActionsTask have no resource-level
	// permissions (Service Authorization Reference, AWS IoT).
	fn.Role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("iot:ListAuditFindings", "iot:StartAuditMitigationActionsTask"),
		Resources: jsii.Strings("*"),
	}))
	d.grantDescribeThings(fn)
	d.subscribe("AuditNotifications", p.AlertTopic, fn, bodyFilter(AuditNotificationFilter(), nil))
	d.AuditRemediation = fn
}

// subscribe delivers the topic's messages that match filter to fn. It builds the subscription
// and the invoke permission itself because LambdaSubscription names the subscription after the
// topic's construct id, which for a securestore topic ("Resource") collides with the
// function's own resource.
func (d *Defender) subscribe(id string, topic awssns.ITopic, fn *golambda.Function, filter *map[string]awssns.FilterOrPolicy) awssns.Subscription {
	if d.DeadLetters == nil {
		// SNS encrypts what it moves to the queue, so the queue's key must let SNS use it,
		// which the platform key does not.
		key := keys.New(d.Construct, "DeadLetterKey", &keys.Props{
			Alias:       jsii.String("alias/" + strings.ReplaceAll(d.namePrefix, "_", "/") + "/remediation-dead-letters"),
			Description: jsii.String("Encrypts SNS deliveries to the remediation functions that failed"),
			Services:    []keys.Service{keys.ServiceSNS},
		})
		d.DeadLetters = securestore.NewQueue(d.Construct, "RemediationDeadLetters", &securestore.QueueProps{EncryptionKey: key.Resource})
	}
	fn.Resource.AddPermission(jsii.String("InvokedBy"+id), &awslambda.Permission{
		Principal: awsiam.NewServicePrincipal(jsii.String("sns.amazonaws.com"), nil),
		SourceArn: topic.TopicArn(),
	})
	return awssns.NewSubscription(d.Construct, jsii.String(id), &awssns.SubscriptionProps{
		Topic:                       topic,
		Protocol:                    awssns.SubscriptionProtocol_LAMBDA,
		Endpoint:                    fn.Resource.FunctionArn(),
		FilterPolicyWithMessageBody: filter,
		// Deliveries SNS gave up on (the function throttled or deleted) wait here.
		DeadLetterQueue: d.DeadLetters.Resource,
	})
}

// bodyFilter builds an SNS message-body filter policy: top-level keys and, under nested, one
// level of nested keys.
func bodyFilter(top map[string][]string, nested map[string]map[string][]string) *map[string]awssns.FilterOrPolicy {
	out := map[string]awssns.FilterOrPolicy{}
	str := func(values []string) awssns.FilterOrPolicy {
		return awssns.FilterOrPolicy_Filter(awssns.SubscriptionFilter_StringFilter(&awssns.StringConditions{Allowlist: jsii.Strings(values...)}))
	}
	for k, v := range top {
		out[k] = str(v)
	}
	for k, inner := range nested {
		m := map[string]awssns.FilterOrPolicy{}
		for ik, v := range inner {
			m[ik] = str(v)
		}
		out[k] = awssns.FilterOrPolicy_Policy(&m)
	}
	return &out
}

// SecurityAlarmFilter selects the detection alarms' ALARM notifications among the alert
// topic's messages.
func SecurityAlarmFilter() (map[string][]string, map[string]map[string][]string) {
	return map[string][]string{"NewStateValue": {"ALARM"}},
		map[string]map[string][]string{"Trigger": {"Namespace": {contract.MetricNamespace}}}
}

// DetectViolationFilter selects Device Defender Detect violations that went into alarm.
func DetectViolationFilter() map[string][]string {
	return map[string][]string{"violationEventType": {contract.ViolationInAlarm}}
}

// QuarantineFilterWithDetect is the quarantine subscription's message-body filter policy when
// Detect is on: the security alarms' ALARM notifications, or Detect violations in alarm.
func QuarantineFilterWithDetect() map[string]any {
	top, nested := SecurityAlarmFilter()
	alarms := map[string]any{}
	for k, v := range top {
		alarms[k] = v
	}
	for k, inner := range nested {
		alarms[k] = inner
	}
	violations := map[string]any{}
	for k, v := range DetectViolationFilter() {
		violations[k] = v
	}
	return map[string]any{"$or": []any{alarms, violations}}
}

// detected is one detection metric and what its filter pattern finds.
type detected struct {
	id, metric, pattern, what, look string
}

var detections = []detected{
	{"AuthorizationFailures", contract.MetricAuthorizationFailures, contract.FilterPatternAuthorizationFailures,
		"devices failed authorization (connect, publish or subscribe outside their own topics)",
		"AWSIotLogsV2 entries with status Failure and reason AUTHORIZATION_FAILURE"},
	{"DuplicateClientIds", contract.MetricDuplicateClientIDs, contract.FilterPatternDuplicateClientIDs,
		"devices were disconnected because another client connected with the same client id (a cloned identity?)",
		"AWSIotLogsV2 entries with reason DUPLICATE_CLIENT_ID"},
}

func detectionIDs() string {
	var ids []string
	for _, det := range detections {
		ids = append(ids, det.id)
	}
	return strings.Join(ids, ", ")
}

// detectionPeriod is the security alarms' period; DeviceThreshold counts per period.
const detectionPeriod = 5 * time.Minute

// Detection is one behaviour the quarantine function acts on: a fleet total the metric filters
// count in the AWS IoT logs, and the alarm the caller must build on it (Props.SecurityAlarms).
type Detection struct {
	// ID is a CamelCase label, "AuthorizationFailures" or "DuplicateClientIds"; the platform
	// names the alarm "Security-"+ID.
	ID string
	// Metric is the fleet total: a plain metric (Sum over 5 minutes, no label, no math), since
	// the quarantine function confirms only a plain metric alarm in contract.MetricNamespace.
	Metric awscloudwatch.IMetric
	// Threshold is Props.DeviceThreshold: the alarm fires at or above it in one period.
	Threshold float64
	// Description says what the alarm means and what the quarantine function does about it.
	Description string
}

// Detections are the security alarms a Defender built from props needs, in the order
// Props.SecurityAlarms must list them. Build each as a count alarm at or above Threshold in
// one period, missing data not breaching, notifying the alert topic (monitoring.ThresholdAlarm).
func Detections(props *Props) []Detection {
	p := defaults(props)
	threshold := DefaultDeviceThreshold
	if *p.DeviceThreshold >= 1 {
		threshold = *p.DeviceThreshold
	}
	quarantineCap := contract.DefaultQuarantineCap
	if *p.QuarantineCap >= 0 {
		quarantineCap = *p.QuarantineCap
	}
	var out []Detection
	for _, det := range detections {
		out = append(out, Detection{
			ID: det.id,
			// No label: a labelled metric makes the alarm a metric-math one, which the
			// quarantine function refuses (it confirms a plain Sum alarm on this metric).
			Metric: awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
				Namespace: jsii.String(contract.MetricNamespace), MetricName: jsii.String(det.metric),
				Statistic: jsii.String("Sum"), Period: awscdk.Duration_Minutes(jsii.Number(detectionPeriod.Minutes())),
			}),
			Threshold: float64(threshold),
			Description: fmt.Sprintf("%d or more %s in 5 minutes. The quarantine function confirms this alarm with CloudWatch, finds the "+
				"certificates (principalId) with %d or more such events in %s with Logs Insights, and quarantines the things "+
				"attached to each (classes set to notify-only, the claim certificate and certificates with no thing are only "+
				"reported; at most %d automated actions an hour) and reports what it did to this topic. A log entry 'alarm not "+
				"confirmed by its metric' means the alarm's metric did not cross the threshold: a forged notification.",
				threshold, det.what, threshold, det.look, quarantineCap),
		})
	}
	return out
}

func (d *Defender) detection(p Props, fleet []byte) {
	for _, det := range detections {
		// No dimensions (see MetricFilters). The construct id keeps the fleet filter's
		// original name, so an update does not replace it.
		d.MetricFilters = append(d.MetricFilters, awslogs.NewMetricFilter(d.Construct, jsii.String(det.id+"Fleet"), &awslogs.MetricFilterProps{
			LogGroup:        p.IoTLogs,
			FilterPattern:   awslogs.FilterPattern_Literal(jsii.String(det.pattern)),
			MetricNamespace: jsii.String(contract.MetricNamespace),
			MetricName:      jsii.String(det.metric),
			MetricValue:     jsii.String("1"),
			DefaultValue:    jsii.Number(0),
			Unit:            awscloudwatch.Unit_COUNT,
		}))
	}
	var alarmNames []string
	for _, a := range p.SecurityAlarms {
		alarmNames = append(alarmNames, *a.AlarmName())
	}

	stack := awscdk.Stack_Of(d.Construct)
	env := map[string]string{
		contract.EnvFleetFile:              contract.FleetPath,
		contract.EnvThingTypePrefix:        p.ThingTypePrefix,
		contract.EnvQuarantineGroup:        p.QuarantineGroupName,
		contract.EnvDeactivateCertificates: strconv.FormatBool(p.DeactivateCertificates),
		contract.EnvDeviceThreshold:        strconv.Itoa(*p.DeviceThreshold),
		contract.EnvSecurityAlarms:         strings.Join(alarmNames, ","),
		contract.EnvIoTLogGroup:            *p.IoTLogs.LogGroupName(),
		contract.EnvCertificateARNPrefix:   "arn:" + *stack.Partition() + ":iot:" + *stack.Region() + ":" + *stack.Account() + ":cert/",
		contract.EnvAlertTopicARN:          *p.AlertTopic.TopicArn(),
		contract.EnvBudgetTable:            *p.QuarantineBudgetTable.TableName(),
		contract.EnvQuarantineCap:          strconv.Itoa(*p.QuarantineCap),
	}
	if p.ClaimPolicyName != "" {
		env[contract.EnvClaimPolicy] = p.ClaimPolicyName
	}
	if len(p.ClaimCertificateIDs) > 0 {
		env[contract.EnvClaimCertificateIDs] = strings.Join(p.ClaimCertificateIDs, ",")
	}
	fn := golambda.New(d.Construct, "Quarantine", &golambda.Props{
		Entry:         "lambdas/remediation/quarantine",
		Description:   "Smart city platform: quarantines the things of the certificates behind confirmed security alarms",
		EncryptionKey: p.EncryptionKey,
		Environment:   env,
		Files:         map[string][]byte{contract.FleetFile: fleet},
		// A Logs Insights query takes seconds; a minute leaves room for a hundred principals.
		Timeout:             60 * time.Second,
		ReservedConcurrency: 2,
		Async:               true,
	})
	d.grantQuarantine(p, fn)
	if !p.Detect {
		top, nested := SecurityAlarmFilter()
		d.subscribe("SecurityAlarms", p.AlertTopic, fn, bodyFilter(top, nested))
	} else {
		// The security profiles alert the same topic; the function quarantines the thing of
		// every violation that goes into alarm. SNS filter policies express "either" with
		// $or, which CDK's filter types cannot, so the whole policy is set on the L1 resource.
		sub := d.subscribe("SecurityAlarms", p.AlertTopic, fn, nil)
		cfn := sub.Node().DefaultChild().(awssns.CfnSubscription)
		cfn.AddPropertyOverride(jsii.String("FilterPolicy"), QuarantineFilterWithDetect())
		cfn.AddPropertyOverride(jsii.String("FilterPolicyScope"), "MessageBody")
	}
	d.Quarantine = fn
}

// grantQuarantine gives the quarantine function exactly what its decision and its actions
// need: read the security alarms and their metric, query the IoT log group, list a
// certificate's things and the claim policy's targets, quarantine a thing, count its actions
// in the budget table, and report to the alert topic.
func (d *Defender) grantQuarantine(p Props, fn *golambda.Function) {
	add := func(actions []string, resources ...*string) {
		fn.Role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{Actions: jsii.Strings(actions...), Resources: &resources}))
	}
	var alarms []*string
	for _, a := range p.SecurityAlarms {
		alarms = append(alarms, a.AlarmArn())
	}
	// DescribeAlarms is scoped to the two security alarms. Whether CloudWatch authorizes it per
	// alarm is not confirmed in the stored Service Authorization Reference; if it does not, the
	// call is refused and the notification is retried and dead-lettered (alarmed), never acted
	// on unconfirmed. Without alarms (a props error) there is nothing to grant.
	if len(alarms) > 0 {
		add([]string{"cloudwatch:DescribeAlarms"}, alarms...)
	}
	// GetMetricData and GetQueryResults have no resource-level permissions.
	add([]string{"cloudwatch:GetMetricData", "logs:GetQueryResults"}, jsii.String("*"))
	// StartQuery on the one log group: the IoT logs, nothing else. The log-group resource
	// type's ARN (Service Authorization Reference, CloudWatch Logs) has no ":*" suffix, unlike
	// CDK's LogGroupArn; built from the group's name, so the Fleet stack exports nothing new.
	add([]string{"logs:StartQuery"}, awscdk.Stack_Of(d.Construct).FormatArn(&awscdk.ArnComponents{
		Service: jsii.String("logs"), Resource: jsii.String("log-group"), ResourceName: p.IoTLogs.LogGroupName(),
		ArnFormat: awscdk.ArnFormat_COLON_RESOURCE_NAME,
	}))
	// ListPrincipalThings has no resource-level permissions.
	add([]string{"iot:ListPrincipalThings"}, jsii.String("*"))
	if p.ClaimPolicyName != "" {
		add([]string{"iot:ListTargetsForPolicy"}, awscdk.Stack_Of(d.Construct).FormatArn(&awscdk.ArnComponents{
			Service: jsii.String("iot"), Resource: jsii.String("policy"), ResourceName: jsii.String(p.ClaimPolicyName),
			ArnFormat: awscdk.ArnFormat_SLASH_RESOURCE_NAME,
		}))
	}
	if p.Detect {
		// ListActiveViolations takes an optional security profile and thing (Service
		// Authorization Reference, AWS IoT); the profiles are this stage's.
		add([]string{"iot:ListActiveViolations"}, d.arn("thing"), awscdk.Stack_Of(d.Construct).FormatArn(&awscdk.ArnComponents{
			Service: jsii.String("iot"), Resource: jsii.String("securityprofile"), ResourceName: jsii.String(p.NamePrefix + "_*"),
			ArnFormat: awscdk.ArnFormat_SLASH_RESOURCE_NAME,
		}))
	}
	add([]string{"iot:AddThingToThingGroup"}, jsii.String(p.QuarantineGroupArn), d.arn("thing"))
	d.grantDescribeThings(fn)
	if p.DeactivateCertificates {
		add([]string{"iot:UpdateCertificate"}, d.arn("cert"))
	}
	// One conditional UpdateItem per action on the budget item; no read, put or delete of
	// device state.
	p.QuarantineBudgetTable.Grant(fn.Role, jsii.String("dynamodb:UpdateItem"))
	if k := p.QuarantineBudgetTable.EncryptionKey(); k != nil {
		k.GrantEncryptDecrypt(fn.Role)
	}
	p.AlertTopic.GrantPublish(fn.Role)
}

// grantDescribeThings lets a remediation function read any thing's type and attributes: it acts
// only on things whose registered type is one of the fleet's classes, and those include things
// provisioned at run time, which no ARN can name in advance.
func (d *Defender) grantDescribeThings(fn *golambda.Function) {
	fn.Role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: jsii.Strings("iot:DescribeThing"), Resources: &[]*string{d.arn("thing")},
	}))
}

// SecurityMetrics are the fleet totals the detection counts, for dashboards.
func (d *Defender) SecurityMetrics() []awscloudwatch.IMetric {
	var out []awscloudwatch.IMetric
	for _, det := range detections {
		out = append(out, awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace: jsii.String(contract.MetricNamespace), MetricName: jsii.String(det.metric),
			Statistic: jsii.String("Sum"), Period: awscdk.Duration_Minutes(jsii.Number(detectionPeriod.Minutes())), Label: jsii.String(det.metric),
		}))
	}
	return out
}

func (d *Defender) securityProfiles(p Props) {
	b := *p.Behaviors
	count := func(v int) *awsiot.CfnSecurityProfile_MetricValueProperty {
		return &awsiot.CfnSecurityProfile_MetricValueProperty{Count: jsii.String(strconv.Itoa(v))}
	}
	behavior := func(name, metric string, v int, withDuration bool) *awsiot.CfnSecurityProfile_BehaviorProperty {
		c := &awsiot.CfnSecurityProfile_BehaviorCriteriaProperty{
			ComparisonOperator:           jsii.String("greater-than"),
			Value:                        count(v),
			ConsecutiveDatapointsToAlarm: jsii.Number(1),
			ConsecutiveDatapointsToClear: jsii.Number(1),
		}
		if withDuration {
			c.DurationSeconds = jsii.Number(float64(b.DurationSeconds))
		}
		return &awsiot.CfnSecurityProfile_BehaviorProperty{Name: jsii.String(name), Metric: jsii.String(metric), Criteria: c}
	}
	for _, c := range p.Fleet.Classes {
		behaviors := []any{
			behavior("authorization-failures", "aws:num-authorization-failures", b.AuthorizationFailures, true),
			behavior("message-size", "aws:message-byte-size", c.MessageLimit(), false),
			behavior("messages-sent", "aws:num-messages-sent", b.MessagesSent, true),
			behavior("messages-received", "aws:num-messages-received", b.MessagesReceived, true),
			behavior("connection-attempts", "aws:num-connection-attempts", b.ConnectionAttempts, true),
			behavior("disconnects", "aws:num-disconnects", b.Disconnects, true),
		}
		sp := awsiot.NewCfnSecurityProfile(d.Construct, jsii.String("Detect-"+c.ID), &awsiot.CfnSecurityProfileProps{
			SecurityProfileName: jsii.String(p.NamePrefix + "_" + c.ID),
			SecurityProfileDescription: jsii.String("Expected behaviour of " + c.Name + " devices; violations go to the alert topic, " +
				"where the " + d.ActionNames.Quarantine + " mitigation action (ADD_THINGS_TO_THING_GROUP) can be applied to them"),
			Behaviors:  &behaviors,
			TargetArns: &[]*string{jsii.String(p.ClassGroupArns[c.ID])},
			AlertTargets: map[string]any{
				"SNS": &awsiot.CfnSecurityProfile_AlertTargetProperty{AlertTargetArn: p.AlertTopic.TopicArn(), RoleArn: d.NotificationRole.RoleArn()},
			},
		})
		sp.Node().AddDependency(d.NotificationRole)
		d.SecurityProfiles = append(d.SecurityProfiles, sp)
	}
}
