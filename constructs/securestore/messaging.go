package securestore

import (
	"regexp"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/secure-smart-city/platform/constructs/keys"
	"github.com/secure-smart-city/platform/internal/propcheck"
)

// QueueProps configures a Queue.
type QueueProps struct {
	// EncryptionKey encrypts messages. Default: - a key is created for this queue.
	EncryptionKey awskms.IKey
	// RetentionDays keeps messages (1 to 14). Default: 14, the SQS maximum, since these
	// queues hold what failed and someone must get to it.
	RetentionDays *int
	// VisibilityTimeoutSeconds. Default: 30.
	VisibilityTimeoutSeconds *int
}

// Queue is an SQS queue encrypted with a customer-managed key that refuses plain-text
// transport; the platform uses it for dead letters and failure destinations.
type Queue struct {
	constructs.Construct
	// Resource is the queue (child id "Resource").
	Resource awssqs.Queue
	// Key encrypts the queue.
	Key awskms.IKey
}

// NewQueue creates an encrypted queue.
func NewQueue(scope constructs.Construct, id string, props *QueueProps) *Queue {
	this := constructs.NewConstruct(scope, jsii.String(id))
	p := QueueProps{}
	if props != nil {
		p = *props
	}
	var errs propcheck.Errors
	defer func() { errs.Attach(this) }()
	retention := 14
	if p.RetentionDays != nil {
		retention = *p.RetentionDays
		if retention < 1 || retention > 14 {
			errs.Addf("securestore: queue RetentionDays %d must be between 1 and 14", retention)
			retention = 14
		}
	}
	visibility := 30
	if p.VisibilityTimeoutSeconds != nil {
		visibility = *p.VisibilityTimeoutSeconds
		if visibility < 0 || visibility > 43200 {
			errs.Addf("securestore: queue VisibilityTimeoutSeconds %d must be between 0 and 43200", visibility)
			visibility = 30
		}
	}
	key := keyOrNew(this, p.EncryptionKey)
	q := awssqs.NewQueue(this, jsii.String("Resource"), &awssqs.QueueProps{
		Encryption:          awssqs.QueueEncryption_KMS,
		EncryptionMasterKey: key,
		EnforceSSL:          jsii.Bool(true),
		RetentionPeriod:     awscdk.Duration_Days(jsii.Number(float64(retention))),
		VisibilityTimeout:   awscdk.Duration_Seconds(jsii.Number(float64(visibility))),
	})
	return &Queue{Construct: this, Resource: q, Key: key}
}

// GrantSendMessages lets grantee send messages and encrypt them.
func (q *Queue) GrantSendMessages(grantee awsiam.IGrantable) awsiam.Grant {
	return q.Resource.GrantSendMessages(grantee)
}

// GrantConsumeMessages lets grantee receive and delete messages and decrypt them.
func (q *Queue) GrantConsumeMessages(grantee awsiam.IGrantable) awsiam.Grant {
	return q.Resource.GrantConsumeMessages(grantee)
}

// MetricMessagesVisible is MetricApproximateNumberOfMessagesVisible, under its older name.
func (q *Queue) MetricMessagesVisible(opts *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return q.MetricApproximateNumberOfMessagesVisible(opts)
}

// MetricApproximateNumberOfMessagesVisible is the number of messages waiting: in a dead-letter
// queue, anything above zero is lost work. Default statistic: Maximum.
func (q *Queue) MetricApproximateNumberOfMessagesVisible(opts *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return q.Resource.MetricApproximateNumberOfMessagesVisible(opts)
}

// MetricApproximateAgeOfOldestMessage is how long the oldest message has waited, in seconds:
// a message nearing RetentionDays is about to be lost for good. Default statistic: Maximum.
func (q *Queue) MetricApproximateAgeOfOldestMessage(opts *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return q.Resource.MetricApproximateAgeOfOldestMessage(opts)
}

// QueueArn is the queue's ARN.
func (q *Queue) QueueArn() *string { return q.Resource.QueueArn() }

// QueueName is the queue's name.
func (q *Queue) QueueName() *string { return q.Resource.QueueName() }

// QueueURL is the queue's URL, which the SQS API takes.
func (q *Queue) QueueURL() *string { return q.Resource.QueueUrl() }

// QueueAttributes name a securestore queue created elsewhere (another stack or app).
type QueueAttributes struct {
	// QueueArn is the queue's ARN. Required.
	QueueArn *string
	// EncryptionKey is the customer-managed key the queue is encrypted with: grants on the
	// imported queue chain this key's grant, as they do on a Queue. Required.
	EncryptionKey awskms.IKey
}

