package pipeline

import (
	"math"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/secure-smart-city/platform/fleetspec"
	"github.com/secure-smart-city/platform/topics"
)

// message is a validated record. Slices point into the record's data.
type message struct {
	// thing is the thing name: clientId, equal to the topic's thing (and in stream mode to
	// the partition key).
	thing []byte
	// class and district are the fleet's, set as soon as the record names a known one, so
	// that a rejected record still counts under them; nil and "" otherwise.
	class    *classSchema
	district string
	msgID    []byte // msgId's characters (never escaped)
	seq      int64
	hasMsgID bool
	hasSeq   bool
	ts       int64
	// receivedAt is the rules engine's receive time, Unix ms.
	receivedAt int64
	// payload is the device's payload, decoded from the record, nil until decoded; it points
	// into the decoder's payload arena.
	payload []byte
	mem     []member // the record's members
	vals    []int32  // per class field, in the class's order: 1 + its index in mem, or 0
}

// field returns the member holding class field i, or nil when absent.
func (m *message) field(i int) *member {
	if j := m.vals[i]; j > 0 {
		return &m.mem[j-1]
	}
	return nil
}

// origin is what the transport vouches for about a record, from outside the record.
type origin struct {
	// direct: a topic rule invoked the function with this one message (no stream).
	direct bool
	// partitionKey is the Kinesis partition key, which the rule's action sets from
	// clientid(); unused in direct mode, where the function has no such second source.
	partitionKey string
	// arrival is Kinesis' ApproximateArrivalTimestamp (stream) or the invocation time
	// (direct), Unix ms.
	arrival int64
}

// validator checks records against the compiled fleet.
type validator struct {
	schema    *schema
	maxFuture int64 // ms
	maxPast   int64 // ms
	// arrivalTol bounds receivedAt against origin.arrival; maxEventAge is how late direct
	// mode's asynchronous deliveries arrive at most (ms).
	arrivalTol, maxEventAge int64
}

func newValidator(s *schema, maxFuture, maxPast, arrivalTol, maxEventAge time.Duration) *validator {
	return &validator{schema: s, maxFuture: maxFuture.Milliseconds(), maxPast: maxPast.Milliseconds(),
		arrivalTol: arrivalTol.Milliseconds(), maxEventAge: maxEventAge.Milliseconds()}
}

// check decodes and validates data, which came through o, into m. m's members go to d's
// arena and its field indexes to vals, an arena the caller reuses; check returns vals grown
// and, for a rejected record, the reason and a detail that never quotes a sensitive value.
func (v *validator) check(d *decoder, data []byte, o *origin, m *message, vals []int32) ([]int32, Reason, string) {
	base := len(d.members)
	vals, r, detail := v.checkIn(d, data, o, m, vals)
	if r != "" {
		d.members = d.members[:base] // a rejected record keeps nothing in the arena
	}
	return vals, r, detail
}

