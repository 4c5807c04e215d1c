// Package commandapi builds the operators' command API: a regional REST API on which every
// method requires SigV4 (IAM) authorization and whose resource policy denies every principal
// but the fleet's operator roles, bodies are validated against a JSON schema made
// from the fleet's commands, calls are throttled per stage and per method, access and
// execution logs go to log groups encrypted with the platform key, and a WAFv2 web ACL (AWS
// managed rules, a per-IP rate limit, path and content-type rules) guards the stage. The
// command processor (lambdas/command) behind it publishes only to the command topic namespace
// and updates only classic shadows; which things it serves, and of which class, it asks the
// IoT registry, so nothing here grows with the fleet or names a thing.
package commandapi

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigateway"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awswafv2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/secure-smart-city/platform/constructs/golambda"
	"github.com/secure-smart-city/platform/fleetspec"
	"github.com/secure-smart-city/platform/internal/propcheck"
	"github.com/secure-smart-city/platform/lambdas/command/contract"
	"github.com/secure-smart-city/platform/topics"
)

// Entry is the command processor's main package.
const Entry = "lambdas/command"

// Throttle is an API Gateway token bucket: a steady rate and a burst.
type Throttle struct {
	// RateLimit is the steady-state rate in requests per second; more than 0.
	RateLimit float64
	// BurstLimit is the bucket size in requests; at least 1.
	BurstLimit int
}

// Defaults.
var (
	// DefaultThrottle applies to every method of the stage.
	DefaultThrottle = Throttle{RateLimit: 20, BurstLimit: 40}
	// DefaultCommandThrottle applies to POST /devices/{thing}/commands: a handful of operators
	// switching devices, never a script flipping a district's lights.
	DefaultCommandThrottle = Throttle{RateLimit: 5, BurstLimit: 10}
)

// DefaultWafRateLimit is the requests one source IP may send in five minutes before the web
// ACL blocks it (one a second on average; the stage throttle still applies below it).
const DefaultWafRateLimit = 300

// DefaultStageName names the stage when Props.StageName is empty.
const DefaultStageName = "v1"

// Props configures an API.
type Props struct {
	// Fleet is the validated fleet: its commands make the request schema, its operators the
	// resource policy (at least one is required), and its runtime copy (classes, commands and
	// operators; its declared things are left out) ships beside the function, which enforces
	// each operator's scope. Required.
	Fleet *fleetspec.Fleet
	// ThingTypePrefix is the prefix of the fleet's thing type names, for example
	// "smartcity_dev": a thing of type topics.RuleName(ThingTypePrefix, classID) is of that
	// class, and a thing of any other type is no device of this API (404). Required.
	ThingTypePrefix string
	// EncryptionKey encrypts the log groups and the function's environment. Its key policy
	// must let CloudWatch Logs of this account use it (keys.ServiceLogs). Required.
	EncryptionKey awskms.IKey
	// StateTable holds each device's latest state as the telemetry processor writes it (item
	// pk=<thing>, sk="state"); the function may GetItem it. Required.
	StateTable awsdynamodb.ITable
	// AuditTable receives one record per command; the function may PutItem it. Required.
	AuditTable awsdynamodb.ITable
	// StageName of the API's one stage, the first segment of every path. Default: "v1".
	StageName string
	// Throttle applies to every method. Default: DefaultThrottle (20/s, burst 40).
	Throttle *Throttle
	// CommandThrottle applies to POST /devices/{thing}/commands; it may not exceed Throttle.
	// Default: DefaultCommandThrottle (5/s, burst 10).
	CommandThrottle *Throttle
	// WafRateLimit is the requests per source IP per five minutes before the web ACL blocks
	// that IP (10 to 2,000,000,000). Default: DefaultWafRateLimit.
	WafRateLimit *int
	// LogRetention of the access, execution and WAF log groups and the function's logs.
	// Default: one year.
	LogRetention awslogs.RetentionDays
	// RemovalPolicy of the log groups. Default: RETAIN.
	RemovalPolicy awscdk.RemovalPolicy
	// IoTDataEndpoint is the account's iot:Data-ATS host name. Default: - the function calls
	// iot:DescribeEndpoint once at cold start (an action with no resource-level permissions).
	IoTDataEndpoint string
	// AccountCloudWatchRole sets this region's API Gateway account setting (one per account
	// and region, shared by every REST API there) to a role that may write only to API
	// Gateway execution log groups (API-Gateway-Execution-Logs_*) and to access log groups
	// named API-Gateway-Access-Logs_*, the name this construct gives its own. API Gateway
	// refuses a stage with logging until the setting exists. Set false when the account's
	// baseline owns the setting. The role and setting are retained when the stack is deleted,
	// because other APIs depend on them.
	// Default: true.
	AccountCloudWatchRole *bool
}

