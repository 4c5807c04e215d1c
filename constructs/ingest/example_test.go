package ingest_test

import (
	"fmt"
	"sort"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"

	"github.com/secure-smart-city/platform/constructs/ingest"
	"github.com/secure-smart-city/platform/fleetspec"
)

// The telemetry path in a team's own stack, against a table, a bucket, keys and a dead-letter
// queue that another stack owns: imported resources do not know their keys, so the keys are
// passed beside them.
func ExampleNew() {
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("Telemetry"), &awscdk.StackProps{
		Env: &awscdk.Environment{Account: jsii.String("111111111111"), Region: jsii.String("eu-west-1")},
	})
	key := func(id, keyID string) awskms.IKey {
		return awskms.Key_FromKeyArn(stack, jsii.String(id), jsii.String("arn:aws:kms:eu-west-1:111111111111:key/"+keyID))
	}
	platformKey := key("PlatformKey", "1111abcd-0000-0000-0000-000000000001")

	telemetry := ingest.New(stack, "Telemetry", &ingest.Props{
		Fleet: &fleetspec.Fleet{
			Name:      "demo",
			Districts: []fleetspec.District{{ID: "centre", Name: "Centre"}},
			Classes: []fleetspec.DeviceClass{{ID: "street_light", Name: "Street light",
				Fields: []fleetspec.Field{{Name: "on", Type: fleetspec.TypeBoolean, Required: true}}}},
		},
		RulePrefix:    "demo_dev",
		EncryptionKey: platformKey,
		State:         awsdynamodb.Table_FromTableArn(stack, jsii.String("State"), jsii.String("arn:aws:dynamodb:eu-west-1:111111111111:table/demo-state")),
		StateKey:      platformKey,
		Archive:       awss3.Bucket_FromBucketName(stack, jsii.String("Archive"), jsii.String("demo-telemetry-archive")),
		ArchiveKey:    platformKey,
		FieldKey:      key("FieldKey", "1111abcd-0000-0000-0000-000000000002"),
		RuleErrors:    awssqs.Queue_FromQueueArn(stack, jsii.String("RuleErrors"), jsii.String("arn:aws:sqs:eu-west-1:111111111111:demo-rule-errors")),
		RuleErrorsKey: platformKey,
	})
	fmt.Println(telemetry.RuleName("street_light"))

	template := app.Synth(nil).GetStackByName(jsii.String("Telemetry")).Template()
	count := map[string]int{}
	for _, r := range template.(map[string]any)["Resources"].(map[string]any) {
		count[r.(map[string]any)["Type"].(string)]++
	}
	var types []string
	for t, n := range count {
		types = append(types, fmt.Sprintf("%s x%d", t, n))
	}
	sort.Strings(types)
	for _, t := range types {
		fmt.Println(t)
	}
	// Output:
	// demo_dev_street_light
	// AWS::IAM::Policy x2
	// AWS::IAM::Role x2
	// AWS::IoT::TopicRule x1
	// AWS::Kinesis::Stream x1
	// AWS::Lambda::EventSourceMapping x1
	// AWS::Lambda::Function x1
	// AWS::Logs::LogGroup x1
	// AWS::SQS::Queue x1
	// AWS::SQS::QueuePolicy x1
}
