package ingest

import (
	"sort"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/jsii-runtime-go"

	"github.com/secure-smart-city/platform/constructs/golambda"
	"github.com/secure-smart-city/platform/fleetspec"
	"github.com/secure-smart-city/platform/lambdas/telemetry/contract"
	"github.com/secure-smart-city/platform/topics"
)

// Environment variables the construct gives the processor (lambdas/telemetry reads them; the
// names are contract's).

// reservedEnv are the variables Props.Environment may not override.
var reservedEnv = map[string]bool{contract.EnvStateTable: true, contract.EnvArchiveBucket: true, contract.EnvFieldKeyID: true, contract.EnvMode: true, contract.EnvRulePrefix: true}

// Archive prefixes the processor writes under (contract.AcceptedPrefix, contract.RejectedPrefix).

// Actions granted, by purpose; tests compare the synthesized policies with these lists.
var (
	// RulePutActions let a rule put a message on the stream (one record per message).
	RulePutActions = []string{"kinesis:PutRecord"}
	// RuleStreamKeyActions let Kinesis encrypt the record with the stream key for the rule.
	RuleStreamKeyActions = []string{"kms:GenerateDataKey"}
	// RuleErrorActions let a rule's error action send the failure to the dead-letter queue.
	RuleErrorActions = []string{"sqs:SendMessage"}
	// RuleErrorKeyActions let SQS encrypt the message with the queue key for the rule (SQS
	// needs both for a producer of an encrypted queue).
	RuleErrorKeyActions = []string{"kms:GenerateDataKey", "kms:Decrypt"}

	// StateActions are the processor's only table calls: one conditional UpdateItem per
	// thing per batch, and BatchGetItem for the rare item it must read first.
	StateActions = []string{"dynamodb:BatchGetItem", "dynamodb:UpdateItem"}
	// StateKeyActions let DynamoDB use the table key on the processor's behalf.
	StateKeyActions = []string{"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"}
	// ArchivePutActions write batch objects under accepted/ and rejected/.
	ArchivePutActions = []string{"s3:PutObject"}
	// ArchiveHeadActions let the processor ask whether an accepted object exists (HeadObject
	// needs s3:GetObject) when it settles a redelivered record's claim.
	ArchiveHeadActions = []string{"s3:GetObject"}
	// ArchiveListActions make S3 answer 404, not 403, for a missing object, which is how the
	// processor tells "never written" from "not allowed".
	ArchiveListActions = []string{"s3:ListBucket"}
	// ArchiveKeyActions let S3 encrypt new objects with the bucket's key (single-part PUTs).
	ArchiveKeyActions = []string{"kms:GenerateDataKey"}
	// FieldKeyActions make envelope data keys; the processor never decrypts what it seals.
	FieldKeyActions = []string{"kms:GenerateDataKey"}
)

// viaService limits a KMS statement to calls a service makes for the principal in this region.
func viaService(stack awscdk.Stack, service string) *map[string]any {
	return &map[string]any{"StringEquals": map[string]any{
		"kms:ViaService": *awscdk.Fn_Join(jsii.String(""), jsii.Strings(service+".", *stack.Region(), ".amazonaws.com")),
	}}
}

func statement(actions []string, resources []*string, conditions *map[string]any) awsiam.PolicyStatement {
	return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:    jsii.Strings(actions...),
		Resources:  &resources,
		Conditions: conditions,
	})
}

// ruleRole is assumed by AWS IoT for every rule of this construct: the rules' actions are the
// same for every class (one stream or one function, one dead-letter queue), so per-class roles
// would hold identical policies. The trust policy takes only AWS IoT acting for this account
// and for exactly these rules: the AWS IoT guide ("Granting an AWS IoT rule the access it
// requires", and "Cross-service confused deputy prevention") documents the rule's ARN,
// arn:<partition>:iot:<region>:<account>:rule/<rule name>, as the aws:SourceArn AWS IoT sends
// when it assumes a rule's role.
func (in *Ingest) ruleRole(stack awscdk.Stack, classes []string) awsiam.Role {
	rules := make([]string, len(classes))
	for i, c := range classes {
		rules[i] = *stack.FormatArn(&awscdk.ArnComponents{
			Service: jsii.String("iot"), Resource: jsii.String("rule"), ResourceName: jsii.String(topics.RuleName(in.prefix, c)),
			ArnFormat: awscdk.ArnFormat_SLASH_RESOURCE_NAME,
		})
	}
	conditions := map[string]any{
		"StringEquals": map[string]any{"aws:SourceAccount": *stack.Account()},
		"ArnEquals":    map[string]any{"aws:SourceArn": rules},
	}
	return awsiam.NewRole(in.Construct, jsii.String("RuleRole"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("iot.amazonaws.com"), &awsiam.ServicePrincipalOpts{Conditions: &conditions}),
		Description: jsii.String("Runs the actions and error actions of the telemetry topic rules " + in.prefix + "_*; holds only what they need"),
	})
}

