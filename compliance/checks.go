package compliance

import (
	"fmt"
	"strings"

	"github.com/secure-smart-city/platform/policies"
)

// Check is one secure default.
type Check struct {
	// Name identifies the check in test names.
	Name string
	// Default is the secure default it holds the app to, in the words of the README's "Secure by
	// default, and proved" section.
	Default string
	// ProdOnly checks apply only to the prod stage's templates.
	ProdOnly bool
	// Run inspects t and returns how many resources it looked at and what violates the default.
	Run func(t Template) (inspected int, violations []string)
}

// All is every secure-default check.
var All = []Check{
	{Name: "kms-rotation", Default: "customer-managed KMS keys rotate", Run: kmsRotation},
	{Name: "kms-retain", Default: "KMS keys are retained when their stack is deleted", Run: kmsRetain},
	{Name: "kms-service-principals-scoped", Default: "key policies grant service principals only with conditions that scope them to this account", Run: kmsServicePrincipalsScoped},
	{Name: "s3-encryption", Default: "S3 uses SSE-KMS with a customer-managed key and a bucket key (access-log targets: SSE-S3)", Run: s3Encryption},
	{Name: "s3-public-access-block", Default: "S3 blocks all public access", Run: s3PublicAccessBlock},
	{Name: "s3-tls-only", Default: "S3 bucket policies deny non-TLS requests and TLS below 1.2", Run: s3TLSOnly},
	{Name: "s3-versioning", Default: "S3 buckets are versioned", Run: s3Versioning},
	{Name: "s3-access-logs", Default: "S3 data buckets write server access logs", Run: s3AccessLogs},
	{Name: "s3-lifecycle", Default: "S3 buckets expire noncurrent versions", Run: s3Lifecycle},
	{Name: "s3-ownership", Default: "S3 buckets enforce bucket-owner object ownership (no ACLs)", Run: s3Ownership},
	{Name: "dynamodb-cmk", Default: "DynamoDB tables are encrypted with a customer-managed key", Run: dynamoCMK},
	{Name: "dynamodb-pitr", Default: "DynamoDB tables have point-in-time recovery", Run: dynamoPITR},
	{Name: "dynamodb-prod-protection", Default: "prod DynamoDB tables have deletion protection and are retained", ProdOnly: true, Run: dynamoProdProtection},
	{Name: "sns-cmk", Default: "SNS topics are encrypted with a customer-managed key", Run: snsCMK},
	{Name: "sns-tls-only", Default: "SNS topic policies deny non-TLS publishing", Run: snsTLSOnly},
	{Name: "sqs-cmk", Default: "SQS queues are encrypted with a customer-managed key", Run: sqsCMK},
	{Name: "sqs-tls-only", Default: "SQS queue policies deny non-TLS requests", Run: sqsTLSOnly},
	{Name: "kinesis-cmk", Default: "Kinesis streams are encrypted with a customer-managed key", Run: kinesisCMK},
	{Name: "logs-cmk-retention", Default: "CloudWatch log groups are encrypted with a customer-managed key and have a retention", Run: logsCMKRetention},
	{Name: "iot-rule-error-action", Default: "every topic rule has an error action", Run: iotRuleErrorAction},
	{Name: "iot-policy-rules", Default: "IoT policies pass the platform's policy rules (Device Defender's criteria and more) as deployed, overrides included", Run: iotPolicyRules},
	{Name: "iam-wildcard-resources", Default: "no IAM statement allows Resource * except for actions that have no resource-level permissions", Run: iamWildcardResources},
	{Name: "lambda-hardening", Default: "Go functions: active tracing, JSON logs, bounded concurrency, KMS-encrypted environment", Run: lambdaHardening},
	{Name: "lambda-async-failure-destination", Default: "every asynchronously invoked function has an on-failure destination", Run: lambdaAsyncFailureDestination},
	{Name: "stream-source-hardening", Default: "stream consumers batch (>= 100), bisect on error, retry a bounded number of times, report partial failures and send what still fails to a queue", Run: streamSourceHardening},
	{Name: "api-methods-authorized", Default: "every API Gateway method requires IAM (SigV4) authorization; only an OPTIONS mock (CORS preflight) may not", Run: apiMethodsAuthorized},
	{Name: "lambda-iot-permission-scoped", Default: "a Lambda permission for AWS IoT (a topic rule) names principal iot.amazonaws.com, the source ARN and the source account (cfn-lint W3664)", Run: lambdaIoTPermissionScoped},
	{Name: "iam-service-trust-conditioned", Default: "every role a service assumes, other than Lambda execution roles, trusts it only under a confused-deputy condition (aws:SourceArn or aws:SourceAccount)", Run: serviceTrustConditioned},
	{Name: "kms-grant-guard", Default: "every key policy denies kms:CreateGrant unless the grant is for an AWS resource (Control Tower CT.KMS.PR.3)", Run: kmsGrantGuard},
}

