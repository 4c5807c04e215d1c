package fleet

import (
	"fmt"
	"sort"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiot"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/secure-smart-city/platform/internal/propcheck"
)

// Level is an AWS IoT log level.
type Level string

// Log levels, most verbose first.
const (
	LevelDebug    Level = "DEBUG"
	LevelInfo     Level = "INFO"
	LevelWarn     Level = "WARN"
	LevelError    Level = "ERROR"
	LevelDisabled Level = "DISABLED"
)

var levelRank = map[Level]int{LevelDebug: 0, LevelInfo: 1, LevelWarn: 2, LevelError: 3, LevelDisabled: 4}

// LogGroupName is the log group AWS IoT logging v2 writes to; the name is fixed by AWS IoT.
const LogGroupName = "AWSIotLogsV2"

// EventDisconnect is the broker event type whose entries carry a duplicate client id
// (Disconnect entries with reason DUPLICATE_CLIENT_ID, logged at INFO).
const EventDisconnect = "Disconnect"

// LoggingProps configures Logging.
type LoggingProps struct {
	// EncryptionKey encrypts the AWSIotLogsV2 log group. Required.
	EncryptionKey awskms.IKey
	// Level is the account's default log level. Authorization failures fail the operation and
	// are logged at ERROR, so any level but DISABLED keeps them. Default: INFO.
	Level Level
	// EventLevels override the level per event type (Connect, Disconnect, Publish-In, ...).
	// With a default above INFO, EventDisconnect must be INFO or DEBUG here: duplicate client
	// ids appear only in INFO Disconnect entries, and the detection path counts them.
	// Default: - none.
	EventLevels map[string]Level
	// Retention of the log group. Default: one year.
	Retention awslogs.RetentionDays
	// RemovalPolicy of the log group. Default: RETAIN (logs are evidence).
	RemovalPolicy awscdk.RemovalPolicy
	// ExistingAccountLogging leaves out AWS::IoT::Logging (Resource stays nil) for an account
	// that already has v2 logging, which CloudFormation cannot create twice; the account's
	// own setting then decides what is logged. Default: false.
	ExistingAccountLogging bool
}

// Logging turns on AWS IoT logging v2 for the account and region (AWS::IoT::Logging, one per
// account and region) into a pre-created, encrypted AWSIotLogsV2 log group with a retention,
// through a role that may write only to that group.
type Logging struct {
	constructs.Construct
	// LogGroup is AWSIotLogsV2; metric filters for authorization failures and duplicate client
	// ids go on it.
	LogGroup awslogs.LogGroup
	// Role is assumed by AWS IoT to write the logs.
	Role awsiam.Role
	// Resource is the account's logging configuration (child id "Resource").
	Resource awsiot.CfnLogging
}

// NewLogging builds the logging configuration. Props errors are reported at synth time, all at
// once; the configuration is then built from safe stand-ins (an imported placeholder key, INFO
// levels), so LogGroup and Role are never nil.
func NewLogging(scope constructs.Construct, id string, props *LoggingProps) *Logging {
	this := constructs.NewConstruct(scope, jsii.String(id))
	p := LoggingProps{}
	if props != nil {
		p = *props
	}
	if p.Level == "" {
		p.Level = LevelInfo
	}
	if p.Retention == "" {
		p.Retention = awslogs.RetentionDays_ONE_YEAR
	}
	if p.RemovalPolicy == "" {
		p.RemovalPolicy = awscdk.RemovalPolicy_RETAIN
	}
	l := &Logging{Construct: this}
	var errs propcheck.Errors
	if p.EncryptionKey == nil {
		errs.Addf("fleet: logging EncryptionKey is required: IoT logs name devices and addresses")
	}
	for _, msg := range checkLevels(p.Level, p.EventLevels) {
		errs.Addf("%s", msg)
	}
	errs.Attach(this)
	if len(errs) > 0 {
		p = sanitizeLogging(this, p)
	}

	stack := awscdk.Stack_Of(this)
	l.LogGroup = awslogs.NewLogGroup(this, jsii.String("Logs"), &awslogs.LogGroupProps{
		LogGroupName:  jsii.String(LogGroupName),
		EncryptionKey: p.EncryptionKey,
		Retention:     p.Retention,
		RemovalPolicy: p.RemovalPolicy,
	})
	l.Role = awsiam.NewRole(this, jsii.String("Role"), &awsiam.RoleProps{
		// The documented confused-deputy condition (iotTrustConditions cites the page).
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("iot.amazonaws.com"), &awsiam.ServicePrincipalOpts{Conditions: iotTrustConditions(stack)}),
		Description: jsii.String("Lets AWS IoT write its v2 logs to " + LogGroupName + " and nowhere else"),
	})
	// Streams and events in the one group. CreateLogGroup on that exact group can only fail
	// (the group exists); it stays because AWS IoT's documented logging role has it. Not
	// granted: PutRetentionPolicy (the retention is ours), PutMetricFilter, DeleteLogStream,
	// GetLogEvents.
	l.LogGroup.GrantWrite(l.Role)
	l.Role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:     jsii.String("ThePreCreatedGroupOnly"),
		Actions: jsii.Strings("logs:CreateLogGroup"),
		Resources: &[]*string{stack.FormatArn(&awscdk.ArnComponents{
			Service: jsii.String("logs"), Resource: jsii.String("log-group"), ResourceName: jsii.String(LogGroupName),
			ArnFormat: awscdk.ArnFormat_COLON_RESOURCE_NAME,
		})},
	}))

	var events []any
	for _, e := range sortedKeys(p.EventLevels) {
		events = append(events, &awsiot.CfnLogging_EventConfigurationProperty{
			EventType: jsii.String(e), LogLevel: jsii.String(string(p.EventLevels[e])),
		})
	}
	lp := &awsiot.CfnLoggingProps{
		AccountId:       stack.Account(),
		DefaultLogLevel: jsii.String(string(p.Level)),
		RoleArn:         l.Role.RoleArn(),
	}
	if len(events) > 0 {
		lp.EventConfigurations = &events
	}
	if p.ExistingAccountLogging {
		return l
	}
	l.Resource = awsiot.NewCfnLogging(this, jsii.String("Resource"), lp)
	// Logging starts writing at once: the group and the role's permission come first.
	l.Resource.Node().AddDependency(l.LogGroup)
	if pol := l.Role.Node().TryFindChild(jsii.String("DefaultPolicy")); pol != nil {
		l.Resource.Node().AddDependency(pol)
	}
	return l
}

