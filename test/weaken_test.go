package test

import (
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiot"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskinesis"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/secure-smart-city/platform/compliance"
	"github.com/secure-smart-city/platform/constructs/golambda"
	"github.com/secure-smart-city/platform/constructs/keys"
	"github.com/secure-smart-city/platform/constructs/securestore"
	"github.com/secure-smart-city/platform/fleetspec"
	"github.com/secure-smart-city/platform/policies"
)

// weakening builds, for one check, a construct as the platform builds it and the same
// construct weakened the way a careless change would (an escape-hatch override, a weaker prop).
type weakening struct {
	check string
	build func(s awscdk.Stack, weaken bool)
}

func cfn(c constructs.IConstruct) awscdk.CfnResource {
	return c.Node().DefaultChild().(awscdk.CfnResource)
}

func platformKey(s awscdk.Stack) *keys.Key {
	return keys.New(s, "Key", &keys.Props{Alias: jsii.String("alias/test/" + *s.StackName()), Services: keys.Services[:3]})
}

func bucket(s awscdk.Stack) *securestore.Bucket {
	return securestore.NewBucket(s, "Bucket", &securestore.BucketProps{EncryptionKey: platformKey(s).Resource})
}

func overrideIf(weaken bool, r awscdk.CfnResource, path string, value any) {
	if weaken {
		r.AddPropertyOverride(jsii.String(path), value)
	}
}

func deleteIf(weaken bool, r awscdk.CfnResource, path string) {
	if weaken {
		r.AddPropertyDeletionOverride(jsii.String(path))
	}
}

