// Package contract is what the command processor (lambdas/command) and the construct that
// deploys it (constructs/commandapi) must agree on: the environment, the bundled fleet file,
// the request keys the API's schema checks, and the metrics the function emits, on which the
// Operations stack's alarms are built. It holds names only, so the CDK app imports no SDK
// client.
package contract

// Environment variables of the command function.
const (
	// EnvStateTable names the device state table (item pk=<thing>, sk="state").
	EnvStateTable = "STATE_TABLE"
	// EnvAuditTable names the command audit table.
	EnvAuditTable = "AUDIT_TABLE"
	// EnvFleetFile overrides where the runtime fleet copy is read. Default: FleetFile beside
	// the function's binary.
	EnvFleetFile = "FLEET_FILE"
	// EnvDataEndpoint is the account's iot:Data-ATS host. Default: the function calls
	// iot:DescribeEndpoint once at cold start.
	EnvDataEndpoint = "IOT_DATA_ENDPOINT"
	// EnvThingTypePrefix is the fleet's thing type prefix, e.g. "smartcity_dev": a thing of
	// type topics.RuleName(prefix, class) is of that class of the runtime fleet.
	EnvThingTypePrefix = "THING_TYPE_PREFIX"
)

// FleetFile is the runtime fleet copy's name beside the function's binary, where the
// construct bundles it ((*fleetspec.Fleet).RuntimeJSON without the declared things).
const FleetFile = "fleet.json"

// Request body keys besides the command's params.
const (
	// IdempotencyField is the request body key that may carry the Idempotency-Key instead of
	// the header.
	IdempotencyField = "idempotencyKey"
	// IdempotencyKeyPattern is what a key must match, in the header or the body; the API's
	// request schema checks the body's with it too.
	IdempotencyKeyPattern = `^[A-Za-z0-9._:-]{1,128}$`
)

// Deliveries: the values of a command request's optional "delivery" key.
const (
	// DeliveryMQTT publishes the command to topics.Command(thing). The default.
	DeliveryMQTT = "mqtt"
	// DeliveryShadow writes the state the command sets as the classic shadow's desired state.
	DeliveryShadow = "shadow"
)

// Namespace is the CloudWatch namespace of the command function's metrics (embedded metric
// format lines on stdout, which Lambda sends to CloudWatch Logs).
const Namespace = "SmartCity/Commands"

// Metrics. Every dimension value is one of the constants below, never caller input, so the
// metrics cannot grow without bound.
const (
	// MetricAuditWriteFailed counts audit table writes that failed, per DimensionPhase.
	MetricAuditWriteFailed = "AuditWriteFailed"
	// MetricRefused counts requests refused for a security reason, per DimensionReason.
	MetricRefused = "Refused"
	// MetricReplayed counts answers replayed for a repeated Idempotency-Key.
	MetricReplayed = "Replayed"

	DimensionPhase  = "Phase"
	DimensionReason = "Reason"
)

// Phases of MetricAuditWriteFailed; but for PhaseRefusal, each is also the "kind" attribute
// of the audit table item that failed to be written.
const (
	// KindIntent: the intent record failed, so the command was not sent (503).
	KindIntent = "intent"
	// KindOutcome: the command was sent, but its outcome is not recorded.
	KindOutcome = "outcome"
	// KindIdemClaim and KindIdemAnswer are the items of an Idempotency-Key.
	KindIdemClaim  = "idempotency-key"
	KindIdemAnswer = "idempotency-answer"
	// PhaseRefusal: the record of a refusal, nothing having been sent.
	PhaseRefusal = "refusal"
)

// Reasons of MetricRefused.
const (
	ReasonNotOperator           = "not-operator"
	ReasonOutOfScope            = "out-of-scope"
	ReasonIdempotencyMismatch   = "idempotency-key-reused"
	ReasonIdempotencyInProgress = "idempotency-key-unanswered"
	ReasonAuditUnavailable      = "audit-unavailable"
)