// UnreservedConcurrencyMetadata is the metadata key the app sets on a function it left without
// reserved concurrency because the account's concurrency budget could not hold it.
const UnreservedConcurrencyMetadata = "smartcity:unreservedConcurrency"

// UnscopableActions have no resource-level permissions, so only they may use Resource "*".
var UnscopableActions = map[string]bool{
	"xray:PutTraceSegments":    true,
	"xray:PutTelemetryRecords": true,
	"iot:DescribeEndpoint":     true,
	"cloudwatch:PutMetricData": true,
	// Device Defender remediation: none of these has a resource type in the Service
	// Authorization Reference (AWS IoT, CloudWatch), so they can only name "*".
	"iot:ListAuditFindings":               true,
	"iot:StartAuditMitigationActionsTask": true,
	"iot:ListPrincipalThings":             true,
	"iot:ListThingPrincipals":             true,
	"iot:SetV2LoggingOptions":             true,
	"cloudwatch:GetMetricData":            true,
	// The quarantine function reads its Logs Insights query's results by query id; the
	// action has no resource type (Service Authorization Reference, CloudWatch Logs).
	"logs:GetQueryResults": true,
}

// asyncInvokers invoke Lambda asynchronously: IoT topic rules, SNS, EventBridge, S3.
var asyncInvokers = map[string]bool{
	"iot.amazonaws.com": true, "sns.amazonaws.com": true, "events.amazonaws.com": true, "s3.amazonaws.com": true,
}

// ByName returns the check with the given name.
func ByName(name string) (Check, bool) {
	for _, c := range All {
		if c.Name == name {
			return c, true
		}
	}
	return Check{}, false
}

func kmsRotation(t Template) (int, []string) {
	return each(t, "AWS::KMS::Key", func(r Resource) string {
		if Get(r.Properties, "EnableKeyRotation") != true {
			return "EnableKeyRotation is not true"
		}
		return ""
	})
}

func kmsRetain(t Template) (int, []string) {
	return each(t, "AWS::KMS::Key", func(r Resource) string {
		if r.Attr("DeletionPolicy") != "Retain" || r.Attr("UpdateReplacePolicy") != "Retain" {
			return fmt.Sprintf("DeletionPolicy %q / UpdateReplacePolicy %q, want Retain", r.Attr("DeletionPolicy"), r.Attr("UpdateReplacePolicy"))
		}
		return ""
	})
}

// unconditionedServices may appear without conditions: EventBridge sends no source context to
// KMS, so a condition would silently drop every delivery.
var unconditionedServices = map[string]bool{"events.amazonaws.com": true}

func kmsServicePrincipalsScoped(t Template) (int, []string) {
	return each(t, "AWS::KMS::Key", func(r Resource) string {
		var bad []string
		for i, st := range List(Get(r.Properties, "KeyPolicy", "Statement")) {
			if Get(st, "Effect") != "Allow" {
				continue
			}
			p := Get(st, "Principal")
			if p == "*" || Get(p, "AWS") == "*" {
				bad = append(bad, fmt.Sprintf("statement %d allows any principal", i))
				continue
			}
			for _, svc := range List(Get(p, "Service")) {
				name, _ := svc.(string)
				if unconditionedServices[name] {
					continue
				}
				if c, _ := Get(st, "Condition").(map[string]any); len(c) == 0 {
					bad = append(bad, fmt.Sprintf("statement %d grants %v without a condition", i, svc))
				}
			}
		}
		return strings.Join(bad, "; ")
	})
}

