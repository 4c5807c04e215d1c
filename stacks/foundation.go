package stacks

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
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
		EncryptionKey: f.PlatformKey.Key,
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
		// accepted/ and rejected/ expire after the stage's retention (retention.go).
		Lifecycle: cfg.ArchiveLifecycle(),
	})
	f.DeviceState = securestore.NewTable(stack, "DeviceState", &securestore.TableProps{
		PartitionKey:        "pk",
		SortKey:             "sk",
		TimeToLiveAttribute: "expiresAt",
		EncryptionKey:       f.PlatformKey.Key,
		RemovalPolicy:       cfg.DataRemovalPolicy(),
		Capacity:            billing.stateCapacity(),
	})
	f.ProvisioningAllowlist = securestore.NewTable(stack, "ProvisioningAllowlist", &securestore.TableProps{
		PartitionKey:  "serial",
		EncryptionKey: f.PlatformKey.Key,
		RemovalPolicy: cfg.DataRemovalPolicy(),
		Capacity:      billing.quietCapacity(),
	})
	f.CommandAudit = securestore.NewTable(stack, "CommandAudit", &securestore.TableProps{
		PartitionKey:  "thingName",
		SortKey:       "requestKey",
		EncryptionKey: f.PlatformKey.Key,
		RemovalPolicy: cfg.DataRemovalPolicy(),
		Capacity:      billing.quietCapacity(),
	})
	f.AlertTopic = securestore.NewTopic(stack, "AlertTopic", &securestore.TopicProps{
		EncryptionKey: f.PlatformKey.Key,
		DisplayName:   jsii.String("Smart city alerts (" + string(cfg.Stage) + ")"),
	})
	return f
}