// QueueFromAttributes imports a queue, as awssqs.Queue_FromQueueAttributes does (the construct
// id is the import's), and returns CDK's own IQueue: GrantSendMessages and
// GrantConsumeMessages on it also grant the key (CDK imports the key by its ARN as the child
// "Key"), and it can be passed wherever a construct takes an awssqs.IQueue. Props errors are
// reported at synth time; the returned queue is usable either way.
func QueueFromAttributes(scope constructs.Construct, id string, attrs *QueueAttributes) awssqs.IQueue {
	a := QueueAttributes{}
	if attrs != nil {
		a = *attrs
	}
	var errs propcheck.Errors
	if a.QueueArn == nil {
		errs.Addf("securestore: QueueFromAttributes needs QueueArn")
		a.QueueArn = jsii.String("arn:aws:sqs:us-east-1:000000000000:invalid-queue")
	}
	var keyArn *string
	if a.EncryptionKey == nil {
		errs.Addf("securestore: QueueFromAttributes needs EncryptionKey: securestore queues are encrypted with a customer-managed key, and grants must chain it")
	} else {
		keyArn = a.EncryptionKey.KeyArn()
	}
	q := awssqs.Queue_FromQueueAttributes(scope, jsii.String(id), &awssqs.QueueAttributes{QueueArn: a.QueueArn, KeyArn: keyArn})
	errs.Attach(q)
	return q
}

// TopicProps configures a Topic.
type TopicProps struct {
	// EncryptionKey encrypts messages. Default: - a key is created for this topic, which lets
	// CloudWatch alarms of this account publish.
	EncryptionKey awskms.IKey
	// DisplayName shown in e-mail and SMS notifications. Default: - none.
	DisplayName *string
	// AlarmNamePrefix lets CloudWatch alarms of this account whose names start with it publish
	// (aws:SourceArn, aws:SourceAccount): a topic policy replaces SNS's default one, so without
	// an allow no alarm can notify anyone. Default: - no alarm may publish.
	AlarmNamePrefix *string
	// PublisherRolePath restricts IAM publishers: every principal that is not an AWS service is
	// denied sns:Publish unless it is a role of this account under this IAM path (for example
	// "/smartcity/dev/alert-publishers/"), and every service is denied unless it is one of the
	// allowed alarms. Same-account roles need no topic-policy allow, so only such a Deny keeps
	// other roles with sns:Publish out. Default: - publishers are not restricted.
	PublisherRolePath *string
}

// Topic is an SNS topic encrypted with a customer-managed key whose policy refuses
// plain-text transport.
type Topic struct {
	constructs.Construct
	// Resource is the topic (child id "Resource").
	Resource awssns.Topic
	// Key encrypts the topic.
	Key awskms.IKey
}

// NewTopic creates an encrypted topic. The key must let the publishing services use it (for
// alarms, keys.ServiceCloudWatchAlarms).
func NewTopic(scope constructs.Construct, id string, props *TopicProps) *Topic {
	this := constructs.NewConstruct(scope, jsii.String(id))
	p := TopicProps{}
	if props != nil {
		p = *props
	}
	var errs propcheck.Errors
	defer func() { errs.Attach(this) }()
	if p.DisplayName != nil && !propcheck.IsUnresolved(*p.DisplayName) && len(*p.DisplayName) > 100 {
		errs.Addf("securestore: topic DisplayName %q is longer than 100 characters", *p.DisplayName)
		p.DisplayName = jsii.String((*p.DisplayName)[:100])
	}
	if p.AlarmNamePrefix != nil && *p.AlarmNamePrefix == "" {
		errs.Addf("securestore: topic AlarmNamePrefix is empty: it would let every alarm of the account publish (leave it nil for none)")
		p.AlarmNamePrefix = nil
	}
	if r := p.PublisherRolePath; r != nil && !propcheck.IsUnresolved(*r) && !iamPathPattern.MatchString(*r) {
		errs.Addf("securestore: topic PublisherRolePath %q is not an IAM path (/ or /name/.../)", *r)
		p.PublisherRolePath = jsii.String("/")
	}
	key := keyOrNew(this, p.EncryptionKey, keys.ServiceCloudWatchAlarms)
	t := awssns.NewTopic(this, jsii.String("Resource"), &awssns.TopicProps{
		MasterKey:   key,
		EnforceSSL:  jsii.Bool(true),
		DisplayName: p.DisplayName,
	})
	for _, st := range publisherStatements(this, t.TopicArn(), p) {
		t.AddToResourcePolicy(st)
	}
	return &Topic{Construct: this, Resource: t, Key: key}
}

// Sids of the alert topic's publisher statements.
const (
	AllowAlarmsSid       = "AllowThisStagesAlarms"
	DenyOtherRolesSid    = "DenyPublishersOutsideThePublisherPath"
	DenyOtherServicesSid = "DenyServicesOtherThanThisStagesAlarms"
)

