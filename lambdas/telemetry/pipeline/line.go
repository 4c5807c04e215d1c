package pipeline

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strconv"

	"github.com/secure-smart-city/platform/fleetspec"
	"github.com/secure-smart-city/platform/lambdas/telemetry/envelope"
	"github.com/secure-smart-city/platform/lambdas/telemetry/internal/jsonenc"
)

// lineWriter turns validated messages into archive lines. It holds scratch space and is not
// safe for concurrent use.
type lineWriter struct {
	sealer  envelope.Sealer
	scratch []byte
}

// appendLine appends m as one NDJSON line:
//
//	{"thing":..,"class":..,"msgId":..,"seq":..,"ts":..,"receivedAt":..,"streamSeq":..,<fields>}
//
// where msgId and seq each appear when the device sent them.
//
// Fields follow the class's order; integers are written canonically, other values as the
// device sent them (the decoder checked their grammar), and sensitive values as envelopes
// sealed with key (nil when the class has no sensitive field).
func (w *lineWriter) appendLine(dst []byte, m *message, streamSeq string, key *envelope.Key) []byte {
	cs := m.class
	// Thing names are 1-128 of [a-zA-Z0-9:_-] (checked), so they need no escaping.
	dst = append(dst, `{"`+KeyThing+`":"`...)
	dst = append(dst, m.thing...)
	dst = append(dst, `",`...)
	dst = append(dst, cs.jsonClass...)
	if m.hasMsgID {
		dst = append(dst, `,"`+KeyMsgID+`":"`...)
		dst = append(dst, m.msgID...)
		dst = append(dst, '"')
	}
	if m.hasSeq {
		dst = append(dst, `,"`+KeySeq+`":`...)
		dst = strconv.AppendInt(dst, m.seq, 10)
	}
	dst = append(dst, `,"`+KeyTS+`":`...)
	dst = strconv.AppendInt(dst, m.ts, 10)
	dst = append(dst, `,"`+KeyReceivedAt+`":`...)
	dst = strconv.AppendInt(dst, m.receivedAt, 10)
	dst = append(dst, `,"`+KeyStreamSeq+`":`...)
	dst = jsonenc.AppendString(dst, streamSeq)
	for i := range cs.fields {
		f, v := &cs.fields[i], m.field(i)
		if v == nil {
			continue
		}
		dst = append(dst, f.jsonKey...)
		if f.sensitive {
			w.scratch = appendValue(w.scratch[:0], f, v)
			dst = w.sealer.AppendSeal(dst, key, f.name, w.scratch)
			continue
		}
		dst = appendValue(dst, f, v)
	}
	return append(dst, '}', '\n')
}

func appendValue(dst []byte, f *fieldSchema, v *member) []byte {
	if f.typ == fleetspec.TypeInteger {
		return strconv.AppendInt(dst, v.i, 10)
	}
	return append(dst, v.val...)
}

// rejectLine describes one rejected record for appendRejectLine.
type rejectLine struct {
	reason    Reason
	detail    string
	thing     string // the validated thing, or the partition key the topic rule set
	class     string // "" when unknown
	district  string // "" when unknown
	streamSeq string
	arrival   int64 // Kinesis approximate arrival, Unix ms
	// source says what the stored bytes are: SourcePayload (the device's payload, decoded
	// from the record) or SourceRecord (the record itself, when no payload could be decoded).
	source string
	// limit truncates the stored bytes: the class's MaxMessageBytes, or the fleet's largest
	// when the class is unknown.
	limit int
}

// What a rejected line's payload holds (its "source").
const (
	SourcePayload = "payload"
	SourceRecord  = "record"
)

// appendRejectLine appends
//
//	{"reason":..,"detail":..,"thing":..,"class":..?,"district":..?,"streamSeq":..,"arrival":..,
//	 "source":"payload"|"record","size":<bytes>,"sha256":"<hex>","truncated":<bool>,
//	 "payload":"<base64>"}
//
// where size and sha256 describe the whole original and payload holds at most r.limit bytes
// of it; or, when the payload may hold sensitive values, "payloadEnc":<envelope> instead of
// payload (key non-nil; the envelope's field name is "payload"). Keeping only the class's
// limit bounds what a flood of oversized rejects can store, and the digest still proves what
// was received.
func (w *lineWriter) appendRejectLine(dst []byte, r *rejectLine, payload []byte, key *envelope.Key) []byte {
	dst = append(dst, `{"reason":`...)
	dst = jsonenc.AppendString(dst, string(r.reason))
	dst = append(dst, `,"detail":`...)
	dst = jsonenc.AppendString(dst, r.detail)
	dst = append(dst, `,"`+KeyThing+`":`...)
	dst = jsonenc.AppendString(dst, r.thing)
	if r.class != "" {
		dst = append(dst, `,"`+KeyClass+`":`...)
		dst = jsonenc.AppendString(dst, r.class)
	}
	if r.district != "" {
		dst = append(dst, `,"district":`...)
		dst = jsonenc.AppendString(dst, r.district)
	}
	dst = append(dst, `,"`+KeyStreamSeq+`":`...)
	dst = jsonenc.AppendString(dst, r.streamSeq)
	dst = append(dst, `,"arrival":`...)
	dst = strconv.AppendInt(dst, r.arrival, 10)
	dst = append(dst, `,"source":`...)
	dst = jsonenc.AppendString(dst, r.source)
	dst = append(dst, `,"size":`...)
	dst = strconv.AppendInt(dst, int64(len(payload)), 10)
	sum := sha256.Sum256(payload)
	dst = append(dst, `,"sha256":"`...)
	dst = hex.AppendEncode(dst, sum[:])
	kept := payload
	if len(kept) > r.limit {
		kept = kept[:max(r.limit, 0)]
	}
	dst = append(dst, `","truncated":`...)
	dst = strconv.AppendBool(dst, len(kept) < len(payload))
	if key != nil {
		dst = append(dst, `,"payloadEnc":`...)
		dst = w.sealer.AppendSeal(dst, key, PayloadField, kept)
	} else {
		dst = append(dst, `,"payload":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, kept)
		dst = append(dst, '"')
	}
	return append(dst, '}', '\n')
}

// PayloadField is the field name a rejected record's encrypted payload is sealed under; pass
// it to envelope.Decrypt.
const PayloadField = "payload"