// grantSendError lets the rule role's error actions send to the dead-letter queue.
func (in *Ingest) grantSendError(stack awscdk.Stack) {
	in.RuleRole.AddToPrincipalPolicy(statement(RuleErrorActions, []*string{in.RuleErrors.QueueArn()}, nil))
	in.RuleRole.AddToPrincipalPolicy(statement(RuleErrorKeyActions, []*string{in.RuleErrorsKey.KeyArn()}, viaService(stack, "sqs")))
}

// grantPutRecord lets the rule role put records on the stream.
func (in *Ingest) grantPutRecord(stack awscdk.Stack, key awskms.IKey) {
	in.RuleRole.AddToPrincipalPolicy(statement(RulePutActions, []*string{in.Stream.StreamArn()}, nil))
	in.RuleRole.AddToPrincipalPolicy(statement(RuleStreamKeyActions, []*string{key.KeyArn()}, viaService(stack, "kinesis")))
}

func (in *Ingest) processorEnv(p *Props) map[string]string {
	return map[string]string{
		contract.EnvStateTable:    *p.State.TableName(),
		contract.EnvArchiveBucket: *p.Archive.BucketName(),
		contract.EnvFieldKeyID:    *p.FieldKey.KeyArn(),
		contract.EnvMode:          string(p.Mode),
		contract.EnvRulePrefix:    p.RulePrefix,
	}
}

// grantProcessor gives the processor exactly the calls lambdas/telemetry makes besides reading
// the stream (which the event source grants): batch reads and writes on its table, PUTs under
// the archive's two prefixes, existence checks of accepted objects, and data keys of the field
// key bound to the fleet's classes.
func (in *Ingest) grantProcessor(p *Props, fn *golambda.Function) {
	stack := awscdk.Stack_Of(in.Construct)
	add := func(actions []string, resources []*string, conditions *map[string]any) {
		fn.Role.AddToPrincipalPolicy(statement(actions, resources, conditions))
	}
	add(StateActions, []*string{p.State.TableArn()}, nil)
	add(StateKeyActions, []*string{p.StateKey.KeyArn()}, viaService(stack, "dynamodb"))

	bucket := p.Archive
	add(ArchivePutActions, []*string{bucket.ArnForObjects(jsii.String(contract.AcceptedPrefix + "*")), bucket.ArnForObjects(jsii.String(contract.RejectedPrefix + "*"))}, nil)
	add(ArchiveHeadActions, []*string{bucket.ArnForObjects(jsii.String(contract.AcceptedPrefix + "*"))}, nil)
	add(ArchiveListActions, []*string{bucket.BucketArn()}, nil)
	add(ArchiveKeyActions, []*string{p.ArchiveKey.KeyArn()}, viaService(stack, "s3"))

	add(FieldKeyActions, []*string{p.FieldKey.KeyArn()}, FieldKeyConditions(p.Fleet))
}

// FieldKeyConditions bind the processor's data keys to the encryption context the envelope
// package sets, {"thing": <thing>, "class": <class>}: both keys present, no other key, and a
// class of the fleet (or UnknownClass, for sealed rejects whose class could not be told).
func FieldKeyConditions(fleet *fleetspec.Fleet) *map[string]any {
	classes := []string{}
	for _, c := range fleet.Classes {
		classes = append(classes, c.ID)
	}
	sort.Strings(classes)
	classes = append(classes, UnknownClass)
	return &map[string]any{
		"StringEquals":              map[string]any{"kms:EncryptionContext:" + contract.ContextClass: classes},
		"ForAllValues:StringEquals": map[string]any{"kms:EncryptionContextKeys": []string{contract.ContextClass, contract.ContextThing}},
		"Null":                      map[string]any{"kms:EncryptionContext:" + contract.ContextThing: "false"},
	}
}

// Encryption context keys of sensitive-field envelopes (contract.ContextThing, contract.ContextClass).