// API is the command API and everything it is made of.
type API struct {
	constructs.Construct
	// RestAPI is the REST API (child id "Resource").
	RestAPI awsapigateway.RestApi
	// Stage is the API's one stage.
	Stage awsapigateway.Stage
	// Function is the command processor behind both methods.
	Function *golambda.Function
	// WebACL guards the stage.
	WebACL awswafv2.CfnWebACL
	// AccessLogs receives one JSON line per request (who, what, outcome).
	AccessLogs awslogs.LogGroup
	// ExecutionLogs is the group API Gateway writes execution logs (INFO, no payloads) to,
	// created here so it is encrypted and has a retention.
	ExecutionLogs awslogs.LogGroup
	// WafLogs receives the web ACL's request log (authorization headers redacted).
	WafLogs awslogs.LogGroup
	// Model is the POST body's JSON schema (CommandSchema).
	Model awsapigateway.CfnModel
	// Validator validates bodies and parameters on every method.
	Validator awsapigateway.RequestValidator
	// AccountRole is API Gateway's CloudWatch role for this account and region, or nil when
	// Props.AccountCloudWatchRole is false.
	AccountRole awsiam.Role

	webACLName string
	operators  []fleetspec.Operator
}

var (
	stageNamePattern       = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,128}$`)
	thingTypePrefixPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,80}$`)
)

// New builds the command API. Props errors are reported at synth time with the construct's
// path (see Node().Validate()), all at once; the API is then built from safe stand-ins for the
// faulty props, so every field of the result is usable (none is nil but AccountRole when
// Props.AccountCloudWatchRole is false).
func New(scope constructs.Construct, id string, props *Props) *API {
	this := constructs.NewConstruct(scope, jsii.String(id))
	a := &API{Construct: this}
	p := defaults(props)
	errs := validate(&p)
	schema, runtime := sanitize(this, &p, &errs)
	errs.Attach(this)
	a.build(p, schema, runtime)
	return a
}

// validate checks props and reports every problem; it leaves p as it is.
func validate(p *Props) propcheck.Errors {
	var errs propcheck.Errors
	if p.Fleet == nil {
		errs.Addf("commandapi: Fleet is required: the request schema and the function's IoT permissions come from it")
	}
	if p.EncryptionKey == nil {
		errs.Addf("commandapi: EncryptionKey is required: the log groups and the function's environment are encrypted with the platform key")
	}
	if p.StateTable == nil {
		errs.Addf("commandapi: StateTable is required (GET /devices/{thing} reads it)")
	}
	if p.AuditTable == nil {
		errs.Addf("commandapi: AuditTable is required (every command is audited)")
	}
	if p.Fleet != nil && len(p.Fleet.Operators) == 0 {
		errs.Addf("commandapi: the fleet declares no operators: the API's resource policy admits only the fleet's operator roles, so nobody could call it; declare them under \"operators\" in the fleet file")
	}
	if !thingTypePrefixPattern.MatchString(p.ThingTypePrefix) {
		errs.Addf("commandapi: ThingTypePrefix %q must be 1-81 lowercase letters, digits and underscores, starting with a letter (the fleet's rule prefix, e.g. smartcity_dev)", p.ThingTypePrefix)
	}
	if !validStageName(p.StageName) {
		errs.Addf("commandapi: StageName %q must be 1-128 of [a-zA-Z0-9_-]", p.StageName)
	}
	throttleOK := checkThrottle(&errs, "Throttle", p.Throttle)
	throttleOK = checkThrottle(&errs, "CommandThrottle", p.CommandThrottle) && throttleOK
	if throttleOK && !withinThrottle(p.CommandThrottle, p.Throttle) {
		errs.Addf("commandapi: CommandThrottle (rate %g/s, burst %d) may not exceed Throttle (rate %g/s, burst %d): commands are the API's riskier path",
			p.CommandThrottle.RateLimit, p.CommandThrottle.BurstLimit, p.Throttle.RateLimit, p.Throttle.BurstLimit)
	}
	if !validWafRateLimit(*p.WafRateLimit) {
		errs.Addf("commandapi: WafRateLimit %d must be between 10 and 2000000000 requests per IP per five minutes", *p.WafRateLimit)
	}
	return errs
}

