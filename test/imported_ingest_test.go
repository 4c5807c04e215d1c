package test

import (
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"

	"github.com/secure-smart-city/platform/compliance"
	"github.com/secure-smart-city/platform/constructs/ingest"
)

// Imported resources of another team's account, as ARNs and names.
const (
	importedStateArn      = "arn:aws:dynamodb:" + testRegion + ":" + testAccount + ":table/city-state"
	importedStateKeyArn   = "arn:aws:kms:" + testRegion + ":" + testAccount + ":key/00000000-0000-0000-0000-00000000000a"
	importedArchive       = "city-telemetry-archive"
	importedArchiveKeyArn = "arn:aws:kms:" + testRegion + ":" + testAccount + ":key/00000000-0000-0000-0000-00000000000b"
	importedPlatformArn   = "arn:aws:kms:" + testRegion + ":" + testAccount + ":key/00000000-0000-0000-0000-00000000000c"
	importedFieldKeyArn   = "arn:aws:kms:" + testRegion + ":" + testAccount + ":key/00000000-0000-0000-0000-00000000000d"
	importedQueueArn      = "arn:aws:sqs:" + testRegion + ":" + testAccount + ":city-rule-errors"
	importedQueueKeyArn   = "arn:aws:kms:" + testRegion + ":" + testAccount + ":key/00000000-0000-0000-0000-00000000000e"
)

// importedIngestProps are props made only of imported resources, in a bare stack.
func importedIngestProps(s awscdk.Stack, mode ingest.Mode) *ingest.Props {
	key := func(id, arn string) awskms.IKey { return awskms.Key_FromKeyArn(s, jsii.String(id), jsii.String(arn)) }
	return &ingest.Props{
		Fleet:         ingestFleet(),
		RulePrefix:    "othercity_dev",
		Mode:          mode,
		EncryptionKey: key("PlatformKey", importedPlatformArn),
		State:         awsdynamodb.Table_FromTableArn(s, jsii.String("State"), jsii.String(importedStateArn)),
		StateKey:      key("StateKey", importedStateKeyArn),
		Archive:       awss3.Bucket_FromBucketName(s, jsii.String("Archive"), jsii.String(importedArchive)),
		ArchiveKey:    key("ArchiveKey", importedArchiveKeyArn),
		FieldKey:      key("FieldKey", importedFieldKeyArn),
		RuleErrors:    awssqs.Queue_FromQueueArn(s, jsii.String("RuleErrors"), jsii.String(importedQueueArn)),
		RuleErrorsKey: key("RuleErrorsKey", importedQueueKeyArn),
		Entry:         testEntry,
	}
}

// TestImportedIngest: the construct builds in a stack of its own from imported resources
// only, in both modes, synthesizes without errors, and grants the keys passed beside the
// imported table, bucket and queue (which do not know their keys) through their services.
func TestImportedIngest(t *testing.T) {
	for _, mode := range []ingest.Mode{ingest.ModeStream, ingest.ModeDirect} {
		t.Run(string(mode), func(t *testing.T) {
			app := newApp(t, nil)
			s := awscdk.NewStack(app, jsii.String("ImportedIngest"), &awscdk.StackProps{
				Env: &awscdk.Environment{Account: jsii.String(testAccount), Region: jsii.String(testRegion)},
			})
			in := ingest.New(s, "Telemetry", importedIngestProps(s, mode))
			if got := validationErrors(in); got != "" {
				t.Fatalf("props errors: %s", got)
			}
			asm := synthOrFail(t, app)
			defer func() { _ = os.RemoveAll(*asm.Directory()) }()
			tmpl, err := compliance.FromValue(asm.GetStackByName(jsii.String("ImportedIngest")).Template())
			if err != nil {
				t.Fatal(err)
			}
			if n := len(tmpl.Resources("AWS::IoT::TopicRule")); n != 2 {
				t.Errorf("%d topic rules, want 2", n)
			}
			// Only the construct's own queue (the processor's failures): RuleErrors is imported.
			if n := len(tmpl.Resources("AWS::SQS::Queue")); n != 1 {
				t.Errorf("%d queues, want the processor's failure queue only", n)
			}
			var text strings.Builder
			for _, p := range tmpl.Resources("AWS::IAM::Policy") {
				text.WriteString(refText(p.Properties))
			}
			for what, arn := range map[string]string{"state table key": importedStateKeyArn, "archive key": importedArchiveKeyArn, "field key": importedFieldKeyArn, "rule errors key": importedQueueKeyArn, "state table": importedStateArn, "rule errors queue": importedQueueArn} {
				if !strings.Contains(text.String(), arn) {
					t.Errorf("no policy grants the imported %s %s", what, arn)
				}
			}
		})
	}
}

// TestImportedIngestNeedsKeys: an imported table, bucket or queue does not know its key, so
// leaving the key out is an error naming the prop (the processor's and rules' calls would be
// refused by KMS otherwise).
func TestImportedIngestNeedsKeys(t *testing.T) {
	app := newApp(t, nil)
	s := awscdk.NewStack(app, jsii.String("ImportedIngestKeys"), nil)
	p := importedIngestProps(s, ingest.ModeDirect)
	p.StateKey, p.ArchiveKey, p.RuleErrorsKey = nil, nil, nil
	in := ingest.New(s, "Telemetry", p)
	got := validationErrors(in)
	for _, w := range []string{"StateKey is required when State does not know its key", "ArchiveKey is required when Archive does not know its key", "RuleErrorsKey is required when RuleErrors does not know its key"} {
		if !strings.Contains(got, w) {
			t.Errorf("errors %q do not contain %q", got, w)
		}
	}
	checkSafe(t, in)
}
