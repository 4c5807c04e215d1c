package pipeline

import (
	"math"
	"strconv"
	"time"
	"unsafe"

	"github.com/secure-smart-city/platform/fleetspec"
	"github.com/secure-smart-city/platform/topics"
)

// message is a validated record. Slices point into the record's data.
type message struct {
	thing      *thingInfo
	msgID      []byte // msgId's characters (never escaped)
	seq        int64
	hasMsgID   bool
	ts         int64
	receivedAt int64
	mem        []member // the record's members
	vals       []int32  // per class field, in the class's order: 1 + its index in mem, or 0
}

// field returns the member holding class field i, or nil when absent.
func (m *message) field(i int) *member {
	if j := m.vals[i]; j > 0 {
		return &m.mem[j-1]
	}
	return nil
}

// validator checks records against the compiled fleet.
type validator struct {
	schema    *schema
	maxFuture int64 // ms
	maxPast   int64 // ms
}

func newValidator(s *schema, maxFuture, maxPast time.Duration) *validator {
	return &validator{schema: s, maxFuture: maxFuture.Milliseconds(), maxPast: maxPast.Milliseconds()}
}

// check decodes and validates data into m. m's members go to d's arena and its field
// indexes to vals, an arena the caller reuses; check returns vals grown and, for a rejected
// record, the reason and a detail that never quotes a sensitive value.
func (v *validator) check(d *decoder, data []byte, m *message, vals []int32) ([]int32, Reason, string) {
	base := len(d.members)
	vals, r, detail := v.checkIn(d, data, m, vals)
	if r != "" {
		d.members = d.members[:base] // a rejected record keeps nothing in the arena
	}
	return vals, r, detail
}