// sanitize replaces each faulty prop with a safe stand-in (an imported placeholder for a
// missing key or table, the default for a bad number or name, an empty fleet), so New can
// build the whole construct after an error; synth still fails on the errors reported. It
// returns the request schema and the function's fleet copy, adding their errors to errs.
func sanitize(scope constructs.Construct, p *Props, errs *propcheck.Errors) (map[string]any, []byte) {
	stack := awscdk.Stack_Of(scope)
	fleetGiven := p.Fleet != nil
	if !fleetGiven {
		p.Fleet = &fleetspec.Fleet{}
	}
	if p.EncryptionKey == nil {
		p.EncryptionKey = awskms.Key_FromKeyArn(scope, jsii.String("MissingEncryptionKey"), stack.FormatArn(&awscdk.ArnComponents{
			Service: jsii.String("kms"), Resource: jsii.String("key"), ResourceName: jsii.String("00000000-0000-0000-0000-000000000000"),
		}))
	}
	if p.StateTable == nil {
		p.StateTable = awsdynamodb.Table_FromTableName(scope, jsii.String("MissingStateTable"), jsii.String("missing-state-table"))
	}
	if p.AuditTable == nil {
		p.AuditTable = awsdynamodb.Table_FromTableName(scope, jsii.String("MissingAuditTable"), jsii.String("missing-audit-table"))
	}
	if !validStageName(p.StageName) {
		p.StageName = DefaultStageName
	}
	var discard propcheck.Errors
	if !checkThrottle(&discard, "", p.Throttle) || !checkThrottle(&discard, "", p.CommandThrottle) || !withinThrottle(p.CommandThrottle, p.Throttle) {
		t, c := DefaultThrottle, DefaultCommandThrottle
		p.Throttle, p.CommandThrottle = &t, &c
	}
	if !validWafRateLimit(*p.WafRateLimit) {
		n := DefaultWafRateLimit
		p.WafRateLimit = &n
	}
	schema, err := CommandSchema(p.Fleet)
	if err != nil {
		if fleetGiven {
			errs.Addf("%v", err)
		}
		// Admits no body: a placeholder until the fleet is fixed.
		schema = map[string]any{"$schema": SchemaDraft4, "title": "CommandRequest", "not": map[string]any{}}
	}
	runtime, err := RuntimeFleet(p.Fleet)
	if err != nil {
		if fleetGiven {
			errs.Addf("commandapi: fleet runtime copy: %v", err)
		}
		runtime = []byte("{}")
	}
	return schema, runtime
}

func validStageName(name string) bool {
	return propcheck.IsUnresolved(name) || stageNamePattern.MatchString(name)
}

func validWafRateLimit(n int) bool { return n >= 10 && n <= 2_000_000_000 }

// withinThrottle reports whether inner is no looser than outer in rate and burst.
func withinThrottle(inner, outer *Throttle) bool {
	return inner.RateLimit <= outer.RateLimit && inner.BurstLimit <= outer.BurstLimit
}

func (a *API) build(p Props, schema map[string]any, runtime []byte) {
	this := a.Construct
	stack := awscdk.Stack_Of(this)
	a.Function = a.function(p, runtime)

	a.RestAPI = awsapigateway.NewRestApi(this, jsii.String("Resource"), &awsapigateway.RestApiProps{
		RestApiName:           jsii.String(*awscdk.Names_UniqueResourceName(this, &awscdk.UniqueResourceNameOptions{MaxLength: jsii.Number(128), Separator: jsii.String("-")})),
		Description:           jsii.String("Smart city command API: device state and operator commands, IAM (SigV4) authorized"),
		EndpointConfiguration: &awsapigateway.EndpointConfiguration{Types: &[]awsapigateway.EndpointType{awsapigateway.EndpointType_REGIONAL}},
		DefaultMethodOptions:  &awsapigateway.MethodOptions{AuthorizationType: awsapigateway.AuthorizationType_IAM},
		CloudWatchRole:        jsii.Bool(false),
		FailOnWarnings:        jsii.Bool(true),
		Policy:                ResourcePolicy(stack, p.Fleet.Operators),
		Deploy:                jsii.Bool(true),
		DeployOptions:         a.stageOptions(p),
	})
	a.Stage = a.RestAPI.DeploymentStage()
	// A changed resource policy takes effect only in a new deployment.
	roles := make([]string, 0, len(p.Fleet.Operators))
	for _, op := range p.Fleet.Operators {
		roles = append(roles, op.Role)
	}
	a.RestAPI.LatestDeployment().AddToLogicalId(roles)
	a.operators = p.Fleet.Operators

	// Named the way API Gateway names execution logs, so it writes here rather than create an
	// unencrypted group that never expires.
	a.ExecutionLogs = awslogs.NewLogGroup(this, jsii.String("ExecutionLogs"), &awslogs.LogGroupProps{
		LogGroupName:  jsii.String(ExecutionLogGroupPrefix + *a.RestAPI.RestApiId() + "/" + p.StageName),
		EncryptionKey: p.EncryptionKey,
		Retention:     p.LogRetention,
		RemovalPolicy: p.RemovalPolicy,
	})
	// Named after the API id (not the construct path), so a redeploy after a stack deletion
	// does not collide with the retained group.
	a.AccessLogs = awslogs.NewLogGroup(this, jsii.String("AccessLogs"), &awslogs.LogGroupProps{
		LogGroupName:  jsii.String(AccessLogGroupPrefix + *a.RestAPI.RestApiId() + "/" + p.StageName),
		EncryptionKey: p.EncryptionKey,
		Retention:     p.LogRetention,
		RemovalPolicy: p.RemovalPolicy,
	})
	cfnStage := a.Stage.Node().DefaultChild().(awsapigateway.CfnStage)
	cfnStage.SetAccessLogSetting(&awsapigateway.CfnStage_AccessLogSettingProperty{
		DestinationArn: logGroupArn(stack, *a.AccessLogs.LogGroupName()),
		Format:         jsii.String(accessLogFormat()),
	})
	a.Stage.Node().AddDependency(a.ExecutionLogs)
	if *p.AccountCloudWatchRole {
		a.Stage.Node().AddDependency(a.accountRole(stack))
	}

	a.routes(schema)
	a.waf(p, stack)
}

