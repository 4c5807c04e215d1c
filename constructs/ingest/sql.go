package ingest

// SQLVersion is the rules engine SQL version every rule uses.
const SQLVersion = "2016-03-23"

// Names of the keys the rule adds to a device's message. The telemetry processor reads them
// (pipeline.KeyTopic, KeyClientID, KeyReceivedAt, KeyClass, pipeline.RuleKeys) and rejects a
// record whose payload carried one of them; a test keeps the two in step.
const (
	KeyTopic      = "topic"
	KeyClientID   = "clientId"
	KeyReceivedAt = "receivedAt"
	// KeyClass holds the class id as a constant of the class's own rule, so the processor
	// learns a record's class from the rule it came through, never from the device.
	KeyClass = "class"
)

// RuleKeys are the keys every rule adds, in the order RuleSQL adds them.
var RuleKeys = []string{KeyTopic, KeyClientID, KeyReceivedAt, KeyClass}

// PartitionKey is the Kinesis partition key template: the publishing client id, which device
// policies force to be the thing name, so each device's records land on one shard in order.
const PartitionKey = "${clientid()}"

// RuleSQL is the telemetry rule's statement of a device class: the whole payload plus the
// topic, the client id, the rules engine's receive time (Unix milliseconds) and the class id as
// a constant. class must be a valid class id (lowercase letters, digits and underscores),
// which is also what makes it safe inside the SQL string literal; New checks it.
//
// The device policy lets a device publish only to its own class's rule, under its own
// district and name (topics.OwnTelemetry), so the topic carries the district and thing the
// connection authenticated, and the constant carries the class. The processor needs no device
// list. AWS does not document which value wins when the payload itself holds one of these
// keys; the processor rejects what it can detect (pipeline.RuleKeys explains the rest).
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
	return "SELECT *, topic() AS " + KeyTopic + ", clientid() AS " + KeyClientID + ", timestamp() AS " + KeyReceivedAt +
		", '" + class + "' AS " + KeyClass
}