var weakenings = []weakening{
	{"kms-rotation", func(s awscdk.Stack, w bool) {
		overrideIf(w, cfn(platformKey(s).Resource), "EnableKeyRotation", false)
	}},
	{"kms-retain", func(s awscdk.Stack, w bool) {
		k := platformKey(s)
		if w {
			k.Resource.(awskms.Key).ApplyRemovalPolicy(awscdk.RemovalPolicy_DESTROY)
		}
	}},
	{"kms-service-principals-scoped", func(s awscdk.Stack, w bool) {
		k := platformKey(s)
		if w {
			k.Resource.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("logs.amazonaws.com"), nil)},
				Actions:    jsii.Strings("kms:Decrypt"),
				Resources:  jsii.Strings("*"),
			}), jsii.Bool(false))
		}
	}},
	{"kms-grant-guard", func(s awscdk.Stack, w bool) {
		// Statement 1 is CT.KMS.PR.3 (after the account statement).
		overrideIf(w, cfn(platformKey(s).Resource), "KeyPolicy.Statement.1.Condition.BoolIfExists.kms:GrantIsForAWSResource", "true")
	}},
	{"s3-encryption", func(s awscdk.Stack, w bool) {
		overrideIf(w, cfn(bucket(s).Resource), "BucketEncryption.ServerSideEncryptionConfiguration.0.ServerSideEncryptionByDefault.SSEAlgorithm", "AES256")
	}},
	{"s3-public-access-block", func(s awscdk.Stack, w bool) {
		overrideIf(w, cfn(bucket(s).Resource), "PublicAccessBlockConfiguration.RestrictPublicBuckets", false)
	}},
	{"s3-tls-only", func(s awscdk.Stack, w bool) {
		b := bucket(s)
		if w {
			cfn(b.Resource.Policy()).AddPropertyOverride(jsii.String("PolicyDocument.Statement"), []any{})
		}
	}},
	{"s3-versioning", func(s awscdk.Stack, w bool) { deleteIf(w, cfn(bucket(s).Resource), "VersioningConfiguration") }},
	{"s3-access-logs", func(s awscdk.Stack, w bool) { deleteIf(w, cfn(bucket(s).Resource), "LoggingConfiguration") }},
	{"s3-lifecycle", func(s awscdk.Stack, w bool) { deleteIf(w, cfn(bucket(s).Resource), "LifecycleConfiguration") }},
	{"s3-ownership", func(s awscdk.Stack, w bool) { deleteIf(w, cfn(bucket(s).Resource), "OwnershipControls") }},
	{"dynamodb-cmk", func(s awscdk.Stack, w bool) {
		t := securestore.NewTable(s, "Table", &securestore.TableProps{PartitionKey: "id", EncryptionKey: platformKey(s).Resource})
		deleteIf(w, cfn(t.Resource), "SSESpecification.KMSMasterKeyId")
	}},
	{"dynamodb-pitr", func(s awscdk.Stack, w bool) {
		t := securestore.NewTable(s, "Table", &securestore.TableProps{PartitionKey: "id"})
		overrideIf(w, cfn(t.Resource), "PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled", false)
	}},
	{"dynamodb-prod-protection", func(s awscdk.Stack, w bool) {
		p := &securestore.TableProps{PartitionKey: "id"}
		if w {
			p.DeletionProtection = jsii.Bool(false)
		}
		securestore.NewTable(s, "Table", p)
	}},
	{"sns-cmk", func(s awscdk.Stack, w bool) {
		deleteIf(w, cfn(securestore.NewTopic(s, "Topic", nil).Resource), "KmsMasterKeyId")
	}},
	{"sns-tls-only", func(s awscdk.Stack, w bool) {
		topic := securestore.NewTopic(s, "Topic", nil)
		if w {
			for _, c := range *topic.Resource.Node().Children() {
				if p, ok := c.(awssns.TopicPolicy); ok {
					cfn(p).AddPropertyOverride(jsii.String("PolicyDocument.Statement"), []any{})
				}
			}
		}
	}},
	{"sqs-cmk", func(s awscdk.Stack, w bool) {
		overrideIf(w, cfn(securestore.NewQueue(s, "Queue", nil).Resource), "KmsMasterKeyId", "alias/aws/sqs")
	}},
	{"sqs-tls-only", func(s awscdk.Stack, w bool) {
		q := securestore.NewQueue(s, "Queue", nil)
		if w {
			for _, c := range *q.Resource.Node().Children() {
				if p, ok := c.(awssqs.QueuePolicy); ok {
					cfn(p).AddPropertyOverride(jsii.String("PolicyDocument.Statement"), []any{})
				}
			}
		}
	}},
	// Until the ingestion and processor constructs land, these three prove the checks on
	// plain CDK resources; the constructs' own proofs replace them.
	{"kinesis-cmk", func(s awscdk.Stack, w bool) {
		enc := awskinesis.StreamEncryption_KMS
		if w {
			enc = awskinesis.StreamEncryption_MANAGED
		}
		awskinesis.NewStream(s, jsii.String("Stream"), &awskinesis.StreamProps{Encryption: enc, EncryptionKey: keyIf(!w, s)})
	}},
	{"logs-cmk-retention", func(s awscdk.Stack, w bool) {
		p := &awslogs.LogGroupProps{Retention: awslogs.RetentionDays_ONE_MONTH}
		if !w {
			p.EncryptionKey = platformKey(s).Resource
		}
		awslogs.NewLogGroup(s, jsii.String("Logs"), p)
	}},
	{"iot-rule-error-action", func(s awscdk.Stack, w bool) {
		payload := &awsiot.CfnTopicRule_TopicRulePayloadProperty{
			Sql:     jsii.String("SELECT * FROM 'things/+/telemetry'"),
			Actions: &[]any{map[string]any{"sqs": map[string]any{"queueUrl": "https://sqs", "roleArn": "arn:aws:iam::111111111111:role/r"}}},
		}
		if !w {
			payload.ErrorAction = map[string]any{"sqs": map[string]any{"queueUrl": "https://dlq", "roleArn": "arn:aws:iam::111111111111:role/r"}}
		}
		awsiot.NewCfnTopicRule(s, jsii.String("Rule"), &awsiot.CfnTopicRuleProps{TopicRulePayload: payload})
	}},
	// The override happens after the Checker aspect has read the construct: only the check of
	// the synthesized template (which main.go also runs after synth) sees it.
	{"iot-policy-rules", func(s awscdk.Stack, w bool) {
		p := awsiot.NewCfnPolicy(s, jsii.String("Policy"), &awsiot.CfnPolicyProps{
			PolicyDocument: policies.Device(fleetspec.DeviceClass{ID: "street_light"}).CloudFormation(),
		})
		overrideIf(w, p, "PolicyDocument.Statement.1.Resource", "arn:aws:iot:eu-central-1:111111111111:topic/city/*")
	}},
	{"iam-wildcard-resources", func(s awscdk.Stack, w bool) {
		fn := testFunction(s, "Fn", false)
		if w {
			fn.Role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Actions: jsii.Strings("iot:Publish"), Resources: jsii.Strings("*"),
			}))
		}
	}},
	{"lambda-hardening", func(s awscdk.Stack, w bool) {
		overrideIf(w, cfn(testFunction(s, "Fn", false).Resource), "TracingConfig.Mode", "PassThrough")
	}},
	{"lambda-async-failure-destination", func(s awscdk.Stack, w bool) {
		fn := testFunction(s, "Fn", !w)
		fn.Resource.AddPermission(jsii.String("FromRule"), &awslambda.Permission{
			Principal: awsiam.NewServicePrincipal(jsii.String("iot.amazonaws.com"), nil),
			SourceArn: jsii.String("arn:aws:iot:eu-central-1:111111111111:rule/smartcity_dev_street_light"),
		})
	}},
	{"stream-source-hardening", func(s awscdk.Stack, w bool) {
		fn := testFunction(s, "Fn", false)
		key := keys.New(s, "StreamKey", &keys.Props{Alias: jsii.String("alias/test/stream")})
		fn.AddKinesisSource(awskinesis.NewStream(s, jsii.String("Stream"), &awskinesis.StreamProps{
			Encryption: awskinesis.StreamEncryption_KMS, EncryptionKey: key.Resource, StreamMode: awskinesis.StreamMode_ON_DEMAND,
		}), nil)
		if w {
			for _, c := range *fn.Resource.Node().FindAll(constructs.ConstructOrder_PREORDER) {
				if m, ok := c.(awslambda.CfnEventSourceMapping); ok {
					m.AddPropertyOverride(jsii.String("BisectBatchOnFunctionError"), false)
				}
			}
		}
	}},
}