// AccessLogGroupPrefix starts the name of every access log group this construct creates; the
// account CloudWatch role may write to groups with this prefix.
const AccessLogGroupPrefix = "API-Gateway-Access-Logs_"

// ExecutionLogGroupPrefix is how API Gateway names execution log groups.
const ExecutionLogGroupPrefix = "API-Gateway-Execution-Logs_"

// checkThrottle reports a throttle out of API Gateway's bounds; it returns whether t is valid.
func checkThrottle(errs *propcheck.Errors, field string, t *Throttle) bool {
	ok := true
	if t.RateLimit <= 0 || t.RateLimit > 10000 {
		errs.Addf("commandapi: %s.RateLimit %g must be above 0 and at most 10000 requests per second", field, t.RateLimit)
		ok = false
	}
	if t.BurstLimit < 1 || t.BurstLimit > 5000 {
		errs.Addf("commandapi: %s.BurstLimit %d must be between 1 and 5000 requests", field, t.BurstLimit)
		ok = false
	}
	return ok
}

func defaults(props *Props) Props {
	p := Props{}
	if props != nil {
		p = *props
	}
	if p.StageName == "" {
		p.StageName = DefaultStageName
	}
	if p.Throttle == nil {
		t := DefaultThrottle
		p.Throttle = &t
	}
	if p.CommandThrottle == nil {
		t := DefaultCommandThrottle
		p.CommandThrottle = &t
	}
	if p.WafRateLimit == nil {
		n := DefaultWafRateLimit
		p.WafRateLimit = &n
	}
	if p.LogRetention == "" {
		p.LogRetention = awslogs.RetentionDays_ONE_YEAR
	}
	if p.RemovalPolicy == "" {
		p.RemovalPolicy = awscdk.RemovalPolicy_RETAIN
	}
	if p.AccountCloudWatchRole == nil {
		p.AccountCloudWatchRole = jsii.Bool(true)
	}
	return p
}

// commandsMethodPath is the stage's method-settings key of the command method.
const commandsMethodPath = "/devices/{thing}/commands/POST"

func (a *API) stageOptions(p Props) *awsapigateway.StageOptions {
	return &awsapigateway.StageOptions{
		StageName:   jsii.String(p.StageName),
		Description: jsii.String("Operators' command API"),
		// INFO records each request's steps and errors; data trace would log bodies and
		// headers, so it stays off.
		LoggingLevel:         awsapigateway.MethodLoggingLevel_INFO,
		DataTraceEnabled:     jsii.Bool(false),
		MetricsEnabled:       jsii.Bool(true),
		TracingEnabled:       jsii.Bool(true),
		ThrottlingRateLimit:  jsii.Number(p.Throttle.RateLimit),
		ThrottlingBurstLimit: jsii.Number(float64(p.Throttle.BurstLimit)),
		MethodOptions: &map[string]*awsapigateway.MethodDeploymentOptions{
			// A method override replaces the stage's settings for that method, so it repeats them.
			commandsMethodPath: {
				LoggingLevel:         awsapigateway.MethodLoggingLevel_INFO,
				DataTraceEnabled:     jsii.Bool(false),
				MetricsEnabled:       jsii.Bool(true),
				ThrottlingRateLimit:  jsii.Number(p.CommandThrottle.RateLimit),
				ThrottlingBurstLimit: jsii.Number(float64(p.CommandThrottle.BurstLimit)),
			},
		},
	}
}

