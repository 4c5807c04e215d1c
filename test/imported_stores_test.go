package test

import (
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/secure-smart-city/platform/compliance"
	"github.com/secure-smart-city/platform/constructs/keys"
	"github.com/secure-smart-city/platform/constructs/ota"
	"github.com/secure-smart-city/platform/constructs/securestore"
)

const (
	importedKeyArn         = "arn:aws:kms:" + testRegion + ":" + testAccount + ":key/1234abcd-12ab-34cd-56ef-1234567890ab"
	importedTableArn       = "arn:aws:dynamodb:" + testRegion + ":" + testAccount + ":table/team-state"
	importedDeadLettersArn = "arn:aws:sqs:" + testRegion + ":" + testAccount + ":team-dead-letters"
	importedTopicArn       = "arn:aws:sns:" + testRegion + ":" + testAccount + ":team-alerts"
	importedCertArn        = "arn:aws:acm:" + testRegion + ":" + testAccount + ":certificate/12345678-1234-1234-1234-123456789012"
)

func importedEnv() *awscdk.StackProps {
	return &awscdk.StackProps{Env: &awscdk.Environment{Account: jsii.String(testAccount), Region: jsii.String(testRegion)}}
}

// TestImportedStoresBareStack: another team's stack builds every securestore, keys and ota
// construct on resources it only imports (a key, an access-log bucket, a firmware bucket, an
// alert topic) and synthesizes with no error; no key is created, since every store brings one.
func TestImportedStoresBareStack(t *testing.T) {
	app := newApp(t, nil)
	stack := awscdk.NewStack(app, jsii.String("TeamStores"), importedEnv())
	key := awskms.Key_FromKeyArn(stack, jsii.String("TeamKey"), jsii.String(importedKeyArn))
	logs := awss3.Bucket_FromBucketName(stack, jsii.String("TeamAccessLogs"), jsii.String("team-access-logs"))
	firmware := awss3.Bucket_FromBucketName(stack, jsii.String("TeamFirmware"), jsii.String("team-firmware"))
	alerts := awssns.Topic_FromTopicArn(stack, jsii.String("TeamAlerts"), jsii.String(importedTopicArn))
	reader := awsiam.NewRole(stack, jsii.String("Reader"), &awsiam.RoleProps{AssumedBy: awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil)})

	brought := keys.New(stack, "Brought", &keys.Props{Key: key})
	bucket := securestore.NewBucket(stack, "Bucket", &securestore.BucketProps{EncryptionKey: brought.Resource, AccessLogs: logs})
	table := securestore.NewTable(stack, "Table", &securestore.TableProps{PartitionKey: "id", EncryptionKey: key})
	queue := securestore.NewQueue(stack, "Queue", &securestore.QueueProps{EncryptionKey: key, RetentionDays: intp(1), VisibilityTimeoutSeconds: intp(0)})
	topic := securestore.NewTopic(stack, "Topic", &securestore.TopicProps{EncryptionKey: key, AlarmNamePrefix: jsii.String("Team-"),
		PublisherRolePath: jsii.String("/team/publishers/")})
	store := ota.NewFirmwareStore(stack, "Firmware", &ota.StoreProps{EncryptionKey: key, AccessLogs: logs})
	updates := ota.New(stack, "Ota", &ota.Props{Fleet: devFleet(t), NamePrefix: "team_dev", FirmwareBucket: firmware, FirmwareKey: key,
		CodeSigningCertificateArn: jsii.String(importedCertArn), AlarmAction: awscloudwatchactions.NewSnsAction(alerts)})

	bucket.GrantRead(reader, "*")
	table.GrantReadData(reader)
	queue.GrantConsumeMessages(reader)
	topic.GrantPublish(reader)
	store.GrantRead(reader, ota.FirmwarePrefix+"*")
	updates.GrantStartSigningJob(reader)
	for id, m := range map[string]awscloudwatch.IMetric{
		"TableSystemErrors": table.MetricSystemErrors(nil), "TableUserErrors": table.MetricUserErrors(nil),
		"QueueAge": queue.MetricApproximateAgeOfOldestMessage(nil), "TopicFailed": topic.MetricNumberOfNotificationsFailed(nil),
		"JobFailed": updates.MetricJobExecutions(ota.MetricFailedExecutions, "release-1", nil),
	} {
		awscloudwatch.NewAlarm(stack, jsii.String(id), &awscloudwatch.AlarmProps{Metric: m, Threshold: jsii.Number(1), EvaluationPeriods: jsii.Number(1)})
	}
	for _, c := range []constructs.IConstruct{brought, bucket, table, queue, topic, store, updates} {
		if errs := validationErrors(c); errs != "" {
			t.Errorf("%s: %s", *c.Node().Path(), errs)
		}
	}

	tmpl := templateOf(t, app, "TeamStores")
	if n := len(tmpl.Resources("AWS::KMS::Key")); n != 0 {
		t.Errorf("%d keys created in a stack that brings its key", n)
	}
	if n := len(tmpl.Resources("AWS::IoT::JobTemplate")); n != len(devFleet(t).Classes) {
		t.Errorf("%d job templates on an imported firmware bucket, want one per class", n)
	}
	grants := grantsByAction(tmpl, idByPrefix(t, tmpl, "AWS::IAM::Role", "Reader"))
	profile := "arn:aws:signer:" + testRegion + ":" + testAccount + ":/signing-profiles/team_dev_firmware"
	if got := grants["signer:StartSigningJob"]; len(got) != 1 || got[0] != profile {
		t.Errorf("GrantStartSigningJob: signer:StartSigningJob on %v, want only %s", got, profile)
	}
	if got := grants["kms:Decrypt"]; !contains(got, importedKeyArn) {
		t.Errorf("grants on stores built on an imported key: kms:Decrypt on %v, want %s", got, importedKeyArn)
	}
	for _, b := range tmpl.Resources("AWS::S3::Bucket") {
		if dest := lit(compliance.Get(b.Properties, "LoggingConfiguration", "DestinationBucketName")); dest != "team-access-logs" {
			t.Errorf("bucket %s logs to %q, want the imported team-access-logs", b.ID, dest)
		}
	}
}

