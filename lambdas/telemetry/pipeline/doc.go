// Package pipeline is the telemetry processor's logic: it validates the records of a Kinesis
// batch against the fleet's device classes, drops duplicates exactly, archives accepted and
// rejected records to S3 and keeps each device's latest state in DynamoDB.
//
// # Records
//
// A device publishes a JSON object to its class's Basic Ingest topic
// (topics.Telemetry(rule, district, thing)); the class's topic rule, SELECT encode(*,
// 'base64') AS payload, topic() AS topic, clientid() AS clientId, timestamp() AS receivedAt,
// '<class>' AS class, puts it on the stream with the client id as partition key. The rule
// carries the payload as it was published, whatever its bytes, so a payload that is not JSON
// reaches the processor (and the rejected archive, as not_json) instead of failing the rule's
// SQL unseen. A record is therefore:
//
//	{"payload": "<base64>",                 // the device's payload, below
//	 "topic": "districts/<district>/things/<thing>/telemetry",  // added by the rule (with
//	 "clientId": "<thing>",                 //   or without the $aws/rules/<rule>/ prefix)
//	 "receivedAt": 1767225600123,           // the rule's clock, Unix milliseconds
//	 "class": "<class>"}                    // the rule's constant
//
// and the payload, decoded:
//
//	{"msgId": "5f0c...",      // unique per device: 1-128 of [A-Za-z0-9._:-]; and/or
//	 "seq": 1234,             //   an integer in [0, 2^53] (the dedup id when no msgId)
//	 "ts": 1767225600000,     // device time, Unix milliseconds (an integer)
//	 "<field>": <value>, ...} // the class's fields: scalars only
//
// The processor needs no device list: any thing AWS IoT authenticated is served, declared in
// the fleet file or provisioned at run time. Device policies force client id = thing name and
// let a device publish only to its own class's rule under its own district and name, so the
// record names the thing (clientId, which the topic's thing and, in stream mode, the Kinesis
// partition key must equal), its class (the rule's constant, a class of the fleet, agreeing
// with the rule the topic names when it names one) and its district (from the topic, a
// district of the fleet). receivedAt must lie within ArrivalTolerance of the record's Kinesis
// arrival. A payload that itself carries a key the rule adds is rejected: the rule's keys
// live beside the encoded payload, so this is exact (RuleKeys). Direct mode (HandleMessage)
// has no partition key and bounds receivedAt by the invocation and MaxEventAge instead.
//
// # Validation
//
// The decoder is a hand-written strict JSON scanner (no map[string]any, no reflection): one
// object, RFC 8259 grammar, valid UTF-8 without lone surrogate escapes, nesting at most
// MaxDepth. It reads the rule's record, decodes the payload's base64 into a per-batch arena
// and scans the payload, allocating nothing per message. Then, in this order, the first
// problem is the reason (see Reason): the record's size, the record being the rule's object
// (missing_metadata), topic, thing against clientId, clientId against the partition key,
// receivedAt against the arrival, class, the rule named in the topic, district, the payload's
// size against the class's MaxMessageBytes, the payload's syntax (not_json, malformed_json,
// invalid_utf8), rule keys in the payload, duplicate msgId/seq/ts, duplicate fields, unknown
// keys, msgId and seq (each whenever present), ts and its skew against receivedAt
// (MaxFutureSkew ahead, MaxPastSkew behind), each field in the class's order (type, Min/Max,
// MaxLength, Enum), required fields. Unknown keys are rejected, not dropped: a device sending
// fields the fleet does not declare runs firmware the platform does not know, and the
// rejected archive keeps the payload (up to the class limit) so little is lost while the
// fleet file catches up. Integer fields accept any integral JSON number ("5", "5.0", "5e0")
// within +-2^53. Numbers must be finite and storable by DynamoDB.
//
// A rejected record is never retried: it is archived with its reason. Only DynamoDB, S3 and
// KMS failures are transient.
//
// # Deduplication
//
// The dedup id is "m:<msgId>" or, without msgId, "s:<seq>"; the dedup key is (thing, id).
// Within a batch the first record of a key wins. Across batches and retries each thing's
// state item keeps a window of claims: WindowAttr(0..WindowGenerations-1) hold the tokens of
// its last WindowGenerations writes, a token being "<id>/<hash of the stream sequence
// number>/<name of the archive object the record goes to>". A batch costs one conditional
// UpdateItem per thing with new records and no read:
//
//  1. planAccepted groups the candidates (valid, first of their key in the batch) into one
//     object per (class, hour) named after its records (objectName), so a retry that forms
//     the same group names the same object;
//  2. writeState writes each thing's item once: shift the generations, put the new tokens in
//     the newest, and (when due) the newest record's state, on the condition that no new id
//     is in the window and the stored state is older. A refusal returns the stored item
//     (ReturnValuesOnConditionCheckFailure; a read when it does not): a record with a token
//     of its own sequence number whose object exists (HeadObject; only 404 means absent) is
//     a redelivery, stored already and accepted again; one whose claimed objects were never
//     written is claimed again; any other record with a claimed id is a device re-send, a
//     duplicate. The second write is conditioned on the item being unchanged (the newest
//     generation). A thing with more than maxBlindIDs new records is read first.
//  3. storeAccepted PUTs each object with the records its claims name, and none if one of
//     its records failed: an object never exists without every record a claim names, and is
//     never rewritten with fewer.
//
// Device re-sends are found within the window: a thing's last WindowGenerations writes.
// Kinesis gives each partition key (thing) to one invocation at a time; in direct mode,
// concurrent deliveries of one thing's messages each write atomically.
//
// A class's stateInterval (fleetspec.DeviceClass.StateInterval) limits how often a thing's
// state fields are replaced, never its claims: a batch whose newest record is not due (by the
// stored receivedAt, or by what this execution environment last saw of it, thingCache) writes
// only its tokens, in the same one conditional write. Every claim is durable before its
// records count as accepted, so deduplication never depends on which environment handles a
// re-send or a redelivery, whatever the interval.
//
// # Archive
//
// Accepted records go to one gzip NDJSON object per (class, UTC hour of receivedAt):
//
//	accepted/class=<class>/dt=<YYYY-MM-DD>/hour=<HH>/<name>.ndjson.gz
//
// so a batch is one PUT when its records share a class and an hour (a stream per class, or a
// shared stream whose batch holds one class) and one PUT per class otherwise: correct
// partitions for Athena matter more than a PUT. name is 128 bits of SHA-256 over the
// candidates' (thing, id, sequence number), base64url (objectName): a retry that stores the
// same records writes the same key. Each line
// is {"thing","class","msgId"?,"seq"?,"ts","receivedAt","streamSeq", <fields in class order>},
// sensitive fields as envelopes (package envelope).
//
// Rejected records go to rejected/reason=<reason>/dt=<YYYY-MM-DD>/hour=<HH>/<first sequence
// number>-<hash>.ndjson.gz, hour of Kinesis arrival, one line each:
// {"reason","detail","thing","class"?,"district"?,"streamSeq","arrival","source","size",
// "sha256","truncated","payload":"<base64>"}. source is "payload" (the device's payload,
// decoded) or "record" (the record itself, when it carried no decodable payload); size and
// sha256 describe all of it, and payload keeps at most the class's MaxMessageBytes (the
// fleet's largest when the class is unknown), so a flood of oversized rejects stores a
// bounded amount while the digest still identifies what arrived. When the class has sensitive
// fields or is unknown, "payloadEnc" holds the kept bytes as an envelope (field PayloadField)
// instead of "payload". The bucket expires rejected/ after a configurable retention
// (constructs/securestore Lifecycle.Prefixes). Only rejected records before the retry point
// are written; a retry stores the rest. Rejected records are not deduplicated (their ids
// cannot be trusted); a rejected PUT that fails after another succeeded can store a reject
// twice.
//
// # State
//
// pk=<thing>, sk="state": class, msgId and/or seq, ts, receivedAt, streamSeq, obj and one attribute
// per present field (N, S, BOOL; a sensitive field as S holding its envelope JSON), plus the
// window (see Deduplication). It is the message with the greatest ts seen, written only when
// newer than the stored one (a backlog message's write carries its tokens only) and, with a
// stateInterval, at least that long (by receivedAt) after the stored one. obj names the
// object the message is claimed into, written right after the state.
//
// # Failures
//
// A record fails when a call it depends on fails after bounded retries: its thing's write, a
// read or HEAD that settles it, KMS, or its object's PUT; a record of a thing whose other
// record failed fails with it. The handler reports as the only batch item failure the lowest
// failed sequence number, moved back to the first valid record of every thing with a valid
// record from there on (retryFrom): Lambda checkpoints before it and redelivers from it, and
// the claims make the redelivered records that were stored count as accepted without being
// stored again. Counts (Result and metrics) cover the records before that point, so
// Received == Accepted + Rejected + Duplicates holds for every batch.
//
// # Metrics and logs
//
// Embedded metric format on stdout, namespace SmartCity/Telemetry, dimension Class (and Class,
// District): Received, Accepted, Rejected, Duplicates, Retried, ProcessingLatency; dimensions
// Class, Reason: Rejected. Class and District take only the fleet's values or "unknown", so
// no device can grow the number of metrics. Logs are slog JSON on stderr; they never hold
// payloads or field values. Each reject is one log line (message LogRejected) with thing,
// class, district and reason, so rejects per thing are a Logs Insights query
// (constructs/ingest.RejectsByThingQuery) rather than a metric dimension per thing.
package pipeline