// logTargets are the access-log buckets: those other buckets deliver server access logs to,
// and those whose policy lets the S3 logging service write (so a log bucket stays one even
// when a change stops a bucket logging into it).
func logTargets(t Template) map[string]bool {
	out := map[string]bool{}
	for _, b := range t.Resources("AWS::S3::Bucket") {
		if id, ok := Get(b.Properties, "LoggingConfiguration", "DestinationBucketName", "Ref").(string); ok {
			out[id] = true
		}
	}
	for _, p := range t.Resources("AWS::S3::BucketPolicy") {
		id, ok := Get(p.Properties, "Bucket", "Ref").(string)
		if !ok {
			continue
		}
		for _, st := range List(Get(p.Properties, "PolicyDocument", "Statement")) {
			for _, svc := range List(Get(st, "Principal", "Service")) {
				if svc == "logging.s3.amazonaws.com" && Get(st, "Effect") == "Allow" {
					out[id] = true
				}
			}
		}
	}
	return out
}

func s3Encryption(t Template) (int, []string) {
	targets := logTargets(t)
	return each(t, "AWS::S3::Bucket", func(r Resource) string {
		rule := Get(r.Properties, "BucketEncryption", "ServerSideEncryptionConfiguration", 0)
		alg := Get(rule, "ServerSideEncryptionByDefault", "SSEAlgorithm")
		if targets[r.ID] {
			if alg != "AES256" {
				return fmt.Sprintf("access-log target encryption %v, want AES256 (S3 log delivery needs SSE-S3)", alg)
			}
			return ""
		}
		if alg != "aws:kms" {
			return fmt.Sprintf("SSEAlgorithm %v, want aws:kms", alg)
		}
		if !isCustomerManagedKey(Get(rule, "ServerSideEncryptionByDefault", "KMSMasterKeyID")) {
			return "no customer-managed KMSMasterKeyID"
		}
		if Get(rule, "BucketKeyEnabled") != true {
			return "BucketKeyEnabled is not true"
		}
		return ""
	})
}

func s3PublicAccessBlock(t Template) (int, []string) {
	return each(t, "AWS::S3::Bucket", func(r Resource) string {
		var off []string
		for _, k := range []string{"BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"} {
			if Get(r.Properties, "PublicAccessBlockConfiguration", k) != true {
				off = append(off, k)
			}
		}
		if len(off) > 0 {
			return "public access block off: " + strings.Join(off, ", ")
		}
		return ""
	})
}

// denies reports whether a policy document has a Deny statement with the given condition
// operator, key and value.
func denies(doc any, op, key string, value any) bool {
	for _, st := range List(Get(doc, "Statement")) {
		if Get(st, "Effect") != "Deny" {
			continue
		}
		v := Get(st, "Condition", op, key)
		if v == value || fmt.Sprint(v) == fmt.Sprint(value) {
			return true
		}
	}
	return false
}

func s3TLSOnly(t Template) (int, []string) {
	policies := t.Resources("AWS::S3::BucketPolicy")
	return each(t, "AWS::S3::Bucket", func(r Resource) string {
		for _, p := range policies {
			if !refersTo(Get(p.Properties, "Bucket"), r.ID) {
				continue
			}
			doc := Get(p.Properties, "PolicyDocument")
			if !denies(doc, "Bool", "aws:SecureTransport", "false") {
				return "bucket policy does not deny aws:SecureTransport false"
			}
			if !denies(doc, "NumericLessThan", "s3:TlsVersion", "1.2") {
				return "bucket policy does not deny s3:TlsVersion below 1.2"
			}
			return ""
		}
		return "no bucket policy"
	})
}

func s3Versioning(t Template) (int, []string) {
	return each(t, "AWS::S3::Bucket", func(r Resource) string {
		if Get(r.Properties, "VersioningConfiguration", "Status") != "Enabled" {
			return "versioning not enabled"
		}
		return ""
	})
}