func (v *validator) checkIn(d *decoder, data []byte, o *origin, m *message, vals []int32) ([]int32, Reason, string) {
	*m = message{}
	if len(data) > v.schema.maxRecord {
		return vals, ReasonTooLarge, "record of " + strconv.Itoa(len(data)) + " bytes exceeds every class's limit"
	}
	base := len(d.members)
	if r, detail := d.parse(data); r != "" {
		return vals, ReasonMissingMetadata, "the record is not the topic rule's object (" + string(r) + ": " + detail + ")"
	}
	// The rule's object: exactly its five keys, each once. Anything else means the rule is
	// not the one this processor was built for.
	var payload, topic, client, received, class *member
	for i := range d.members[base:] {
		mb := &d.members[base+i]
		var slot **member
		switch string(mb.key) {
		case KeyPayload:
			slot = &payload
		case KeyTopic:
			slot = &topic
		case KeyClientID:
			slot = &client
		case KeyReceivedAt:
			slot = &received
		case KeyClass:
			slot = &class
		default:
			return vals, ReasonMissingMetadata, "the record holds key " + strconv.Quote(truncate(mb.key, 64)) + ", which the topic rule does not add"
		}
		if *slot != nil {
			return vals, ReasonMissingMetadata, "key " + string(mb.key) + " appears twice in the rule's record"
		}
		*slot = mb
	}
	if payload == nil || payload.kind != kindString || topic == nil || topic.kind != kindString ||
		client == nil || client.kind != kindString || class == nil || class.kind != kindString || received == nil {
		return vals, ReasonMissingMetadata, "payload, topic, clientId and class must be strings and receivedAt a number"
	}
	receivedAt, ok := integer(received)
	if !ok || receivedAt <= 0 {
		return vals, ReasonMissingMetadata, "receivedAt is not a positive integer"
	}
	m.receivedAt = receivedAt
	// The device's payload first, so that every later rejection archives what the device sent.
	body, ok := d.decodePayload(d.inner(payload))
	if !ok {
		return vals, ReasonMissingMetadata, "payload is not base64 (the rule must select encode(*, 'base64'))"
	}
	m.payload = body
	// Class and district next, so that whatever the verdict the record counts under them.
	cs := v.schema.classes[string(d.inner(class))]
	m.class = cs
	topicStr := d.strTemp(topic)
	district, thingName, ok := topics.TelemetryOrigin(topicStr)
	if ok {
		m.district = v.schema.districts[district]
	}
	if !ok {
		return vals, ReasonInvalidTopic, "topic is not a telemetry topic"
	}
	if !validThingName(thingName) {
		return vals, ReasonInvalidTopic, "the topic's thing name is not 1-128 of [a-zA-Z0-9:_-]"
	}
	clientID := d.str(client)
	if thingName != string(clientID) {
		return vals, ReasonThingMismatch, "topic names another thing than the client id"
	}
	if !o.direct && o.partitionKey != thingName {
		return vals, ReasonPartitionKeyMismatch, "client id is not the stream's partition key (the rule sets it from clientid())"
	}
	if r, detail := v.checkArrival(o, receivedAt); r != "" {
		return vals, r, detail
	}
	if cs == nil {
		return vals, ReasonUnknownClass, "class " + strconv.Quote(truncate(d.inner(class), 64)) + " is not a device class of the fleet"
	}
	if rule, found := ruleOf(topicStr); found && !(cs.rule == "" && strings.HasSuffix(rule, cs.ruleSuffix) || cs.rule != "" && rule == cs.rule) {
		return vals, ReasonClassMismatch, "the topic's rule is not the rule of class " + cs.id
	}
	if m.district == "" {
		return vals, ReasonUnknownDistrict, "district " + strconv.Quote(truncate([]byte(district), 64)) + " is not a district of the fleet"
	}
	m.thing = clientID
	if len(body) > cs.maxBytes {
		return vals, ReasonTooLarge, "payload of " + strconv.Itoa(len(body)) + " bytes exceeds " + strconv.Itoa(cs.maxBytes)
	}

	inner := len(d.members)
	if r, detail := d.parse(body); r != "" {
		return vals, r, detail
	}
	mem := d.members[inner:len(d.members):len(d.members)]
	m.mem = mem
	var msgID, seq, ts *member
	var dupKey []byte
	for i := range mem {
		mb := &mem[i]
		var slot **member
		switch string(mb.key) {
		case KeyTopic, KeyClientID, KeyReceivedAt, KeyClass:
			// Exact: the rule's keys live outside the payload, so any such key is the device's.
			return vals, ReasonRuleKeyInPayload, "the payload holds key " + string(mb.key) + ", which only the topic rule may add"
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
			if dupKey == nil {
				dupKey = mb.key
			}
			continue
		}
		*slot = mb
	}
	if dupKey != nil {
		return vals, ReasonDuplicateField, "key " + string(dupKey) + " appears twice"
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
		if mb == msgID || mb == seq || mb == ts {
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

	// Both id keys are checked whenever present: which one is the dedup id (msgId, else seq)
	// does not exempt the other from validation.
	if msgID == nil && seq == nil {
		return vals, ReasonMissingMsgID, "neither msgId nor seq"
	}
	if msgID != nil {
		if msgID.kind != kindString || msgID.esc || !validMsgID(msgID.val[1:len(msgID.val)-1]) {
			return vals, ReasonInvalidMsgID, "msgId must be 1-128 of [A-Za-z0-9._:-]"
		}
		m.msgID, m.hasMsgID = msgID.val[1:len(msgID.val)-1], true
	}
	if seq != nil {
		n, ok := integer(seq)
		if !ok || n < 0 {
			return vals, ReasonInvalidMsgID, "seq must be an integer in [0, 2^53]"
		}
		m.seq, m.hasSeq = n, true
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

// checkArrival bounds receivedAt by what the transport vouches for. In stream mode Kinesis
// stamped the record when the rule's action put it: receivedAt must lie within arrivalTol of
// that. In direct mode the only outside clock is the invocation, and asynchronous retries
// deliver up to maxEventAge late, so receivedAt may not be after the invocation (plus
// arrivalTol) nor older than maxEventAge (plus arrivalTol): a delivery outside that window
// cannot have come from Lambda's queue.
func (v *validator) checkArrival(o *origin, receivedAt int64) (Reason, string) {
	lo, hi := o.arrival-v.arrivalTol, o.arrival+v.arrivalTol
	if o.direct {
		lo -= v.maxEventAge
	}
	switch {
	case receivedAt > hi:
		what := "the record's stream arrival"
		if o.direct {
			what = "the invocation"
		}
		return ReasonArrivalSkew, "receivedAt is " + strconv.FormatInt(receivedAt-o.arrival, 10) + " ms after " + what
	case receivedAt < lo:
		what := "the record's stream arrival"
		if o.direct {
			what = "the invocation, beyond the oldest asynchronous retry"
		}
		return ReasonArrivalSkew, "receivedAt is " + strconv.FormatInt(o.arrival-receivedAt, 10) + " ms before " + what
	}
	return "", ""
}

// ruleOf returns the rule name of a Basic Ingest topic ("$aws/rules/<rule>/..."), without
// allocating, and false for a topic without that prefix (topic() usually returns none).
func ruleOf(topic string) (string, bool) {
	rest, found := strings.CutPrefix(topic, "$aws/rules/")
	if !found {
		return "", false
	}
	rule, _, found := strings.Cut(rest, "/")
	return rule, found
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
