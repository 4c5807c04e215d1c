package ingest

import "github.com/secure-smart-city/platform/lambdas/telemetry/contract"

// SQLVersion is the rules engine SQL version every rule uses.
const SQLVersion = "2016-03-23"

// Names of the keys the rule writes (contract.KeyPayload and the rest). The telemetry processor
// reads them and rejects a payload that carries one of contract.RuleKeys.

// PartitionKey is the Kinesis partition key template: the publishing client id, which device
// policies force to be the thing name, so each device's records land on one shard in order.
const PartitionKey = "${clientid()}"

// RuleSQL is the telemetry rule's statement of a device class: the device's payload
// base64-encoded, plus the topic, the client id, the rules engine's receive time (Unix
// milliseconds) and the class id as a constant. class must be a valid class id (lowercase
// letters, digits and underscores), which is also what makes it safe inside the SQL string
// literal; New checks it.
//
// Why encode(*, 'base64') rather than SELECT *: a Basic Ingest rule cannot branch on the
// payload's type, and SELECT * with added keys fails on a payload that is not JSON (the rule's
// ParseError metric counts it, nothing keeps it). encode(*, 'base64') reads the payload as
// bytes (AWS IoT developer guide, "Working with binary payloads", which gives
// SELECT encode(*, 'base64') AS data, timestamp() AS ts as a supported form), so every
// payload reaches the processor, which rejects a non-JSON one as not_json into the
// rejected archive. It also keeps the payload's keys apart from the rule's: with SELECT *, AWS
// does not document which value wins when a payload key meets a rule alias; here a payload
// carrying topic, clientId, receivedAt or class is detected exactly and rejected. The price:
// base64 grows the payload by a third (a 1,024-byte payload becomes a 1,368-byte string;
// the record size, which Kinesis on-demand bills in whole KB, is in the README's cost
// section), and the processor decodes it (its benchmark stays allocation-free).
//
// The device policy lets a device publish only to its own class's rule, under its own
// district and name (topics.OwnTelemetry), so the topic carries the district and thing the
// connection authenticated, and the constant carries the class. The processor needs no device
// list.
//
// It has no FROM clause on purpose. A rule fed only through Basic Ingest
// ($aws/rules/<rule>/...) needs none (AWS IoT SQL reference: FROM is optional for rules
// activated only by Basic Ingest), and one per class would all share the same filter
// ('things/+/telemetry'), so a single publish to the broker topic would fire every class's
// rule, at messaging prices, into every class's path. Without FROM the broker cannot trigger
// the rule at all. For Basic Ingest, topic() returns the topic after the
// $aws/rules/<rule>/ prefix: "districts/<district>/things/<thing>/telemetry"
// (topics.TelemetrySuffix); the processor accepts the prefixed form too, and then checks that
// the rule it names is the class's.
//
// No WHERE clause either: a record the rule filtered out would vanish without a trace, while
// the processor rejects it with a reason into the archive's rejected/ prefix.
func RuleSQL(class string) string {
	return "SELECT encode(*, 'base64') AS " + contract.KeyPayload + ", topic() AS " + contract.KeyTopic + ", clientid() AS " + contract.KeyClientID +
		", timestamp() AS " + contract.KeyReceivedAt + ", '" + class + "' AS " + contract.KeyClass
}