// publisherStatements are the topic policy statements for AlarmNamePrefix and
// PublisherRolePath. A service principal has no aws:PrincipalArn, so the role Deny is limited
// to non-service callers (aws:PrincipalIsAWSService false), or it would block CloudWatch too;
// services get their own Deny, keyed on the alarm ARN. (IAM: AWS global condition context
// keys, aws:PrincipalIsAWSService, aws:PrincipalArn, aws:SourceArn.)
func publisherStatements(scope constructs.Construct, topicArn *string, p TopicProps) []awsiam.PolicyStatement {
	stack := awscdk.Stack_Of(scope)
	partition, region, account := *stack.Partition(), *stack.Region(), *stack.Account()
	var out []awsiam.PolicyStatement
	alarms := ""
	if p.AlarmNamePrefix != nil {
		alarms = "arn:" + partition + ":cloudwatch:" + region + ":" + account + ":alarm:" + *p.AlarmNamePrefix + "*"
		out = append(out, awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String(AllowAlarmsSid),
			Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
			Actions:    jsii.Strings("sns:Publish"),
			Resources:  &[]*string{topicArn},
			Conditions: &map[string]any{
				"ArnLike":      map[string]any{"aws:SourceArn": alarms},
				"StringEquals": map[string]any{"aws:SourceAccount": account},
			},
		}))
	}
	if p.PublisherRolePath != nil {
		out = append(out, awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String(DenyOtherRolesSid),
			Effect:     awsiam.Effect_DENY,
			Principals: &[]awsiam.IPrincipal{awsiam.NewAnyPrincipal()},
			Actions:    jsii.Strings("sns:Publish"),
			Resources:  &[]*string{topicArn},
			Conditions: &map[string]any{
				"Bool":       map[string]any{"aws:PrincipalIsAWSService": "false"},
				"ArnNotLike": map[string]any{"aws:PrincipalArn": "arn:" + partition + ":iam::" + account + ":role" + *p.PublisherRolePath + "*"},
			},
		}))
		// Services: only this stage's alarms (none when AlarmNamePrefix is unset).
		cond := map[string]any{"Bool": map[string]any{"aws:PrincipalIsAWSService": "true"}}
		if alarms != "" {
			cond["ArnNotLike"] = map[string]any{"aws:SourceArn": alarms}
		}
		out = append(out, awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String(DenyOtherServicesSid),
			Effect:     awsiam.Effect_DENY,
			Principals: &[]awsiam.IPrincipal{awsiam.NewAnyPrincipal()},
			Actions:    jsii.Strings("sns:Publish"),
			Resources:  &[]*string{topicArn},
			Conditions: &cond,
		}))
	}
	return out
}

// GrantPublish lets grantee publish and encrypt messages.
func (t *Topic) GrantPublish(grantee awsiam.IGrantable) awsiam.Grant {
	return t.Resource.GrantPublish(grantee)
}

// TopicArn is the topic's ARN.
func (t *Topic) TopicArn() *string { return t.Resource.TopicArn() }

// TopicName is the topic's name.
func (t *Topic) TopicName() *string { return t.Resource.TopicName() }

// MetricNumberOfNotificationsFailed counts messages SNS could not deliver to a subscriber (a
// deleted endpoint, a key the endpoint may not use): an alert that reached no one. Default
// statistic: Sum.
func (t *Topic) MetricNumberOfNotificationsFailed(opts *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return t.Resource.MetricNumberOfNotificationsFailed(opts)
}

// MetricNumberOfMessagesPublished counts messages published to the topic. Default statistic:
// Sum.
func (t *Topic) MetricNumberOfMessagesPublished(opts *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return t.Resource.MetricNumberOfMessagesPublished(opts)
}

// TopicAttributes name a securestore topic created elsewhere (another stack or app).
type TopicAttributes struct {
	// TopicArn is the topic's ARN. Required.
	TopicArn *string
	// EncryptionKey is the customer-managed key the topic is encrypted with: GrantPublish on
	// the imported topic chains this key's grant, as it does on a Topic. Required.
	EncryptionKey awskms.IKey
}

// TopicFromAttributes imports a topic, as awssns.Topic_FromTopicAttributes does (the construct
// id is the import's), and returns CDK's own ITopic: GrantPublish on it also grants the key
// (CDK imports the key by its ARN as the child "Key"), and it can be passed wherever a
// construct takes an awssns.ITopic, for example awscloudwatchactions.NewSnsAction. Props
// errors are reported at synth time; the returned topic is usable either way.
func TopicFromAttributes(scope constructs.Construct, id string, attrs *TopicAttributes) awssns.ITopic {
	a := TopicAttributes{}
	if attrs != nil {
		a = *attrs
	}
	var errs propcheck.Errors
	if a.TopicArn == nil {
		errs.Addf("securestore: TopicFromAttributes needs TopicArn")
		a.TopicArn = jsii.String("arn:aws:sns:us-east-1:000000000000:invalid-topic")
	}
	var keyArn *string
	if a.EncryptionKey == nil {
		errs.Addf("securestore: TopicFromAttributes needs EncryptionKey: securestore topics are encrypted with a customer-managed key, and grants must chain it")
	} else {
		keyArn = a.EncryptionKey.KeyArn()
	}
	t := awssns.Topic_FromTopicAttributes(scope, jsii.String(id), &awssns.TopicAttributes{TopicArn: a.TopicArn, KeyArn: keyArn})
	errs.Attach(t)
	return t
}

// iamPathPattern is an IAM path: "/" or "/segment/.../" (IAM: Paths).
var iamPathPattern = regexp.MustCompile(`^/([\x21-\x2e\x30-\x7e]+/)*$`)