func s3AccessLogs(t Template) (int, []string) {
	targets := logTargets(t)
	return each(t, "AWS::S3::Bucket", func(r Resource) string {
		if targets[r.ID] {
			return ""
		}
		if Get(r.Properties, "LoggingConfiguration", "DestinationBucketName") == nil {
			return "no server access logs"
		}
		return ""
	})
}

func s3Lifecycle(t Template) (int, []string) {
	return each(t, "AWS::S3::Bucket", func(r Resource) string {
		for _, rule := range List(Get(r.Properties, "LifecycleConfiguration", "Rules")) {
			if Get(rule, "Status") == "Enabled" && Get(rule, "NoncurrentVersionExpiration", "NoncurrentDays") != nil {
				return ""
			}
		}
		return "no enabled lifecycle rule expires noncurrent versions"
	})
}

func s3Ownership(t Template) (int, []string) {
	return each(t, "AWS::S3::Bucket", func(r Resource) string {
		if Get(r.Properties, "OwnershipControls", "Rules", 0, "ObjectOwnership") != "BucketOwnerEnforced" {
			return "object ownership is not BucketOwnerEnforced"
		}
		return ""
	})
}

func dynamoCMK(t Template) (int, []string) {
	return each(t, "AWS::DynamoDB::Table", func(r Resource) string {
		sse := Get(r.Properties, "SSESpecification")
		if Get(sse, "SSEEnabled") != true || Get(sse, "SSEType") != "KMS" || !isCustomerManagedKey(Get(sse, "KMSMasterKeyId")) {
			return fmt.Sprintf("SSESpecification %v is not KMS with a customer-managed key", sse)
		}
		return ""
	})
}

func dynamoPITR(t Template) (int, []string) {
	return each(t, "AWS::DynamoDB::Table", func(r Resource) string {
		if Get(r.Properties, "PointInTimeRecoverySpecification", "PointInTimeRecoveryEnabled") != true {
			return "point-in-time recovery off"
		}
		return ""
	})
}

func dynamoProdProtection(t Template) (int, []string) {
	return each(t, "AWS::DynamoDB::Table", func(r Resource) string {
		if Get(r.Properties, "DeletionProtectionEnabled") != true {
			return "deletion protection off"
		}
		if r.Attr("DeletionPolicy") != "Retain" {
			return fmt.Sprintf("DeletionPolicy %q, want Retain", r.Attr("DeletionPolicy"))
		}
		return ""
	})
}

func snsCMK(t Template) (int, []string) {
	return each(t, "AWS::SNS::Topic", func(r Resource) string {
		if !isCustomerManagedKey(Get(r.Properties, "KmsMasterKeyId")) {
			return "no customer-managed KmsMasterKeyId"
		}
		return ""
	})
}

func snsTLSOnly(t Template) (int, []string) {
	policies := t.Resources("AWS::SNS::TopicPolicy")
	return each(t, "AWS::SNS::Topic", func(r Resource) string {
		for _, p := range policies {
			for _, topic := range List(Get(p.Properties, "Topics")) {
				if refersTo(topic, r.ID) && denies(Get(p.Properties, "PolicyDocument"), "Bool", "aws:SecureTransport", "false") {
					return ""
				}
			}
		}
		return "no topic policy denies aws:SecureTransport false"
	})
}

func sqsCMK(t Template) (int, []string) {
	return each(t, "AWS::SQS::Queue", func(r Resource) string {
		if !isCustomerManagedKey(Get(r.Properties, "KmsMasterKeyId")) {
			return "no customer-managed KmsMasterKeyId"
		}
		return ""
	})
}

func sqsTLSOnly(t Template) (int, []string) {
	policies := t.Resources("AWS::SQS::QueuePolicy")
	return each(t, "AWS::SQS::Queue", func(r Resource) string {
		for _, p := range policies {
			for _, q := range List(Get(p.Properties, "Queues")) {
				if refersTo(q, r.ID) && denies(Get(p.Properties, "PolicyDocument"), "Bool", "aws:SecureTransport", "false") {
					return ""
				}
			}
		}
		return "no queue policy denies aws:SecureTransport false"
	})
}