// testEntry is a real Go function of this module, so construct tests build real binaries.
const testEntry = "lambdas/provisioninghook"

func testFunction(s awscdk.Stack, id string, async bool) *golambda.Function {
	return golambda.New(s, id, &golambda.Props{Entry: testEntry, EncryptionKey: platformKey(s).Resource, Async: async,
		Environment: map[string]string{"ALLOWLIST_TABLE": "allowlist"}})
}

func keyIf(cond bool, s awscdk.Stack) awskms.IKey {
	if !cond {
		return nil
	}
	return platformKey(s).Resource
}

var (
	weakenOnce      sync.Once
	weakenTemplates map[string]compliance.Template
)

// synthWeakenings synthesizes every weakening pair in one app (one synth for all of them).
func synthWeakenings(t *testing.T) map[string]compliance.Template {
	t.Helper()
	weakenOnce.Do(func() {
		app := newApp(t, nil)
		env := &awscdk.Environment{Account: jsii.String(testAccount), Region: jsii.String(testRegion)}
		for _, w := range weakenings {
			for _, weaken := range []bool{false, true} {
				name := "Compliant-" + w.check
				if weaken {
					name = "Weakened-" + w.check
				}
				w.build(awscdk.NewStack(app, jsii.String(name), &awscdk.StackProps{Env: env}), weaken)
			}
		}
		weakenTemplates = map[string]compliance.Template{}
		for _, st := range *synthOrFail(t, app).Stacks() {
			tmpl, err := compliance.FromValue(st.Template())
			if err != nil {
				t.Fatal(err)
			}
			weakenTemplates[*st.StackName()] = tmpl
		}
	})
	return weakenTemplates
}

// TestChecksCatchWeakening proves every secure-default check can fail: the construct as built
// passes it, and the weakened construct is caught.
func TestChecksCatchWeakening(t *testing.T) {
	templates := synthWeakenings(t)
	covered := map[string]bool{}
	for _, w := range weakenings {
		covered[w.check] = true
		t.Run(w.check, func(t *testing.T) {
			c, ok := compliance.ByName(w.check)
			if !ok {
				t.Fatalf("no check named %q", w.check)
			}
			n, v := c.Run(templates["Compliant-"+w.check])
			if n == 0 || len(v) > 0 {
				t.Errorf("compliant construct: inspected %d, violations %v; want > 0 and none", n, v)
			}
			if _, v := c.Run(templates["Weakened-"+w.check]); len(v) == 0 {
				t.Errorf("weakened construct passed %s: the check cannot catch this weakening", w.check)
			}
		})
	}
	for _, c := range compliance.All {
		if !covered[c.Name] {
			t.Errorf("check %s has no weakening proof", c.Name)
		}
	}
}