// RuntimeFleet is the fleet copy the function reads: classes, districts, fields and commands,
// without the declared things, so the function's asset holds no thing name and does not change
// when things are added to the fleet file.
func RuntimeFleet(f *fleetspec.Fleet) ([]byte, error) {
	c := *f
	c.Things = nil
	return c.RuntimeJSON()
}

func (a *API) function(p Props, runtime []byte) *golambda.Function {
	env := map[string]string{
		contract.EnvStateTable:      *p.StateTable.TableName(),
		contract.EnvAuditTable:      *p.AuditTable.TableName(),
		contract.EnvThingTypePrefix: p.ThingTypePrefix,
	}
	if p.IoTDataEndpoint != "" {
		env[contract.EnvDataEndpoint] = p.IoTDataEndpoint
	}
	fn := golambda.New(a.Construct, "Function", &golambda.Props{
		Entry:         Entry,
		Description:   "Smart city command processor: device state and audited operator commands",
		EncryptionKey: p.EncryptionKey,
		Environment:   env,
		Files:         map[string][]byte{contract.FleetFile: runtime},
		Timeout:       10 * time.Second,
		LogRetention:  p.LogRetention,
		RemovalPolicy: p.RemovalPolicy,
	})
	p.StateTable.Grant(fn.Role, jsii.String("dynamodb:GetItem"))
	if k := p.StateTable.EncryptionKey(); k != nil {
		k.Grant(fn.Role, jsii.String("kms:Decrypt"), jsii.String("kms:DescribeKey"))
	}
	// PutItem for the records (the function always conditions it on attribute_not_exists;
	// IAM cannot require that, see the README's residual risks) and GetItem to read an
	// Idempotency-Key's first answer back. No UpdateItem, DeleteItem or BatchWriteItem, which
	// the table's resource policy also denies to everyone.
	p.AuditTable.Grant(fn.Role, jsii.String("dynamodb:PutItem"), jsii.String("dynamodb:GetItem"))
	if k := p.AuditTable.EncryptionKey(); k != nil {
		k.GrantEncryptDecrypt(fn.Role)
	}
	if p.IoTDataEndpoint == "" {
		fn.Role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("FindIoTDataEndpoint"),
			Actions:   jsii.Strings("iot:DescribeEndpoint"),
			Resources: jsii.Strings("*"),
		}))
	}
	// The function acts on any thing of the fleet's classes, including things provisioned at
	// run time, so no statement names a thing: the command topic namespace and the thing
	// family, by pattern. IAM cannot narrow a thing ARN to a thing type (things carry no tags,
	// and the Service Authorization Reference lists no thing-type condition key for these
	// actions), so the function itself refuses any thing whose registered type is not one of
	// the fleet's classes under ThingTypePrefix, before it publishes or writes a shadow.
	stack := awscdk.Stack_Of(a.Construct)
	thing := iotArn(stack, "thing", "*")
	for _, st := range []*awsiam.PolicyStatementProps{
		// The thing's type and district attribute: which class it is, and whether it is ours.
		{Sid: jsii.String("DescribeFleetThings"), Actions: jsii.Strings("iot:DescribeThing"), Resources: &[]*string{thing}},
		// topics.Command(thing) for every thing: city/things/*/commands, nothing else.
		{Sid: jsii.String("PublishCommands"), Actions: jsii.Strings("iot:Publish"), Resources: &[]*string{iotArn(stack, "topic", topics.CommandFilter)}},
		// The classic shadow's desired state (UpdateThingShadow's resource is the thing).
		{Sid: jsii.String("UpdateShadows"), Actions: jsii.Strings("iot:UpdateThingShadow"), Resources: &[]*string{thing}},
	} {
		fn.Role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(st))
	}
	return fn
}

func iotArn(stack awscdk.Stack, resource, name string) *string {
	return stack.FormatArn(&awscdk.ArnComponents{
		Service: jsii.String("iot"), Resource: jsii.String(resource), ResourceName: jsii.String(name),
		ArnFormat: awscdk.ArnFormat_SLASH_RESOURCE_NAME,
	})
}

// logGroupArn is a log group's ARN without the ":*" suffix, as API Gateway and WAF want it.
func logGroupArn(stack awscdk.Stack, name string) *string {
	return stack.FormatArn(&awscdk.ArnComponents{
		Service: jsii.String("logs"), Resource: jsii.String("log-group"), ResourceName: jsii.String(name),
		ArnFormat: awscdk.ArnFormat_COLON_RESOURCE_NAME,
	})
}