// LoggingAttributes name an IoT logging setup built elsewhere (another stack, or the account's
// baseline), for stacks that only use it: metric filters on the log group, a mitigation that
// turns logging back on with the role.
type LoggingAttributes struct {
	// LogGroupName is the group AWS IoT logs to. Default: LogGroupName (AWSIotLogsV2, the only
	// group AWS IoT logging v2 writes to).
	LogGroupName string
	// RoleArn is the role AWS IoT logs with. Required.
	RoleArn string
}

// ImportedLogging is an IoT logging setup imported with FromLoggingAttributes.
type ImportedLogging struct {
	constructs.Construct
	// LogGroup is the imported log group.
	LogGroup awslogs.ILogGroup
	// Role is the imported logging role (mutable false: grants never change it).
	Role awsiam.IRole
}

// FromLoggingAttributes imports an IoT logging setup. Errors are reported at synth time with
// the construct's path; LogGroup and Role are never nil.
func FromLoggingAttributes(scope constructs.Construct, id string, attrs *LoggingAttributes) *ImportedLogging {
	this := constructs.NewConstruct(scope, jsii.String(id))
	a := LoggingAttributes{}
	if attrs != nil {
		a = *attrs
	}
	if a.LogGroupName == "" {
		a.LogGroupName = LogGroupName
	}
	var errs propcheck.Errors
	if a.RoleArn == "" {
		errs.Addf("fleet: logging RoleArn is required: the role AWS IoT logs with")
		a.RoleArn = *awscdk.Stack_Of(this).FormatArn(&awscdk.ArnComponents{
			Service: jsii.String("iam"), Region: jsii.String(""), Resource: jsii.String("role"), ResourceName: jsii.String("missing-iot-logging-role"),
		})
	}
	errs.Attach(this)
	return &ImportedLogging{
		Construct: this,
		LogGroup:  awslogs.LogGroup_FromLogGroupName(this, jsii.String("Logs"), jsii.String(a.LogGroupName)),
		Role:      awsiam.Role_FromRoleArn(this, jsii.String("Role"), jsii.String(a.RoleArn), &awsiam.FromRoleArnOptions{Mutable: jsii.Bool(false)}),
	}
}

// sanitizeLogging replaces faulty props with safe stand-ins after an error.
func sanitizeLogging(scope constructs.Construct, p LoggingProps) LoggingProps {
	if p.EncryptionKey == nil {
		p.EncryptionKey = awskms.Key_FromKeyArn(scope, jsii.String("MissingEncryptionKey"), awscdk.Stack_Of(scope).FormatArn(&awscdk.ArnComponents{
			Service: jsii.String("kms"), Resource: jsii.String("key"), ResourceName: jsii.String("00000000-0000-0000-0000-000000000000"),
		}))
	}
	if len(checkLevels(p.Level, p.EventLevels)) > 0 {
		p.Level, p.EventLevels = LevelInfo, nil
	}
	return p
}

// checkLevels returns what keeps the detection path from seeing authorization failures
// (ERROR entries) or duplicate client ids (INFO Disconnect entries).
func checkLevels(def Level, events map[string]Level) []string {
	var errs []string
	valid := func(field string, l Level) bool {
		if _, ok := levelRank[l]; !ok {
			errs = append(errs, fmt.Sprintf("fleet: logging %s %q must be DEBUG, INFO, WARN or ERROR", field, l))
			return false
		}
		return true
	}
	if !valid("Level", def) {
		return errs
	}
	if def == LevelDisabled {
		errs = append(errs, "fleet: logging Level DISABLED turns IoT logging off: authorization failures would go unseen (Device Defender LOGGING_DISABLED_CHECK)")
	}
	names := make([]string, 0, len(events))
	for e := range events {
		names = append(names, e)
	}
	sort.Strings(names)
	for _, e := range names {
		if valid("EventLevels["+e+"]", events[e]) && events[e] == LevelDisabled {
			errs = append(errs, fmt.Sprintf("fleet: logging EventLevels[%s] DISABLED hides that event's failures", e))
		}
	}
	disconnect, ok := events[EventDisconnect]
	if !ok {
		disconnect = def
	}
	if levelRank[disconnect] > levelRank[LevelInfo] {
		errs = append(errs, fmt.Sprintf("fleet: logging level %s for %s events drops the INFO Disconnect entries that carry DUPLICATE_CLIENT_ID: set Level INFO or EventLevels[%q] INFO",
			disconnect, EventDisconnect, EventDisconnect))
	}
	return errs
}