// TestImportedStoresGrantsChainKey: a stack that only references the stores of another stack
// (securestore.*FromAttributes, keys.FromKeyArn) grants a role access, and each grant also
// allows kms:Decrypt on the stores' key, as grants on the constructs themselves do.
func TestImportedStoresGrantsChainKey(t *testing.T) {
	app := newApp(t, nil)
	stack := awscdk.NewStack(app, jsii.String("TeamConsumers"), importedEnv())
	key := keys.FromKeyArn(stack, "StoresKey", importedKeyArn)
	role := func(id string) awsiam.Role {
		return awsiam.NewRole(stack, jsii.String(id), &awsiam.RoleProps{AssumedBy: awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil)})
	}
	table := securestore.TableFromAttributes(stack, "State", &securestore.TableAttributes{TableArn: jsii.String(importedTableArn), EncryptionKey: key.Resource})
	bucket := securestore.BucketFromAttributes(stack, "Archive", &securestore.BucketAttributes{BucketName: jsii.String("team-archive"), EncryptionKey: key.Resource})
	queue := securestore.QueueFromAttributes(stack, "DeadLetters", &securestore.QueueAttributes{QueueArn: jsii.String(importedDeadLettersArn), EncryptionKey: key.Resource})
	topic := securestore.TopicFromAttributes(stack, "Alerts", &securestore.TopicAttributes{TopicArn: jsii.String(importedTopicArn), EncryptionKey: key.Resource})
	table.GrantReadData(role("TableReader"))
	bucket.GrantRead(role("BucketReader"), jsii.String("*"))
	queue.GrantConsumeMessages(role("QueueConsumer"))
	topic.GrantPublish(role("TopicPublisher"))
	key.GrantDecrypt(role("KeyUser"))
	for _, c := range []constructs.IConstruct{key, table, bucket, queue, topic} {
		if errs := validationErrors(c); errs != "" {
			t.Errorf("%s: %s", *c.Node().Path(), errs)
		}
	}

	tmpl := templateOf(t, app, "TeamConsumers")
	for _, r := range []string{"TableReader", "BucketReader", "QueueConsumer", "TopicPublisher", "KeyUser"} {
		roleID := idByPrefix(t, tmpl, "AWS::IAM::Role", r)
		grants := grantsByAction(tmpl, roleID)
		if !contains(grants["kms:Decrypt"], importedKeyArn) {
			t.Errorf("%s: kms:Decrypt on %v, want the imported key %s", r, grants["kms:Decrypt"], importedKeyArn)
		}
	}
	if got := grantsByAction(tmpl, idByPrefix(t, tmpl, "AWS::IAM::Role", "TopicPublisher"))["kms:GenerateDataKey*"]; !contains(got, importedKeyArn) {
		t.Errorf("TopicPublisher: kms:GenerateDataKey* on %v, want the imported key", got)
	}
}