// accountRole sets the region's API Gateway CloudWatch role (see Props.AccountCloudWatchRole).
func (a *API) accountRole(stack awscdk.Stack) constructs.IConstruct {
	role := awsiam.NewRole(a.Construct, jsii.String("AccountLogsRole"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("apigateway.amazonaws.com"), nil),
		Description: jsii.String("API Gateway's CloudWatch role for this account and region: writes execution and access logs of REST APIs"),
	})
	var groups []*string
	for _, prefix := range []string{ExecutionLogGroupPrefix, AccessLogGroupPrefix} {
		groups = append(groups, logGroupArn(stack, prefix+"*"), logGroupArn(stack, prefix+"*:*"))
	}
	role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid: jsii.String("WriteApiGatewayLogs"),
		// The write half of AmazonAPIGatewayPushToCloudWatchLogs; it never reads logs back.
		Actions: jsii.Strings("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents",
			"logs:DescribeLogGroups", "logs:DescribeLogStreams"),
		Resources: &groups,
	}))
	role.ApplyRemovalPolicy(awscdk.RemovalPolicy_RETAIN)
	account := awsapigateway.NewCfnAccount(a.Construct, jsii.String("Account"), &awsapigateway.CfnAccountProps{
		CloudWatchRoleArn: role.RoleArn(),
	})
	account.ApplyRemovalPolicy(awscdk.RemovalPolicy_RETAIN, nil)
	account.Node().AddDependency(role)
	a.AccountRole = role
	return account
}

func (a *API) routes(schema map[string]any) {
	a.Validator = awsapigateway.NewRequestValidator(a.Construct, jsii.String("Validator"), &awsapigateway.RequestValidatorProps{
		RestApi:                   a.RestAPI,
		ValidateRequestBody:       jsii.Bool(true),
		ValidateRequestParameters: jsii.Bool(true),
	})
	a.Model = awsapigateway.NewCfnModel(a.Construct, jsii.String("CommandModel"), &awsapigateway.CfnModelProps{
		RestApiId:   a.RestAPI.RestApiId(),
		ContentType: jsii.String("application/json"),
		Description: jsii.String("An operator command for one of the fleet's device classes"),
		Schema:      schema,
	})
	// A changed schema takes effect only in a new deployment, as the L2 Model arranges.
	d := a.RestAPI.LatestDeployment()
	d.Node().AddDependency(a.Model)
	d.AddToLogicalId(schema)
	model := awsapigateway.Model_FromModelName(a.Construct, jsii.String("CommandModelRef"), a.Model.Ref())

	integration := awsapigateway.NewLambdaIntegration(a.Function.Resource, &awsapigateway.LambdaIntegrationOptions{
		Proxy: jsii.Bool(true),
		// No extra permission for console test invocations, which bypass authorization.
		AllowTestInvoke: jsii.Bool(false),
	})
	thingParam := &map[string]*bool{"method.request.path.thing": jsii.Bool(true)}
	thing := a.RestAPI.Root().AddResource(jsii.String("devices"), nil).AddResource(jsii.String("{thing}"), nil)
	thing.AddMethod(jsii.String("GET"), integration, &awsapigateway.MethodOptions{
		AuthorizationType: awsapigateway.AuthorizationType_IAM,
		OperationName:     jsii.String("GetDevice"),
		RequestParameters: thingParam,
		RequestValidator:  a.Validator,
	})
	thing.AddResource(jsii.String("commands"), nil).AddMethod(jsii.String("POST"), integration, &awsapigateway.MethodOptions{
		AuthorizationType: awsapigateway.AuthorizationType_IAM,
		OperationName:     jsii.String("SendCommand"),
		RequestParameters: thingParam,
		RequestValidator:  a.Validator,
		RequestModels:     &map[string]awsapigateway.IModel{"application/json": model},
	})
}

