// Package compliance holds the platform's secure defaults as checks over synthesized
// CloudFormation templates. The app runs every check after synth, so a default weakened even
// through an escape-hatch override (which cdk-nag, reading constructs, does not see) fails
// `cdk synth`; the synth tests run them against both stages and against deliberately weakened
// constructs, to prove each check can fail.
//
// Checks (one per check_<name>.go, registered in All; names are stable; a violation reads
// "<stack>: <name> (<default>): <resource id>: <problem>"):
//
//	kms-rotation                      AWS::KMS::Key: EnableKeyRotation.
//	kms-retain                        AWS::KMS::Key: DeletionPolicy and UpdateReplacePolicy Retain.
//	kms-service-principals-scoped     AWS::KMS::Key: no Allow to any principal; a service
//	                                  principal only under a condition (EventBridge exempt: it
//	                                  sends KMS no source context).
//	kms-grant-guard                   AWS::KMS::Key: the CT.KMS.PR.3 Deny of kms:CreateGrant.
//	s3-encryption                     AWS::S3::Bucket: SSE-KMS, customer-managed key, bucket key;
//	                                  access-log targets SSE-S3.
//	s3-public-access-block            AWS::S3::Bucket: all four public access block settings.
//	s3-tls-only                       AWS::S3::Bucket: its policy denies aws:SecureTransport false
//	                                  and s3:TlsVersion below 1.2.
//	s3-versioning                     AWS::S3::Bucket: versioning Enabled.
//	s3-access-logs                    AWS::S3::Bucket: server access logs (log targets exempt).
//	s3-lifecycle                      AWS::S3::Bucket: an enabled rule expires noncurrent versions.
//	s3-ownership                      AWS::S3::Bucket: BucketOwnerEnforced.
//	dynamodb-cmk                      AWS::DynamoDB::Table: SSE with a customer-managed key.
//	dynamodb-pitr                     AWS::DynamoDB::Table: point-in-time recovery.
//	dynamodb-prod-protection          AWS::DynamoDB::Table, prod only: deletion protection, Retain.
//	sns-cmk                           AWS::SNS::Topic: a customer-managed key.
//	sns-tls-only                      AWS::SNS::Topic: its policy denies aws:SecureTransport false.
//	sqs-cmk                           AWS::SQS::Queue: a customer-managed key.
//	sqs-tls-only                      AWS::SQS::Queue: its policy denies aws:SecureTransport false.
//	kinesis-cmk                       AWS::Kinesis::Stream: KMS with a customer-managed key.
//	logs-cmk-retention                AWS::Logs::LogGroup: a customer-managed key and a retention.
//	iot-rule-error-action             AWS::IoT::TopicRule: an error action.
//	iot-policy-rules                  AWS::IoT::Policy: the policies package's rules, as deployed.
//	iot-domain-tls-policy             AWS::IoT::DomainConfiguration: a 2022 TLS 1.2+ policy,
//	                                  AWS_X509, SECURE_MQTT.
//	iot-logging-enabled               AWS::IoT::Logging: ERROR by default, INFO for Disconnect, a
//	                                  role, no event DISABLED.
//	iot-certificates-from-csr         AWS::IoT::Certificate: issued from a CSR, no PEM.
//	no-cloud-private-keys             every resource and section: no private key material, no
//	                                  CreateKeysAndCertificate (API or MQTT topic).
//	iam-wildcard-resources            AWS::IAM::Policy: Resource "*" only for UnscopableActions.
//	iam-service-trust-conditioned     AWS::IAM::Role: service trust under aws:SourceArn or
//	                                  aws:SourceAccount (Lambda exempt; API Gateway only for the
//	                                  account's logging role).
//	lambda-hardening                  AWS::Lambda::Function: tracing, JSON logs, own log group,
//	                                  reserved concurrency, environment under a customer key.
//	lambda-async-failure-destination  AWS::Lambda::Function invoked by IoT, SNS, EventBridge or
//	                                  S3: an on-failure destination.
//	lambda-iot-permission-scoped      AWS::Lambda::Permission for IoT or a topic rule: principal
//	                                  iot.amazonaws.com, SourceArn, SourceAccount (cfn-lint W3664).
//	stream-source-hardening           AWS::Lambda::EventSourceMapping on a stream: batch >= 100,
//	                                  bisect, bounded retries, partial failures, failure queue.
//	api-methods-authorized            AWS::ApiGateway::Method: AWS_IAM (OPTIONS MOCK exempt).
//	alarms-have-actions               AWS::CloudWatch::Alarm: an enabled alarm action and
//	                                  TreatMissingData.
//	audit-all-checks                  AWS::IoT::AccountAuditConfiguration: all 17 checks, an SNS
//	                                  target.
//
// The flow proofs (flow_table.go, EvaluateFlows, CheckFlows) are a second kind of check: they
// need every stack at once and evaluate who may call what through identity, resource and key
// policies (package iameval).
package compliance