// TestImportedStoresPropsErrors: an import without what its grants need is refused at synth,
// with a message naming the missing attribute, and still returns a usable value.
func TestImportedStoresPropsErrors(t *testing.T) {
	stack := awscdk.NewStack(awscdk.NewApp(nil), jsii.String("BadImports"), nil)
	key := keys.FromKeyArn(stack, "BadKey", "arn:aws:iam::111111111111:role/not-a-key")
	cases := map[string]struct {
		c    constructs.IConstruct
		want string
	}{
		"key":         {key, `KeyArn "arn:aws:iam::111111111111:role/not-a-key" is not a KMS key ARN`},
		"key alias":   {keys.FromAttributes(stack, "BadAlias", &keys.Attributes{KeyArn: jsii.String(importedKeyArn), AliasName: jsii.String("alias/aws/s3")}), "reserved alias/aws/ prefix"},
		"table":       {securestore.TableFromAttributes(stack, "T", &securestore.TableAttributes{TableArn: jsii.String(importedTableArn)}), "TableFromAttributes needs EncryptionKey"},
		"table name":  {securestore.TableFromAttributes(stack, "T2", &securestore.TableAttributes{EncryptionKey: key.Resource}), "needs TableArn or TableName"},
		"bucket":      {securestore.BucketFromAttributes(stack, "B", nil), "needs BucketName or BucketArn"},
		"queue":       {securestore.QueueFromAttributes(stack, "Q", &securestore.QueueAttributes{EncryptionKey: key.Resource}), "QueueFromAttributes needs QueueArn"},
		"topic":       {securestore.TopicFromAttributes(stack, "Tp", &securestore.TopicAttributes{TopicArn: jsii.String(importedTopicArn)}), "TopicFromAttributes needs EncryptionKey"},
		"topic props": {securestore.NewTopic(stack, "Tp2", &securestore.TopicProps{EncryptionKey: key.Resource, PublisherRolePath: jsii.String("publishers")}), `PublisherRolePath "publishers" is not an IAM path`},
		"ota":         {ota.New(stack, "Ota", nil), "ota: props are required"},
	}
	for name, c := range cases {
		if got := validationErrors(c.c); !strings.Contains(got, c.want) {
			t.Errorf("%s: errors %q, want %q", name, got, c.want)
		}
	}
	if key.Resource == nil || key.KeyArn() == nil {
		t.Error("an invalid import returned no key")
	}
	o := ota.New(stack, "OtaEmpty", &ota.Props{})
	if o.SigningProfile == nil || o.SigningProfileRole == nil || o.Dashboard == nil || len(o.Alarms) != 3 || o.Templates == nil {
		t.Errorf("ota.New with empty props returned missing fields: %+v", o)
	}
	got := validationErrors(o)
	for _, want := range []string{"Fleet with at least one class", "FirmwareBucket is required", "FirmwareKey is required",
		"CodeSigningCertificateArn is required", "NamePrefix is required"} {
		if !strings.Contains(got, want) {
			t.Errorf("ota.New with empty props: errors %q lack %q (every error at once)", got, want)
		}
	}
}
