package stacks

import (
	"regexp"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// AcceptedFinding is a cdk-nag finding the platform accepts, with the reason a reviewer
// accepted it. Every suppression in the app comes from this table, and the README's
// "Accepted findings" section lists each one (a test keeps the two in step).
type AcceptedFinding struct {
	// Rules are the cdk-nag rule ids accepted.
	Rules []string
	// Where describes the resources, for people.
	Where string
	// Type limits it to CloudFormation resources of this type. Default: any type.
	Type string
	// Path limits it to resources whose construct path matches. Default: any path.
	Path *regexp.Regexp
	// AppliesTo limits it to these finding details (cdk-nag's appliesTo, e.g.
	// "Action::kms:ReEncrypt*"). Default: the whole rule.
	AppliesTo []string
	// AppliesToPattern limits it to finding details matching these regular expressions (cdk-nag's
	// {regex: "/.../"}), for ARNs whose partition, region and account differ between
	// environment-agnostic and pinned stacks. Match each of those ARN parts with ArnPart: an
	// unresolved one reads "<AWS::AccountId>", colons included. Default: - AppliesTo alone decides.
	AppliesToPattern []string
	// Reason is why the finding is accepted.
	Reason string
}

// ArnPart matches one partition, region or account part of an ARN in a cdk-nag finding, resolved
// ("eu-central-1") or not ("<AWS::Region>").
const ArnPart = `(?:<AWS::[A-Za-z]+>|[^:<>]+)`

// AcceptedFindings is the platform's one list of suppressions.
var AcceptedFindings = []AcceptedFinding{
	{
		Rules: []string{"NIST.800.53.R5-LambdaConcurrency"},
		Where: "Lambda functions, only in an account whose lambdaConcurrencyBudget cannot hold their reservations",
		Type:  "AWS::Lambda::Function",
		Reason: "Every function reserves concurrency unless the account's Lambda limit (context lambdaConcurrencyBudget, " +
			"e.g. a new account's 10) leaves no room after Lambda's 100 unreserved executions; then the deployment would fail, " +
			"so the app leaves them unreserved, records why on each function and warns at synth. The function-hardening " +
			"synth check still fails any function without a reservation that does not carry that record.",
	},
	{
		Rules: []string{"AwsSolutions-S1", "NIST.800.53.R5-S3BucketLoggingEnabled"},
		Where: "S3 access-log buckets",
		Path:  regexp.MustCompile(`/AccessLogs/Resource/Resource$`),
		Reason: "This bucket is the server access log target; logging it into itself would loop, " +
			"and into another bucket would only move the question. Access to it is audited by CloudTrail.",
	},
	{
		Rules: []string{"NIST.800.53.R5-S3DefaultEncryptionKMS"},
		Where: "S3 access-log buckets",
		Path:  regexp.MustCompile(`/AccessLogs/Resource/Resource$`),
		Reason: "S3 server access log delivery writes only to buckets with SSE-S3 default encryption, " +
			"so the log bucket uses SSE-S3 (AES-256); every data bucket uses SSE-KMS with the platform key.",
	},
	{
		Rules: []string{"NIST.800.53.R5-S3BucketReplicationEnabled"},
		Where: "every S3 bucket",
		Path:  regexp.MustCompile(`/(TelemetryArchive|AccessLogs)/Resource/Resource$`),
		Reason: "Cross-region replication is a disaster-recovery choice each city makes for its own " +
			"regions and budget; versioning, lifecycle and RETAIN protect the data in-region.",
	},
	{
		Rules: []string{"NIST.800.53.R5-S3BucketReplicationEnabled"},
		Where: "the firmware bucket (OTA)",
		Path:  regexp.MustCompile(`/Firmware/Bucket/Resource/Resource$`),
		Reason: "Firmware images are build artifacts the city can upload again; cross-region replication is each city's " +
			"disaster-recovery choice. Versioning and Object Lock (governance retention) protect every released image in-region.",
	},
	{
		Rules: []string{"AwsSolutions-IAM5"},
		Where: "OTA presigned-URL roles (one device class's firmware prefix)",
		Type:  "AWS::IAM::Policy",
		Path:  regexp.MustCompile(`/Ota/Class-[a-z0-9_]+/PresignRole/DefaultPolicy/Resource$`),
		AppliesToPattern: []string{`^Resource::<FirmwareBucket[A-Za-z0-9]+\.Arn>/firmware/[a-z0-9_]+/\*$`,
			`^Resource::arn:` + ArnPart + `:s3:::[^/]+/firmware/[a-z0-9_]+/\*$`},
		Reason: "AWS IoT Jobs presigns the download URL of whichever image a release names, and each release uploads a new " +
			"object (firmware/<class>/<version>/<file>), so the role reads that class's prefix: s3:GetObject only, never " +
			"another class's images, and kms:Decrypt only through S3.",
	},
	{
		Rules: []string{"NIST.800.53.R5-DynamoDBInBackupPlan"},
		Where: "DynamoDB tables",
		Type:  "AWS::DynamoDB::Table",
		Reason: "Point-in-time recovery (35 days) is on for every table; an AWS Backup plan is an " +
			"organization-level policy the city's account baseline owns, not this app.",
	},
	{
		Rules: []string{"AwsSolutions-SQS3", "Serverless-SQSRedrivePolicy"},
		Where: "dead-letter and failure-destination queues (ids ending in Errors, DeadLetters or Failures)",
		Type:  "AWS::SQS::Queue",
		Path:  regexp.MustCompile(`/[A-Za-z0-9]*(Errors|DeadLetters|Failures)/Resource/Resource$`),
		Reason: "These queues are the dead-letter destinations (topic rule error actions, Lambda on-failure " +
			"destinations); nothing consumes them automatically, so a redrive policy or a DLQ of the DLQ would " +
			"only move the same messages. An alarm fires on the first message in each.",
	},
	{
		Rules:     []string{"AwsSolutions-IAM5"},
		Where:     "IAM policies made by KMS key grants",
		Type:      "AWS::IAM::Policy",
		AppliesTo: []string{"Action::kms:ReEncrypt*", "Action::kms:GenerateDataKey*"},
		Reason: "CDK's key grants name the action families kms:ReEncrypt* and kms:GenerateDataKey* " +
			"(their variants are one operation each way) on one specific key ARN; the resource is never a wildcard.",
	},
	{
		Rules:     []string{"AwsSolutions-IAM5"},
		Where:     "Go function execution roles (X-Ray tracing, iot:DescribeEndpoint)",
		Type:      "AWS::IAM::Policy",
		Path:      regexp.MustCompile(`/ExecutionRole/DefaultPolicy/Resource$`),
		AppliesTo: []string{"Resource::*"},
		Reason: "Active tracing needs xray:PutTraceSegments and xray:PutTelemetryRecords, and the command processor " +
			"finds its IoT data endpoint with iot:DescribeEndpoint; none has resource-level permissions. A synth test (iam-wildcard-resources) fails if any other action gets Resource *.",
	},
	{
		Rules: []string{"NIST.800.53.R5-IAMNoInlinePolicy"},
		Where: "IAM policies made by grants",
		Type:  "AWS::IAM::Policy",
		Reason: "Grants attach least-privilege statements as a policy owned by the one role that uses them and " +
			"deleted with it; a customer-managed policy would hold the same statements with a lifecycle of its own.",
	},
	{
		Rules: []string{"NIST.800.53.R5-LambdaInsideVPC"},
		Where: "Lambda functions",
		Type:  "AWS::Lambda::Function",
		Reason: "The functions reach only AWS APIs (DynamoDB, S3, KMS, IoT, SQS) over TLS with IAM; they serve " +
			"no network port. A VPC would add NAT or endpoints and no isolation for these paths.",
	},
	{
		Rules: []string{"NIST.800.53.R5-LambdaDLQ", "Serverless-LambdaDLQ"},
		Where: "Lambda functions",
		Type:  "AWS::Lambda::Function",
		Reason: "Synchronous and stream-driven functions return failures to the caller or to the event source " +
			"mapping's encrypted on-failure queue; asynchronous ones have an on-failure destination, which " +
			"supersedes a DLQ and carries the error with the event.",
	},
	{
		Rules: []string{"AwsSolutions-IAM5"},
		Where: "the telemetry processor's role (archive object prefixes)",
		Type:  "AWS::IAM::Policy",
		Path:  regexp.MustCompile(`/Telemetry/Processor/ExecutionRole/DefaultPolicy/Resource$`),
		AppliesTo: []string{
			"Resource::<TelemetryArchive8B85118B.Arn>/accepted/*",
			"Resource::<TelemetryArchive8B85118B.Arn>/rejected/*",
		},
		Reason: "The processor writes one new object per batch under keys it derives at run time " +
			"(class, date, hour, sequence, hash), so its PUTs (and HEADs of accepted objects) name the " +
			"accepted/ and rejected/ prefixes of the one archive bucket; it cannot read, list elsewhere or delete.",
	},
	{
		Rules: []string{"AwsSolutions-KDS3"},
		Where: "Kinesis streams",
		Type:  "AWS::Kinesis::Stream",
		Reason: "The platform encrypts every store with its customer-managed key (rotation, audited key " +
			"policy, RETAIN) by design; the warning is about the cost of the extra KMS requests, which " +
			"Kinesis keeps small by reusing data keys for minutes, not about a weakness.",
	},
	{
		Rules:     []string{"AwsSolutions-IAM4"},
		Where:     "the Device Defender audit role",
		Type:      "AWS::IAM::Role",
		Path:      regexp.MustCompile(`/Defender/AuditRole/Resource$`),
		AppliesTo: []string{"Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSIoTDeviceDefenderAudit"},
		Reason: "AWS documents AWSIoTDeviceDefenderAudit as the audit role's policy and extends it when it adds " +
			"audit checks; it only reads (IoT, IAM and Cognito configuration). A hand-written copy would silently " +
			"fail new checks with INSUFFICIENT_PERMISSIONS.",
	},
	{
		Rules:            []string{"AwsSolutions-IAM5"},
		Where:            "Device Defender mitigation roles and the quarantine function (any device's thing or certificate)",
		Type:             "AWS::IAM::Policy",
		Path:             regexp.MustCompile(`/Defender/(DeactivateCertificateRole|QuarantineRole|Quarantine/ExecutionRole)/DefaultPolicy/Resource$`),
		AppliesToPattern: []string{`^Resource::arn:` + ArnPart + `:iot:` + ArnPart + `:` + ArnPart + `:(thing|cert)\/\*$`},
		Reason: "Containment must reach whichever device misbehaves, and things and certificates are created at run " +
			"time (JITP, fleet provisioning); each statement allows one action (UpdateCertificate, or " +
			"AddThingToThingGroup together with the one quarantine group) on that resource family.",
	},
	{
		Rules:            []string{"AwsSolutions-IAM5"},
		Where:            "the audit remediation function (iot:DescribeThing on any thing)",
		Type:             "AWS::IAM::Policy",
		Path:             regexp.MustCompile(`/Defender/AuditRemediation/ExecutionRole/DefaultPolicy/Resource$`),
		AppliesToPattern: []string{`^Resource::arn:` + ArnPart + `:iot:` + ArnPart + `:` + ArnPart + `:thing\/\*$`},
		Reason: "An audit finding names devices by client id, and the function starts containment only for those the " +
			"IoT registry holds with one of the fleet's thing types, which include things provisioned at run time; so it " +
			"reads (iot:DescribeThing, read-only) any thing. It changes nothing itself: the mitigation actions do.",
	},
	{
		Rules:     []string{"AwsSolutions-IAM5"},
		Where:     "Device Defender mitigation roles (ListPrincipalThings, SetV2LoggingOptions)",
		Type:      "AWS::IAM::Policy",
		Path:      regexp.MustCompile(`/Defender/(QuarantineRole|EnableLoggingRole)/DefaultPolicy/Resource$`),
		AppliesTo: []string{"Resource::*"},
		Reason: "iot:ListPrincipalThings and iot:SetV2LoggingOptions have no resource-level permissions (Service " +
			"Authorization Reference); the iam-wildcard-resources synth test fails if any other action gets Resource *.",
	},
	{
		Rules: []string{"AwsSolutions-IAM5"},
		Where: "the IoT provisioning role (JITP and fleet provisioning templates)",
		Type:  "AWS::IAM::Policy",
		Path:  regexp.MustCompile(`/Devices/ProvisioningRole/DefaultPolicy/Resource$`),
		// The account is a token ("<AWS::AccountId>", colons and all) in environment-agnostic stacks.
		AppliesToPattern: []string{`^Resource::arn:.+:iot:.+:(thing|cert)\/\*$`},
		Reason: "AWS IoT assumes this role while it provisions a device that is not in the fleet file: the thing " +
			"(named by the CA-signed certificate or the allowlist) and its certificate come into being during that " +
			"provisioning, so their ARNs exist only then: a certificate id is known only once AWS IoT issues the " +
			"certificate from the device's CSR (claim) or registers it at its first connection (JITP), hence cert/*. Groups, " +
			"thing types and policies are exact ARNs; the role cannot create policies, update an existing thing, detach " +
			"anything or reach the quarantine group.",
	},
	{
		Rules: []string{"AwsSolutions-COG4"},
		Where: "command API methods",
		Type:  "AWS::ApiGateway::Method",
		Path:  regexp.MustCompile(`/CommandApi/Resource/Default/devices/`),
		Reason: "Every method requires IAM (SigV4) authorization by design: operators are IAM principals (SSO " +
			"roles) whose policies grant execute-api:Invoke per method, and the audit records their ARN. A Cognito " +
			"user pool would add a second identity store; the api-methods-authorized synth test fails on any other " +
			"authorization type.",
	},
	{
		Rules: []string{"NIST.800.53.R5-APIGWCacheEnabledAndEncrypted"},
		Where: "the command API stage",
		Type:  "AWS::ApiGateway::Stage",
		Path:  regexp.MustCompile(`/CommandApi/Resource/DeploymentStage\.[^/]+/Resource$`),
		Reason: "The API has no cache, so API Gateway keeps no response at rest: commands (POST) must never be " +
			"answered from a cache, and a cached device state would show operators a light as off after they " +
			"switched it on. The method settings test asserts caching stays off.",
	},
	{
		Rules: []string{"NIST.800.53.R5-APIGWSSLEnabled"},
		Where: "the command API stage",
		Type:  "AWS::ApiGateway::Stage",
		Path:  regexp.MustCompile(`/CommandApi/Resource/DeploymentStage\.[^/]+/Resource$`),
		Reason: "A stage client certificate lets an HTTP backend authenticate API Gateway; this API's only " +
			"integration is Lambda proxy (AWS_PROXY), which API Gateway invokes through the Lambda API with SigV4 " +
			"under a resource policy naming the API's methods, so there is no backend to present a certificate to.",
	},
	{
		Rules: []string{"AwsSolutions-IAM5"},
		Where: "the command processor's role (the command topic namespace and things, by pattern)",
		Type:  "AWS::IAM::Policy",
		Path:  regexp.MustCompile(`/CommandApi/Function/ExecutionRole/DefaultPolicy/Resource$`),
		AppliesToPattern: []string{
			`^Resource::arn:` + ArnPart + `:iot:` + ArnPart + `:` + ArnPart + `:thing\/\*$`,
			`^Resource::arn:` + ArnPart + `:iot:` + ArnPart + `:` + ArnPart + `:topic\/city\/things\/\*\/commands$`,
		},
		Reason: "The command API serves every thing of the fleet's classes, including things JITP and claim provisioning " +
			"create at run time, so no ARN can name them: iot:Publish is limited to the command topics " +
			"(city/things/*/commands) and iot:DescribeThing and iot:UpdateThingShadow to the thing family. IAM cannot " +
			"select a thing by its type, so the function looks each thing up (DescribeThing) and refuses, with an " +
			"audit record, any whose thing type is not one of the fleet's classes before it publishes or writes a shadow.",
	},
	{
		Rules:            []string{"AwsSolutions-IAM5"},
		Where:            "the pre-provisioning hook's role (registry reads of the no-hijack check)",
		Type:             "AWS::IAM::Policy",
		Path:             regexp.MustCompile(`/Devices/ProvisioningHook/ExecutionRole/DefaultPolicy/Resource$`),
		AppliesToPattern: []string{`^Resource::arn:` + ArnPart + `:iot:` + ArnPart + `:` + ArnPart + `:(thing|cert)\/\*$`},
		Reason: "The hook refuses a claim for a thing that already has an active certificate: it lists the principals of " +
			"whichever thing the allowlist names (iot:ListThingPrincipals, resource type thing) and reads the status of " +
			"the certificates attached to it (iot:DescribeCertificate, resource type cert). Both are read-only, and " +
			"those things and certificates are created at run time by provisioning, so only thing/* and cert/* can name them.",
	},
	{
		Rules:            []string{"AwsSolutions-IAM5"},
		Where:            "API Gateway's account CloudWatch role (execution and access log groups)",
		Type:             "AWS::IAM::Policy",
		Path:             regexp.MustCompile(`/CommandApi/AccountLogsRole/DefaultPolicy/Resource$`),
		AppliesToPattern: []string{`^Resource::arn:` + ArnPart + `:logs:` + ArnPart + `:` + ArnPart + `:log-group:API-Gateway-(Execution|Access)-Logs_\*(:\*)?$`},
		Reason: "The role is the account and region's one API Gateway CloudWatch role, used for every REST API " +
			"there: API Gateway names execution log groups API-Gateway-Execution-Logs_<api id>/<stage> and creates " +
			"their streams itself, and access log groups follow the same convention. It may only create and write " +
			"to those groups, never read them (unlike AmazonAPIGatewayPushToCloudWatchLogs, which allows both on *).",
	},
}

// Suppress records every accepted finding on the resources it applies to under scope.
func Suppress(scope constructs.Construct) {
	for _, c := range *scope.Node().FindAll(constructs.ConstructOrder_PREORDER) {
		res, ok := c.(awscdk.CfnResource)
		if !ok {
			continue
		}
		path, typ := *c.Node().Path(), *res.CfnResourceType()
		var sups []*cdknag.NagPackSuppression
		for _, a := range AcceptedFindings {
			if (a.Type != "" && a.Type != typ) || (a.Path != nil && !a.Path.MatchString(path)) {
				continue
			}
			var appliesTo *[]any
			if len(a.AppliesTo)+len(a.AppliesToPattern) > 0 {
				var l []any
				for _, x := range a.AppliesTo {
					l = append(l, x)
				}
				for _, x := range a.AppliesToPattern {
					l = append(l, &cdknag.RegexAppliesTo{Regex: jsii.String("/" + x + "/")})
				}
				appliesTo = &l
			}
			for _, id := range a.Rules {
				sups = append(sups, &cdknag.NagPackSuppression{Id: jsii.String(id), Reason: jsii.String(a.Reason), AppliesTo: appliesTo})
			}
		}
		if len(sups) > 0 {
			cdknag.NagSuppressions_AddResourceSuppressions(c, &sups, jsii.Bool(false))
		}
	}
}
