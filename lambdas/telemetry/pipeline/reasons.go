package pipeline

// Reason says why a record was rejected. Reasons are stable identifiers: they name S3
// partitions (rejected/reason=<reason>/) and the Reason metric dimension.
type Reason string

// Reasons. When several apply, the first in the order the package documentation gives
// (Validation) is reported.
const (
	// ReasonTooLarge: the device's payload exceeds its class's MaxMessageBytes, or the record
	// exceeds every class's limit (base64-encoded, plus RuleOverheadBytes) before parsing.
	ReasonTooLarge Reason = "too_large"
	// ReasonNotJSON: the device's payload is not JSON text (RFC 8259): binary, plain text,
	// truncated or trailing data. Before the rule carried payloads base64-encoded the rules
	// engine dropped these (its ParseError metric) and kept them nowhere; now they are
	// archived like every other reject.
	ReasonNotJSON Reason = "not_json"
	// ReasonMalformedJSON: JSON, but not one object, or nested deeper than MaxDepth.
	ReasonMalformedJSON Reason = "malformed_json"
	// ReasonInvalidUTF8: a string holds invalid UTF-8 or a lone UTF-16 surrogate escape.
	ReasonInvalidUTF8 Reason = "invalid_utf8"
	// ReasonRuleKeyInPayload: the device's payload holds a key the topic rule adds (topic,
	// clientId, receivedAt, class). The rule carries the payload base64-encoded beside its own
	// keys, so this is detected exactly (see RuleKeys).
	ReasonRuleKeyInPayload Reason = "rule_key_in_payload"
	// ReasonMissingMetadata: the record is not the topic rule's object (payload, topic,
	// clientId, receivedAt, class, nothing else, each once), or one of them is of the wrong
	// type or not decodable; the rule is misconfigured.
	ReasonMissingMetadata Reason = "missing_metadata"
	// ReasonInvalidTopic: topic is not a telemetry topic, or the thing name in it is not a
	// valid thing name.
	ReasonInvalidTopic Reason = "invalid_topic"
	// ReasonThingMismatch: the thing in the topic is not the MQTT client id.
	ReasonThingMismatch Reason = "thing_mismatch"
	// ReasonPartitionKeyMismatch (stream mode): clientId is not the Kinesis partition key,
	// which the rule's Kinesis action sets from clientid() outside the record.
	ReasonPartitionKeyMismatch Reason = "partition_key_mismatch"
	// ReasonArrivalSkew: receivedAt lies outside what the transport vouches for: further
	// than ArrivalTolerance from the record's Kinesis arrival (stream mode), or after the
	// invocation plus ArrivalTolerance or before it minus MaxEventAge and ArrivalTolerance
	// (direct mode).
	ReasonArrivalSkew Reason = "arrival_skew"
	// ReasonUnknownClass: class (the rule's constant) is not a device class of the fleet.
	ReasonUnknownClass Reason = "unknown_class"
	// ReasonClassMismatch: the topic names the Basic Ingest rule of another class than the
	// record's class.
	ReasonClassMismatch Reason = "class_mismatch"
	// ReasonUnknownDistrict: the district in the topic is not a district of the fleet.
	ReasonUnknownDistrict Reason = "unknown_district"
	// ReasonDuplicateField: a key appears twice (parsers disagree on which one wins).
	ReasonDuplicateField Reason = "duplicate_field"
	// ReasonUnknownField: a key is neither a class field nor a message key.
	ReasonUnknownField Reason = "unknown_field"
	// ReasonMissingMsgID: neither msgId nor seq.
	ReasonMissingMsgID Reason = "missing_msg_id"
	// ReasonInvalidMsgID: msgId is not 1-128 of [A-Za-z0-9._:-], or seq is not an integer in
	// [0, 2^53]. Both are checked whenever present, whichever one is the dedup id.
	ReasonInvalidMsgID Reason = "invalid_msg_id"
	// ReasonMissingTimestamp: no ts.
	ReasonMissingTimestamp Reason = "missing_timestamp"
	// ReasonInvalidTimestamp: ts is not a positive integer (Unix milliseconds).
	ReasonInvalidTimestamp Reason = "invalid_timestamp"
	// ReasonClockSkew: ts is further ahead of or behind receivedAt than the limits allow.
	ReasonClockSkew Reason = "clock_skew"
	// ReasonWrongType: a field's JSON type does not match its declared type (null included).
	ReasonWrongType Reason = "wrong_type"
	// ReasonOutOfRange: a number is outside [Min, Max], not finite, beyond what DynamoDB
	// stores, or an integer beyond +-2^53.
	ReasonOutOfRange Reason = "out_of_range"
	// ReasonTooLong: a string is longer than MaxLength bytes.
	ReasonTooLong Reason = "too_long"
	// ReasonNotInEnum: a string is not one of the field's Enum values.
	ReasonNotInEnum Reason = "not_in_enum"
	// ReasonMissingField: a required field is absent.
	ReasonMissingField Reason = "missing_field"
)

// Reasons lists every reason, for dashboards and tests.
var Reasons = []Reason{
	ReasonTooLarge, ReasonNotJSON, ReasonMalformedJSON, ReasonInvalidUTF8, ReasonRuleKeyInPayload,
	ReasonMissingMetadata, ReasonInvalidTopic, ReasonThingMismatch, ReasonPartitionKeyMismatch,
	ReasonArrivalSkew, ReasonUnknownClass, ReasonClassMismatch, ReasonUnknownDistrict,
	ReasonDuplicateField,
	ReasonUnknownField, ReasonMissingMsgID, ReasonInvalidMsgID, ReasonMissingTimestamp,
	ReasonInvalidTimestamp, ReasonClockSkew, ReasonWrongType, ReasonOutOfRange, ReasonTooLong,
	ReasonNotInEnum, ReasonMissingField,
}