func (v *validator) checkIn(d *decoder, data []byte, m *message, vals []int32) ([]int32, Reason, string) {
	*m = message{}
	if len(data) > v.schema.maxRecord {
		return vals, ReasonTooLarge, "record of " + strconv.Itoa(len(data)) + " bytes exceeds every class's limit"
	}
	base := len(d.members)
	if r, detail := d.parse(data); r != "" {
		return vals, r, detail
	}
	mem := d.members[base:len(d.members):len(d.members)]
	m.mem = mem

	var topic, client, received, msgID, seq, ts *member
	for i := range mem {
		mb := &mem[i]
		var slot **member
		switch string(mb.key) {
		case KeyTopic:
			slot = &topic
		case KeyClientID:
			slot = &client
		case KeyReceivedAt:
			slot = &received
		case KeyMsgID:
			slot = &msgID
		case KeySeq:
			slot = &seq
		case KeyTS:
			slot = &ts
		default:
			continue
		}
		if *slot != nil {
			// Two clientIds (or topics) leave no trustworthy identity: refuse before using either.
			return vals, ReasonDuplicateField, "key " + string(mb.key) + " appears twice"
		}
		*slot = mb
	}

	if topic == nil || topic.kind != kindString || client == nil || client.kind != kindString || received == nil {
		return vals, ReasonMissingMetadata, "topic, clientId and receivedAt must be strings and a number"
	}
	receivedAt, ok := integer(received)
	if !ok || receivedAt <= 0 {
		return vals, ReasonMissingMetadata, "receivedAt is not a positive integer"
	}
	clientID := d.str(client)
	_, thingName, ok := topics.TelemetryOrigin(d.strTemp(topic))
	if !ok {
		return vals, ReasonInvalidTopic, "topic is not a telemetry topic"
	}
	if thingName != string(clientID) {
		return vals, ReasonThingMismatch, "topic names another thing than the client id"
	}
	ti := v.schema.things[string(clientID)]
	if ti == nil {
		return vals, ReasonUnknownThing, "client id is not a thing of the fleet"
	}
	cs := ti.class
	m.thing = ti
	m.receivedAt = receivedAt
	if len(data) > cs.maxBytes+RuleOverheadBytes {
		return vals, ReasonTooLarge, "record of " + strconv.Itoa(len(data)) + " bytes exceeds " + strconv.Itoa(cs.maxBytes) + " + " + strconv.Itoa(RuleOverheadBytes)
	}

	start := len(vals)
	for range cs.fields {
		vals = append(vals, 0)
	}
	fv := vals[start:]
	m.vals = fv
	var unknown []byte
	guess := 0
	for i := range mem {
		mb := &mem[i]
		if mb == topic || mb == client || mb == received || mb == msgID || mb == seq || mb == ts {
			continue
		}
		// Devices usually send fields in the class's order: try the next one before hashing.
		idx, ok := guess, guess < len(cs.fields) && cs.fields[guess].name == string(mb.key)
		if !ok {
			idx, ok = cs.index[string(mb.key)]
		}
		guess = idx + 1
		if !ok {
			if unknown == nil {
				unknown = mb.key
			}
			continue
		}
		if fv[idx] != 0 {
			return vals, ReasonDuplicateField, "field " + cs.fields[idx].name + " appears twice"
		}
		fv[idx] = int32(i + 1)
	}
	if unknown != nil {
		return vals, ReasonUnknownField, "key " + strconv.Quote(truncate(unknown, 64)) + " is not a field of " + cs.id
	}

	switch {
	case msgID != nil:
		if msgID.kind != kindString || msgID.esc || !validMsgID(msgID.val[1:len(msgID.val)-1]) {
			return vals, ReasonInvalidMsgID, "msgId must be 1-128 of [A-Za-z0-9._:-]"
		}
		m.msgID, m.hasMsgID = msgID.val[1:len(msgID.val)-1], true
	case seq != nil:
		n, ok := integer(seq)
		if !ok || n < 0 {
			return vals, ReasonInvalidMsgID, "seq must be an integer in [0, 2^53]"
		}
		m.seq = n
	default:
		return vals, ReasonMissingMsgID, "neither msgId nor seq"
	}

	if ts == nil {
		return vals, ReasonMissingTimestamp, "no ts"
	}
	m.ts, ok = integer(ts)
	if !ok || m.ts <= 0 {
		return vals, ReasonInvalidTimestamp, "ts must be a positive integer of Unix milliseconds"
	}
	if m.ts > receivedAt+v.maxFuture {
		return vals, ReasonClockSkew, "ts is " + strconv.FormatInt(m.ts-receivedAt, 10) + " ms ahead of receivedAt"
	}
	if m.ts < receivedAt-v.maxPast {
		return vals, ReasonClockSkew, "ts is " + strconv.FormatInt(receivedAt-m.ts, 10) + " ms behind receivedAt"
	}

	var missing string
	for i := range cs.fields {
		f, val := &cs.fields[i], m.field(i)
		if val == nil {
			if f.required && missing == "" {
				missing = f.name
			}
			continue
		}
		if r, detail := d.checkField(f, val); r != "" {
			return vals, r, "field " + f.name + ": " + detail
		}
	}
	if missing != "" {
		return vals, ReasonMissingField, "field " + missing + " is required"
	}
	return vals, "", ""
}

// checkField checks one present value against its field, filling val.i or val.f.
func (d *decoder) checkField(f *fieldSchema, val *member) (Reason, string) {
	switch f.typ {
	case fleetspec.TypeBoolean:
		if val.kind != kindTrue && val.kind != kindFalse {
			return ReasonWrongType, "want a boolean"
		}
	case fleetspec.TypeNumber:
		if val.kind != kindNumber {
			return ReasonWrongType, "want a number"
		}
		x, ok := number(val.val, &val.num)
		if !ok {
			return ReasonOutOfRange, "not representable"
		}
		if x < f.min || x > f.max {
			return ReasonOutOfRange, bounds(f)
		}
		val.f = x
	case fleetspec.TypeInteger:
		if val.kind != kindNumber {
			return ReasonWrongType, "want an integer"
		}
		n, r := integerToken(val.val, val.intLit, &val.num)
		if r != "" {
			return r, "want an integer in [-2^53, 2^53]"
		}
		if float64(n) < f.min || float64(n) > f.max {
			return ReasonOutOfRange, bounds(f)
		}
		val.i = n
	case fleetspec.TypeString:
		if val.kind != kindString {
			return ReasonWrongType, "want a string"
		}
		s := d.inner(val)
		if len(s) > f.maxLen {
			return ReasonTooLong, strconv.Itoa(len(s)) + " bytes, at most " + strconv.Itoa(f.maxLen)
		}
		if len(f.enum) > 0 {
			found := false
			for _, e := range f.enum {
				if string(s) == e {
					found = true
					break
				}
			}
			if !found {
				return ReasonNotInEnum, "not one of the allowed values"
			}
		}
	}
	return "", ""
}