func (a *API) waf(p Props, stack awscdk.Stack) {
	a.webACLName = *awscdk.Names_UniqueResourceName(a.Construct, &awscdk.UniqueResourceNameOptions{
		MaxLength: jsii.Number(128), Separator: jsii.String("-"), AllowedSpecialCharacters: jsii.String("-_"),
	})
	stageLen := len(p.StageName)
	if propcheck.IsUnresolved(p.StageName) {
		stageLen = maxStageName
	}
	a.WebACL = awswafv2.NewCfnWebACL(a.Construct, jsii.String("WebAcl"), &awswafv2.CfnWebACLProps{
		Name:             jsii.String(a.webACLName),
		Description:      jsii.String("Guards the smart city command API: per-IP rate limit, path and content-type shape, AWS managed rules"),
		Scope:            jsii.String("REGIONAL"),
		DefaultAction:    &awswafv2.CfnWebACL_DefaultActionProperty{Allow: map[string]any{}},
		VisibilityConfig: visibility(a.webACLName),
		Rules:            webACLRules(*p.WafRateLimit, stageLen),
	})
	awswafv2.NewCfnWebACLAssociation(a.Construct, jsii.String("WebAclAssociation"), &awswafv2.CfnWebACLAssociationProps{
		ResourceArn: a.Stage.StageArn(),
		WebAclArn:   a.WebACL.AttrArn(),
	})
	// WAF logs only to groups named aws-waf-logs-*; the web ACL's id keeps the name new after
	// a stack deletion retained the old group.
	a.WafLogs = awslogs.NewLogGroup(a.Construct, jsii.String("WafLogs"), &awslogs.LogGroupProps{
		LogGroupName:  jsii.String("aws-waf-logs-" + a.webACLName + "-" + *a.WebACL.AttrId()),
		EncryptionKey: p.EncryptionKey,
		Retention:     p.LogRetention,
		RemovalPolicy: p.RemovalPolicy,
	})
	redact := func(header string) any {
		return &awswafv2.CfnLoggingConfiguration_FieldToMatchProperty{SingleHeader: map[string]any{"Name": header}}
	}
	awswafv2.NewCfnLoggingConfiguration(a.Construct, jsii.String("WafLogging"), &awswafv2.CfnLoggingConfigurationProps{
		ResourceArn:           a.WebACL.AttrArn(),
		LogDestinationConfigs: &[]any{logGroupArn(stack, *a.WafLogs.LogGroupName())},
		// SigV4 headers: the signature and a session token are credentials' traces, not logs.
		RedactedFields: &[]any{redact("authorization"), redact("x-amz-security-token")},
	})
}

// URL is the stage's base URL, https://<id>.execute-api.<region>.amazonaws.com/<stage>/.
func (a *API) URL() *string { return a.RestAPI.Url() }

// MethodArn is the execute-api ARN of a method of this stage, for IAM policies, e.g.
// MethodArn("POST", "/devices/*/commands").
func (a *API) MethodArn(method, path string) *string {
	return a.RestAPI.ArnForExecuteApi(jsii.String(method), jsii.String(path), a.Stage.StageName())
}

// GrantSendCommands lets grantee, the IAM role of an operator, POST commands
// (execute-api:Invoke on POST /devices/*/commands) and read device state. What it may send is
// scope, which must be the fleet file's declaration of that role: the function enforces the
// fleet file's copy, and the API's resource policy admits only the roles declared there, so a
// grant for any other scope would not work in the account. A mismatch is a synth error naming
// the difference. When grantee is a role with a known name, it must be scope.Role.
func (a *API) GrantSendCommands(grantee awsiam.IGrantable, scope fleetspec.Operator) awsiam.Grant {
	a.checkScope(grantee, scope)
	a.grantInvoke(grantee, "GET", "/devices/*")
	return a.grantInvoke(grantee, "POST", "/devices/*/commands")
}

// GrantReadDevices lets grantee GET any device's state (execute-api:Invoke). The resource
// policy still denies it unless it is one of the fleet's operator roles.
func (a *API) GrantReadDevices(grantee awsiam.IGrantable) awsiam.Grant {
	return a.grantInvoke(grantee, "GET", "/devices/*")
}

// Operators are the fleet's operator roles the API admits.
func (a *API) Operators() []fleetspec.Operator { return slices.Clone(a.operators) }

func (a *API) checkScope(grantee awsiam.IGrantable, scope fleetspec.Operator) {
	var declared *fleetspec.Operator
	for i := range a.operators {
		if a.operators[i].Role == scope.Role {
			declared = &a.operators[i]
		}
	}
	switch {
	case declared == nil:
		a.invalid(fmt.Sprintf("commandapi: GrantSendCommands: role %q is not an operator of the fleet file; declare it and its scope under \"operators\", or the API's resource policy denies it", scope.Role))
		return
	case !reflect.DeepEqual(normalized(*declared), normalized(scope)):
		a.invalid(fmt.Sprintf("commandapi: GrantSendCommands: the scope given for role %q (%s) differs from the fleet file's (%s); the function enforces the fleet file's",
			scope.Role, describeScope(scope), describeScope(*declared)))
	}
	// A role built in this app knows the name it was given (its physical name); an imported
	// or generated name is a token and cannot be compared at synth.
	if r, ok := grantee.(interface{ PhysicalName() *string }); ok && r.PhysicalName() != nil &&
		!propcheck.IsUnresolved(*r.PhysicalName()) && *r.PhysicalName() != scope.Role {
		a.invalid(fmt.Sprintf("commandapi: GrantSendCommands: role %q is granted the scope of operator role %q", *r.PhysicalName(), scope.Role))
	}
}

func (a *API) invalid(msg string) {
	var errs propcheck.Errors
	errs.Addf("%s", msg)
	errs.Attach(a.Construct)
}