func kinesisCMK(t Template) (int, []string) {
	return each(t, "AWS::Kinesis::Stream", func(r Resource) string {
		enc := Get(r.Properties, "StreamEncryption")
		if Get(enc, "EncryptionType") != "KMS" || !isCustomerManagedKey(Get(enc, "KeyId")) {
			return fmt.Sprintf("StreamEncryption %v is not KMS with a customer-managed key", enc)
		}
		return ""
	})
}

func logsCMKRetention(t Template) (int, []string) {
	return each(t, "AWS::Logs::LogGroup", func(r Resource) string {
		if !isCustomerManagedKey(Get(r.Properties, "KmsKeyId")) {
			return "no customer-managed KmsKeyId"
		}
		if Get(r.Properties, "RetentionInDays") == nil {
			return "no RetentionInDays"
		}
		return ""
	})
}

func iotRuleErrorAction(t Template) (int, []string) {
	return each(t, "AWS::IoT::TopicRule", func(r Resource) string {
		if ea, _ := Get(r.Properties, "TopicRulePayload", "ErrorAction").(map[string]any); len(ea) == 0 {
			return "no error action"
		}
		return ""
	})
}

func iotPolicyRules(t Template) (int, []string) {
	return len(t.Resources("AWS::IoT::Policy")), policies.CheckTemplate(t)
}

func iamWildcardResources(t Template) (int, []string) {
	return each(t, "AWS::IAM::Policy", func(r Resource) string {
		var bad []string
		for i, st := range List(Get(r.Properties, "PolicyDocument", "Statement")) {
			if Get(st, "Effect") != "Allow" {
				continue
			}
			star := false
			for _, res := range List(Get(st, "Resource")) {
				if res == "*" {
					star = true
				}
			}
			if !star {
				continue
			}
			for _, a := range List(Get(st, "Action")) {
				if name, _ := a.(string); !UnscopableActions[name] {
					bad = append(bad, fmt.Sprintf("statement %d allows %v on Resource *", i, a))
				}
			}
		}
		return strings.Join(bad, "; ")
	})
}

func lambdaHardening(t Template) (int, []string) {
	return each(t, "AWS::Lambda::Function", func(r Resource) string {
		var bad []string
		if Get(r.Properties, "TracingConfig", "Mode") != "Active" {
			bad = append(bad, "tracing not Active")
		}
		if Get(r.Properties, "LoggingConfig", "LogFormat") != "JSON" {
			bad = append(bad, "logs not JSON")
		}
		// Unreserved only where the app's concurrency budget (lambdaConcurrencyBudget) could not
		// fit the reservations, which it records on the function and warns about at synth.
		if Get(r.Properties, "ReservedConcurrentExecutions") == nil && Get(r.Raw, "Metadata", UnreservedConcurrencyMetadata) == nil {
			bad = append(bad, "no reserved concurrency")
		}
		if Get(r.Properties, "Environment") != nil && !isCustomerManagedKey(Get(r.Properties, "KmsKeyArn")) {
			bad = append(bad, "environment not encrypted with a customer-managed key")
		}
		if Get(r.Properties, "LoggingConfig", "LogGroup") == nil {
			bad = append(bad, "no dedicated (encrypted, retained) log group")
		}
		return strings.Join(bad, "; ")
	})
}

func lambdaAsyncFailureDestination(t Template) (int, []string) {
	configs := t.Resources("AWS::Lambda::EventInvokeConfig")
	async := map[string]bool{}
	for _, p := range t.Resources("AWS::Lambda::Permission") {
		// A provisioning template invokes its pre-provisioning hook synchronously.
		if mentions(Get(p.Properties, "SourceArn"), ":provisioningtemplate/") {
			continue
		}
		if principal, _ := Get(p.Properties, "Principal").(string); asyncInvokers[principal] {
			if id, ok := Get(p.Properties, "FunctionName", "Fn::GetAtt", 0).(string); ok {
				async[id] = true
			}
		}
	}
	n := 0
	var out []string
	for _, f := range t.Resources("AWS::Lambda::Function") {
		if !async[f.ID] {
			continue
		}
		n++
		ok := false
		for _, c := range configs {
			if refersTo(Get(c.Properties, "FunctionName"), f.ID) && Get(c.Properties, "DestinationConfig", "OnFailure", "Destination") != nil {
				ok = true
			}
		}
		if !ok {
			out = append(out, f.ID+": invoked asynchronously with no on-failure destination")
		}
	}
	return n, out
}