func bounds(f *fieldSchema) string {
	return "outside [" + strconv.FormatFloat(f.min, 'g', -1, 64) + ", " + strconv.FormatFloat(f.max, 'g', -1, 64) + "]"
}

// inner returns a string value's decoded bytes, in scratch space valid until the next call.
func (d *decoder) inner(val *member) []byte {
	s := val.val[1 : len(val.val)-1]
	if !val.esc {
		return s
	}
	d.strbuf = unescape(d.strbuf[:0], s)
	return d.strbuf
}

// str returns a string member's decoded bytes without copying when it has no escapes.
func (d *decoder) str(mb *member) []byte {
	s := mb.val[1 : len(mb.val)-1]
	if !mb.esc {
		return s
	}
	return unescape(nil, s)
}

// strTemp is str as a string that shares memory with the record; callers must not keep it.
func (d *decoder) strTemp(mb *member) string {
	b := d.str(mb)
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// number parses a JSON number token into a float64 that DynamoDB can store: finite, and zero
// or of magnitude within [1e-130, 9.99e125]. A token that underflows to zero is refused
// rather than silently stored as 0.
func number(raw []byte, num *decimal) (float64, bool) {
	x, exact := num.float()
	if exact {
		if x == 0 {
			return 0, true
		}
	} else {
		var err error
		x, err = strconv.ParseFloat(unsafe.String(&raw[0], len(raw)), 64)
		if err != nil || math.IsInf(x, 0) || math.IsNaN(x) {
			return 0, false
		}
	}
	if x == 0 {
		for _, c := range raw {
			if c == 'e' || c == 'E' {
				break
			}
			if c >= '1' && c <= '9' {
				return 0, false
			}
		}
		return 0, true
	}
	if a := math.Abs(x); a > dynamoMax || a < dynamoMin {
		return 0, false
	}
	return x, true
}

// integer reads a member that must be an integer (ts, receivedAt, seq).
func integer(mb *member) (int64, bool) {
	if mb.kind != kindNumber {
		return 0, false
	}
	n, r := integerToken(mb.val, mb.intLit, &mb.num)
	return n, r == ""
}

// integerToken accepts any JSON number with an integral value within +-2^53 ("5", "5.0",
// "5e2"): some device JSON encoders write every number as a float.
func integerToken(raw []byte, intLit bool, num *decimal) (int64, Reason) {
	if intLit && !num.truncated && num.exp == 0 && num.mant <= maxSafeInt {
		n := int64(num.mant)
		if num.neg {
			n = -n
		}
		return n, ""
	}
	s := unsafe.String(&raw[0], len(raw))
	if intLit {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n > maxSafeInt || n < -maxSafeInt {
			return 0, ReasonOutOfRange
		}
		return n, ""
	}
	x, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(x, 0) || math.Abs(x) > maxSafeInt {
		return 0, ReasonOutOfRange
	}
	if x != math.Trunc(x) {
		return 0, ReasonWrongType
	}
	return int64(x), ""
}

func validMsgID(b []byte) bool {
	if len(b) == 0 || len(b) > maxMsgID {
		return false
	}
	for _, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	return string(b)
}
