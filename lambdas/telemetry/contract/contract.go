// Package contract is what the telemetry processor (lambdas/telemetry) and the construct that
// deploys it (constructs/ingest) must agree on: the environment, the bundled fleet file, the
// keys the topic rule writes into each record, the archive prefixes, the encryption context of
// sealed fields, the metrics and the structured reject log. It holds names only, so the CDK app
// imports no SDK client.
package contract

// Environment variables of the telemetry processor.
const (
	// EnvStateTable names the state table (latest state and deduplication window per thing).
	EnvStateTable = "STATE_TABLE"
	// EnvArchiveBucket names the archive bucket (AcceptedPrefix, RejectedPrefix).
	EnvArchiveBucket = "ARCHIVE_BUCKET"
	// EnvFieldKeyID is the KMS key (ARN or alias) that seals sensitive fields.
	EnvFieldKeyID = "FIELD_KEY_ID"
	// EnvMode tells the processor how it is invoked: ModeDirect (one rule message per
	// invocation) or ModeStream (Kinesis batches). Default: ModeStream.
	EnvMode = "TELEMETRY_MODE"
	// EnvRulePrefix is the prefix of the classes' topic rule names (topics.RuleName): the
	// processor checks that a Basic Ingest topic's rule is the rule of the record's class.
	// Default: the rule name must end in _<class>.
	EnvRulePrefix = "RULE_PREFIX"
	// EnvFleetFile overrides where the runtime fleet copy is read. Default: FleetFile in
	// $LAMBDA_TASK_ROOT, else beside the binary.
	EnvFleetFile = "FLEET_FILE"
	// EnvMaxFutureSkew is how far a record's ts may be ahead of receivedAt (a Go duration).
	EnvMaxFutureSkew = "MAX_FUTURE_SKEW"
	// EnvMaxPastSkew is how far a record's ts may be behind receivedAt (a Go duration).
	EnvMaxPastSkew = "MAX_PAST_SKEW"
	// EnvArrivalTolerance is how far receivedAt may be from the record's arrival (a Go
	// duration).
	EnvArrivalTolerance = "ARRIVAL_TOLERANCE"
)

// Values of EnvMode.
const (
	ModeStream = "stream"
	ModeDirect = "direct"
)

// FleetFile is the runtime fleet copy's name beside the processor's binary, where the
// construct bundles it (the fleet's classes and districts, no things).
const FleetFile = "fleet.json"

// Keys of the record each class's topic rule writes: the device's payload, base64-encoded,
// under KeyPayload, beside RuleKeys. The rule's SQL writes them and the processor's decoder
// reads them.
const (
	// KeyPayload holds the device's payload exactly as published, base64-encoded by the rule
	// (encode(*, 'base64')), whatever its bytes: JSON or not.
	KeyPayload    = "payload"
	KeyTopic      = "topic"
	KeyClientID   = "clientId"
	KeyReceivedAt = "receivedAt"
	// KeyClass is the class id, a constant of the class's rule ('street_light' AS class), so
	// the processor learns a record's class from the rule it came through, never from the
	// device.
	KeyClass = "class"
)

// RuleKeys are the keys every rule adds beside the payload, in the order its SQL adds them. A
// device's payload holding one of them is rejected.
var RuleKeys = []string{KeyTopic, KeyClientID, KeyReceivedAt, KeyClass}

// Archive prefixes: the processor writes accepted records under AcceptedPrefix and rejected
// ones under RejectedPrefix; the processor's grants and the bucket's lifecycle name them.
const (
	AcceptedPrefix = "accepted/"
	RejectedPrefix = "rejected/"
)

// Encryption context keys of sensitive-field envelopes. KMS binds each data key to both; the
// construct's key policy conditions name them.
const (
	ContextThing = "thing"
	ContextClass = "class"
)

// UnknownClass is the Class dimension (and the encryption context class of sealed rejects)
// of records whose device class could not be told.
const UnknownClass = "unknown"

// Namespace is the CloudWatch namespace of the processor's embedded metrics.
const Namespace = "SmartCity/Telemetry"

// Metric names. Received, Accepted, Rejected, Duplicates and Retried are counts per Class and
// per (Class, District); Rejected is also emitted per (Class, Reason). ProcessingLatency is,
// per Class (and District) and batch, the longest time in milliseconds from the topic rule
// (receivedAt) to durable storage.
const (
	MetricReceived   = "Received"
	MetricAccepted   = "Accepted"
	MetricRejected   = "Rejected"
	MetricDuplicates = "Duplicates"
	MetricRetried    = "Retried"
	MetricLatency    = "ProcessingLatency"
)

// Dimension names of the processor's metrics.
const (
	DimensionClass    = "Class"
	DimensionDistrict = "District"
	DimensionReason   = "Reason"
)

// The structured log line of a rejected record: message LogRejected with these keys. Lambda
// keeps JSON application logs as they are, so Logs Insights discovers the keys as fields and
// queries over the processor's log group can group by them.
const (
	LogRejected    = "telemetry rejected"
	LogKeyThing    = "thing"
	LogKeyClass    = "class"
	LogKeyDistrict = "district"
	LogKeyReason   = "reason"
)