// normalized ignores the description, which scopes nothing.
func normalized(op fleetspec.Operator) fleetspec.Operator {
	op.Description = ""
	if len(op.Allow) == 0 {
		op.Allow = nil
	}
	return op
}

func describeScope(op fleetspec.Operator) string {
	var parts []string
	for _, p := range op.Allow {
		s := p.Class + ": " + strings.Join(p.Commands, ",")
		for _, v := range p.Values {
			s += fmt.Sprintf(" [%s.%s=%s]", v.Command, v.Param, strings.Join(v.Values, "|"))
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return "read only"
	}
	return strings.Join(parts, "; ")
}

func (a *API) grantInvoke(grantee awsiam.IGrantable, method, path string) awsiam.Grant {
	return awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
		Grantee:      grantee,
		Actions:      jsii.Strings("execute-api:Invoke"),
		ResourceArns: &[]*string{a.MethodArn(method, path)},
	})
}

// MetricServerErrors counts the stage's 5XX responses (Sum).
func (a *API) MetricServerErrors(opts *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return a.Stage.MetricServerError(opts)
}

// MetricClientErrors counts the stage's 4XX responses (Sum): refused signatures, failed
// validation, throttling, unknown things.
func (a *API) MetricClientErrors(opts *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return a.Stage.MetricClientError(opts)
}

// MetricLatency is the stage's end-to-end latency in milliseconds (default Average).
func (a *API) MetricLatency(opts *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return a.Stage.MetricLatency(opts)
}

// MetricWafBlockedRequests counts requests the web ACL blocked, all rules together (Sum).
func (a *API) MetricWafBlockedRequests(opts *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return a.MetricWafRuleBlockedRequests("ALL", opts)
}

// MetricWafRuleBlockedRequests counts requests one rule of the web ACL blocked (Sum), e.g.
// RuleRateLimit.
func (a *API) MetricWafRuleBlockedRequests(rule string, opts *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	o := awscloudwatch.MetricOptions{}
	if opts != nil {
		o = *opts
	}
	dims := map[string]*string{
		"WebACL": jsii.String(a.webACLName),
		"Region": awscdk.Stack_Of(a.Construct).Region(),
		"Rule":   jsii.String(rule),
	}
	if o.DimensionsMap != nil {
		for k, v := range *o.DimensionsMap {
			dims[k] = v
		}
	}
	statistic := o.Statistic
	if statistic == nil {
		statistic = jsii.String("Sum")
	}
	return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace: jsii.String("AWS/WAFV2"), MetricName: jsii.String("BlockedRequests"),
		DimensionsMap: &dims, Statistic: statistic,
		Account: o.Account, Color: o.Color, Id: o.Id, Label: o.Label, Period: o.Period, Region: o.Region,
		StackAccount: o.StackAccount, StackRegion: o.StackRegion, Unit: o.Unit, Visible: o.Visible,
	})
}

// MetricAuditWriteFailed counts the command function's failed audit table writes in one
// phase (Sum): contract.KindIntent (the command was not sent, 503), contract.KindOutcome
// (sent, outcome not recorded), contract.PhaseRefusal, contract.KindIdemClaim or
// contract.KindIdemAnswer (package lambdas/command/contract). Any non-zero value means the
// trail has a gap or commands are being refused; alarm on intent and outcome.
func (a *API) MetricAuditWriteFailed(phase string, opts *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return functionMetric(contract.MetricAuditWriteFailed, contract.DimensionPhase, phase, opts)
}

// MetricRefused counts requests the function refused for a security reason (Sum), one of
// (package lambdas/command/contract) contract.ReasonNotOperator, contract.ReasonOutOfScope, contract.ReasonIdempotencyMismatch,
// contract.ReasonIdempotencyInProgress, contract.ReasonAuditUnavailable.
func (a *API) MetricRefused(reason string, opts *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return functionMetric(contract.MetricRefused, contract.DimensionReason, reason, opts)
}

func functionMetric(name, dim, value string, opts *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	o := awscloudwatch.MetricOptions{}
	if opts != nil {
		o = *opts
	}
	statistic := o.Statistic
	if statistic == nil {
		statistic = jsii.String("Sum")
	}
	return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace: jsii.String(contract.Namespace), MetricName: jsii.String(name),
		DimensionsMap: &map[string]*string{dim: jsii.String(value)}, Statistic: statistic,
		Account: o.Account, Color: o.Color, Id: o.Id, Label: o.Label, Period: o.Period, Region: o.Region,
		StackAccount: o.StackAccount, StackRegion: o.StackRegion, Unit: o.Unit, Visible: o.Visible,
	})
}
