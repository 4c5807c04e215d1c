package ingest

// SQLVersion is the rules engine SQL version every rule uses.
const SQLVersion = "2016-03-23"

// Names of the keys the rule adds to a device's message. The telemetry processor reads them
// (pipeline.KeyTopic, KeyClientID, KeyReceivedAt); a test keeps the two in step.
const (
	KeyTopic      = "topic"
	KeyClientID   = "clientId"
	KeyReceivedAt = "receivedAt"
)

// PartitionKey is the Kinesis partition key template: the publishing client id, which device
// policies force to be the thing name, so each device's records land on one shard in order.
const PartitionKey = "${clientid()}"

// RuleSQL is every telemetry rule's statement: the whole payload plus the topic, the client
// id and the rules engine's receive time (Unix milliseconds).
//
// It has no FROM clause on purpose. A rule fed only through Basic Ingest
// ($aws/rules/<rule>/...) needs none (AWS IoT SQL reference: FROM is optional for rules
// activated only by Basic Ingest), and one per class would all share the same filter
// ('things/+/telemetry'), so a single publish to the broker topic would fire every class's
// rule, at messaging prices, into every class's path. Without FROM the broker cannot trigger
// the rule at all. For Basic Ingest, topic() returns the topic after the
// $aws/rules/<rule>/ prefix: "things/<thing>/telemetry".
//
// No WHERE clause either: a record the rule filtered out would vanish without a trace, while
// the processor rejects it with a reason into the archive's rejected/ prefix.
func RuleSQL() string {
	return "SELECT *, topic() AS " + KeyTopic + ", clientid() AS " + KeyClientID + ", timestamp() AS " + KeyReceivedAt
}