func streamSourceHardening(t Template) (int, []string) {
	n := 0
	var out []string
	for _, m := range t.Resources("AWS::Lambda::EventSourceMapping") {
		if Get(m.Properties, "StartingPosition") == nil { // SQS sources have none
			continue
		}
		n++
		var bad []string
		if b, _ := Get(m.Properties, "BatchSize").(float64); b < 100 {
			bad = append(bad, fmt.Sprintf("BatchSize %v below 100", Get(m.Properties, "BatchSize")))
		}
		if Get(m.Properties, "BisectBatchOnFunctionError") != true {
			bad = append(bad, "no bisect on error")
		}
		if r, ok := Get(m.Properties, "MaximumRetryAttempts").(float64); !ok || r < 0 {
			bad = append(bad, "retries unbounded")
		}
		if Get(m.Properties, "DestinationConfig", "OnFailure", "Destination") == nil {
			bad = append(bad, "no on-failure destination")
		}
		partial := false
		for _, f := range List(Get(m.Properties, "FunctionResponseTypes")) {
			partial = partial || f == "ReportBatchItemFailures"
		}
		if !partial {
			bad = append(bad, "no ReportBatchItemFailures")
		}
		if len(bad) > 0 {
			out = append(out, m.ID+": "+strings.Join(bad, "; "))
		}
	}
	return n, out
}

// lambdaIoTPermissionScoped inspects every Lambda permission that AWS IoT uses or that names a
// topic rule as its source. A permission whose source is a topic rule but whose principal is
// not iot.amazonaws.com never lets the rule invoke (cfn-lint W3664); one for iot.amazonaws.com
// without a source ARN and account lets any rule, of any account, invoke the function.
func lambdaIoTPermissionScoped(t Template) (int, []string) {
	rules := map[string]bool{}
	for _, r := range t.Resources("AWS::IoT::TopicRule") {
		rules[r.ID] = true
	}
	n := 0
	var out []string
	for _, p := range t.Resources("AWS::Lambda::Permission") {
		principal, _ := Get(p.Properties, "Principal").(string)
		src := Get(p.Properties, "SourceArn")
		fromRule := mentions(src, ":rule/")
		if g, ok := Get(src, "Fn::GetAtt", 0).(string); ok && rules[g] {
			fromRule = true
		}
		if principal != "iot.amazonaws.com" && !fromRule {
			continue
		}
		n++
		var bad []string
		if principal != "iot.amazonaws.com" {
			bad = append(bad, fmt.Sprintf("source is a topic rule but principal is %q, not iot.amazonaws.com", principal))
		}
		if src == nil {
			bad = append(bad, "no SourceArn")
		}
		if Get(p.Properties, "SourceAccount") == nil {
			bad = append(bad, "no SourceAccount")
		}
		if len(bad) > 0 {
			out = append(out, p.ID+": "+strings.Join(bad, "; "))
		}
	}
	return n, out
}

// mentions reports whether any string inside v (a literal or the parts of an intrinsic such
// as Fn::Join) contains s.
func mentions(v any, s string) bool {
	switch x := v.(type) {
	case string:
		return strings.Contains(x, s)
	case []any:
		for _, e := range x {
			if mentions(e, s) {
				return true
			}
		}
	case map[string]any:
		for _, e := range x {
			if mentions(e, s) {
				return true
			}
		}
	}
	return false
}

// each runs fn over every resource of a type, collecting "<id>: <problem>" violations.
func each(t Template, typ string, fn func(Resource) string) (int, []string) {
	rs := t.Resources(typ)
	var out []string
	for _, r := range rs {
		if msg := fn(r); msg != "" {
			out = append(out, r.ID+": "+msg)
		}
	}
	return len(rs), out
}
