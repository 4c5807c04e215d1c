package pipeline

import (
	"encoding/base64"
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
	streamSeq string
	arrival   int64 // Kinesis approximate arrival, Unix ms
}

// appendRejectLine appends
//
//	{"reason":..,"detail":..,"thing":..,"class":..,"streamSeq":..,"arrival":..,"payload":"<base64>"}
//
// or, when the payload may hold sensitive values, "payloadEnc":<envelope> instead of payload
// (key non-nil; the envelope's field name is "payload").
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
	dst = append(dst, `,"`+KeyStreamSeq+`":`...)
	dst = jsonenc.AppendString(dst, r.streamSeq)
	dst = append(dst, `,"arrival":`...)
	dst = strconv.AppendInt(dst, r.arrival, 10)
	if key != nil {
		dst = append(dst, `,"payloadEnc":`...)
		dst = w.sealer.AppendSeal(dst, key, PayloadField, payload)
	} else {
		dst = append(dst, `,"payload":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, payload)
		dst = append(dst, '"')
	}
	return append(dst, '}', '\n')
}

// PayloadField is the field name a rejected record's encrypted payload is sealed under; pass
// it to envelope.Decrypt.
const PayloadField = "payload"
