package stacks

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/secure-smart-city/platform/constructs/keys"
	"github.com/secure-smart-city/platform/constructs/securestore"
)

// Foundation holds the platform's state: keys, the telemetry archive, tables and the alert
// topic. Nothing stateless lives here, so the other stacks can be replaced freely.
type Foundation struct {
	awscdk.Stack
	// PlatformKey encrypts every store at rest (S3, DynamoDB, SQS, SNS, Kinesis, logs).
	PlatformKey *keys.Key
	// FieldKey envelope-encrypts sensitive telemetry fields; only the processors that write
	// them and the people who may read them get to use it.
	FieldKey *keys.Key
	// Archive holds raw telemetry, one object per batch, and rejected records.
	Archive *securestore.Bucket
	// DeviceState holds each device's latest accepted telemetry (item pk=<thing>, sk="state"),
	// which the command API reads, and the telemetry processor's deduplication markers
	// (sk="msg#<id>", expiring through the TTL attribute "expiresAt").
	DeviceState *securestore.Table
	// ProvisioningAllowlist admits devices to fleet provisioning by serial (partition key
	// "serial"); the pre-provisioning hook marks each serial provisioned exactly once.
	ProvisioningAllowlist *securestore.Table
	// CommandAudit records every operator command: who, what, when and the outcome (partition
	// key "thingName", sort key "requestKey" = "<requestedAt>#<requestId>").
	CommandAudit *securestore.Table
	// AlertTopic receives every alarm and security finding.
	AlertTopic *securestore.Topic
	// AlertPublisherPath is the IAM path of the only roles the alert topic lets publish
	// (Device Defender's notification and finding roles); see securestore.TopicProps.
	AlertPublisherPath string
}

// NewFoundation builds the Foundation stack.
func NewFoundation(scope constructs.Construct, cfg Config) *Foundation {
	stack := awscdk.NewStack(scope, jsii.String(cfg.StackName("Foundation")),
		cfg.stackProps("Foundation", "Smart city IoT platform: keys, encrypted stores and the alert topic"))
	f := &Foundation{Stack: stack}
	billing := cfg.Billing()

	f.PlatformKey = keys.New(stack, "PlatformKey", &keys.Props{
		Alias:       jsii.String(cfg.AliasPrefix() + "platform"),
		Description: jsii.String("Encrypts the smart city platform's stores at rest (" + string(cfg.Stage) + ")"),
		Services:    []keys.Service{keys.ServiceLogs, keys.ServiceCloudWatchAlarms},
	})
	f.FieldKey = keys.New(stack, "FieldKey", &keys.Props{
		Alias:       jsii.String(cfg.AliasPrefix() + "sensitive-fields"),
		Description: jsii.String("Envelope-encrypts sensitive telemetry fields (" + string(cfg.Stage) + ")"),
	})

	f.Archive = securestore.NewBucket(stack, "TelemetryArchive", &securestore.BucketProps{
		EncryptionKey: f.PlatformKey.Resource,
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
		// accepted/ and rejected/ expire after the stage's retention (retention.go).
		Lifecycle: cfg.ArchiveLifecycle(),
	})
	f.DeviceState = securestore.NewTable(stack, "DeviceState", &securestore.TableProps{
		PartitionKey:        "pk",
		SortKey:             "sk",
		TimeToLiveAttribute: "expiresAt",
		EncryptionKey:       f.PlatformKey.Resource,
		RemovalPolicy:       cfg.DataRemovalPolicy(),
		Capacity:            billing.stateCapacity(),
	})
	f.ProvisioningAllowlist = securestore.NewTable(stack, "ProvisioningAllowlist", &securestore.TableProps{
		PartitionKey:  "serial",
		EncryptionKey: f.PlatformKey.Resource,
		RemovalPolicy: cfg.DataRemovalPolicy(),
		Capacity:      billing.quietCapacity(),
	})
	f.CommandAudit = securestore.NewTable(stack, "CommandAudit", &securestore.TableProps{
		PartitionKey:  "thingName",
		SortKey:       "requestKey",
		EncryptionKey: f.PlatformKey.Resource,
		// The trail of who commanded what outlives the stack in every stage, dev included
		// (RETAIN also turns deletion protection on).
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
		Capacity:      billing.quietCapacity(),
	})
	f.CommandAudit.Resource.AddToResourcePolicy(AuditAppendOnly())
	f.AlertPublisherPath = "/smartcity/" + string(cfg.Stage) + "/alert-publishers/"
	f.AlertTopic = securestore.NewTopic(stack, "AlertTopic", &securestore.TopicProps{
		EncryptionKey: f.PlatformKey.Resource,
		DisplayName:   jsii.String("Smart city alerts (" + string(cfg.Stage) + ")"),
		// Every alarm of the stage is named cfg.AlarmPrefix()-<name>.
		AlarmNamePrefix:   jsii.String(cfg.AlarmPrefix() + "-"),
		PublisherRolePath: jsii.String(f.AlertPublisherPath),
	})
	return f
}

// AuditDeniedActions are the item writes that could change or remove an audit record; the
// audit table's resource policy denies them to every principal, the command function
// included. PartiQL's UPDATE and DELETE are separate IAM actions from UpdateItem and
// DeleteItem (DynamoDB developer guide, "IAM policies with PartiQL for DynamoDB"), so they are
// denied too. PutItem stays: the function appends records with it, always conditioned on
// attribute_not_exists, which IAM cannot require (README, "Residual risks").
var AuditDeniedActions = []string{
	"dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem",
	"dynamodb:PartiQLUpdate", "dynamodb:PartiQLDelete",
}

// AuditAppendOnlySid is the Sid of the audit table's resource policy statement.
const AuditAppendOnlySid = "AuditRecordsAreAppendOnly"

// AuditAppendOnly is the audit table's resource policy statement. Its resource is "*": the
// table's own ARN cannot be named in its own AWS::DynamoDB::Table ResourcePolicy without a
// circular reference (the table name is generated, and naming it would replace the table).
// AWS's examples name the table's ARN ("DynamoDB resource-based policy examples": an ARN
// takes effect only if it matches the resource the policy is attached to) and do not document
// "*"; CDK's integration test for table resource policies (aws/aws-cdk PR 30251) deploys "*".
// A policy in a resource's own policy applies to that resource only, so "*" cannot widen it.
func AuditAppendOnly() awsiam.PolicyStatement {
	return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String(AuditAppendOnlySid),
		Effect:     awsiam.Effect_DENY,
		Principals: &[]awsiam.IPrincipal{awsiam.NewAnyPrincipal()},
		Actions:    jsii.Strings(AuditDeniedActions...),
		Resources:  jsii.Strings("*"),
	})
}
