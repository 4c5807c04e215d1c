package pipeline

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/secure-smart-city/platform/fleetspec"
	"github.com/secure-smart-city/platform/lambdas/telemetry/contract"
	"github.com/secure-smart-city/platform/lambdas/telemetry/internal/jsonenc"
	"github.com/secure-smart-city/platform/topics"
)

// Keys of a telemetry record. The topic rule writes the record: the device's payload,
// base64-encoded, under KeyPayload, beside topic, clientId, receivedAt and class (RuleKeys).
// The payload is a JSON object holding msgId and/or seq, ts and the class's fields.
const (
	// KeyPayload holds the device's payload exactly as published, base64-encoded by the rule
	// (encode(*, 'base64')), whatever its bytes: JSON or not.
	KeyPayload    = contract.KeyPayload
	KeyMsgID      = "msgId"
	KeySeq        = "seq"
	KeyTS         = "ts"
	KeyTopic      = contract.KeyTopic
	KeyClientID   = contract.KeyClientID
	KeyReceivedAt = contract.KeyReceivedAt
	// KeyClass is the class id, a constant of the class's rule ('street_light' AS class). The
	// pipeline also writes it into stored records and state items.
	KeyClass = contract.KeyClass
)

// RuleKeys are the keys the topic rule adds beside the payload
// (SELECT encode(*, 'base64') AS payload, topic() AS topic, clientid() AS clientId,
// timestamp() AS receivedAt, '<class>' AS class). A device must never send them.
//
// Because the rule carries the payload as one base64 string instead of merging its keys
// into the rule's result (SELECT *, ...), the device cannot reach the rule's keys at all: the
// record's topic, clientId, receivedAt and class are the rules engine's, and a payload that
// holds one of these keys is detected exactly and rejected (ReasonRuleKeyInPayload). This
// holds in direct mode too, where no partition key backs clientId. (With SELECT *, AWS does
// not document which value wins when a payload key meets a rule alias; that question no
// longer arises.)
//
// What the other checks still add: in stream mode clientId must equal the Kinesis partition
// key (set from clientid() outside the SQL result) and the topic's thing must equal
// clientId; receivedAt must lie within ArrivalTolerance of the record's Kinesis arrival, so ts
// (bounded by receivedAt) is at most ArrivalTolerance plus MaxFutureSkew ahead of it; class
// must be a class of the fleet and agree with the topic when the topic carries the rule; the
// district must be a district of the fleet. A device, bound by its policy to its own class's
// rule, district and name, cannot label its records with another thing, class or district.
var RuleKeys = contract.RuleKeys

// Keys the pipeline writes into stored records and state items, besides KeyClass.
const (
	KeyThing     = "thing"
	KeyStreamSeq = "streamSeq"
)

// DynamoDB attribute names of the state table (partition key pk, sort key sk, both strings;
// TTL attribute expiresAt).
const (
	AttrPK        = "pk"
	AttrSK        = "sk"
	AttrObject    = "obj"
	AttrExpiresAt = "expiresAt"
	// StateSortKey is the sort key of a thing's latest-state item (pk=<thing>); readers such
	// as the command API use it.
	StateSortKey = stateSK
)

// reserved names may not be class fields: they would collide with message keys or with what
// the pipeline stores beside the fields.
var reserved = map[string]bool{
	KeyMsgID: true, KeySeq: true, KeyTS: true, KeyTopic: true, KeyClientID: true,
	KeyReceivedAt: true, KeyThing: true, KeyClass: true, KeyStreamSeq: true,
	AttrPK: true, AttrSK: true, AttrObject: true, AttrExpiresAt: true,
}

// Defaults of the fleet file and of the validator.
const (
	DefaultMaxMessageBytes = 4096
	DefaultMaxLength       = 256
	DefaultMaxFutureSkew   = 5 * time.Minute
	DefaultMaxPastSkew     = 24 * time.Hour
	// DefaultArrivalTolerance bounds receivedAt (the rules engine's clock) against the
	// record's Kinesis ApproximateArrivalTimestamp (Kinesis' clock). The rule stamps the
	// message and its Kinesis action puts it on the stream within seconds; a minute covers
	// the two services' clock difference and the action's latency. It also caps how far a
	// forged receivedAt could move a device's state ahead: this plus MaxFutureSkew.
	DefaultArrivalTolerance = time.Minute
	// DefaultMaxEventAge is how old an asynchronous (direct mode) invocation can be when
	// Lambda delivers it: the maximum event age constructs/golambda sets for asynchronous
	// functions (6 hours, also Lambda's default). Retries arrive up to that late.
	DefaultMaxEventAge = 6 * time.Hour
	// RuleOverheadBytes is what the topic rule adds around a device's encoded payload (the
	// keys, topic, clientId, receivedAt, class), allowed on top of the encoded class limit
	// before the record is parsed.
	RuleOverheadBytes = 512
	// MaxDepth bounds nesting inside a record; fields are scalars, so anything deeper than a
	// few levels is an attack or a bug.
	MaxDepth = 32
	// maxMsgID bounds msgId's length.
	maxMsgID = 128
	// maxSafeInt is 2^53: integers beyond it do not survive a float64 (JSON readers, Athena).
	maxSafeInt = 1 << 53
	// DynamoDB numbers: magnitudes in [1e-130, 9.99...e125].
	dynamoMax = 9.9999999999999999e125
	dynamoMin = 1e-130
)

type fieldSchema struct {
	name      string
	typ       fleetspec.FieldType
	required  bool
	sensitive bool
	min, max  float64
	maxLen    int
	enum      []string
	// jsonKey is `,"name":`, ready to append after a previous member.
	jsonKey []byte
}

type classSchema struct {
	id           string
	fields       []fieldSchema
	index        map[string]int
	maxBytes     int
	hasSensitive bool
	// stateEvery is the class's stateInterval (fleetspec.DeviceClass.StateEvery).
	stateEvery time.Duration
	// rule is the class's topic rule name when the rule prefix is known; ruleSuffix is
	// "_<id>", what every rule name of the class ends with (topics.RuleName).
	rule, ruleSuffix string
	// jsonClass is `"class":"<id>"`.
	jsonClass []byte
}

// schema is the fleet compiled for lookups that allocate nothing. It holds no things: a
// device's name, class and district come from its record (see RuleKeys).
type schema struct {
	classes map[string]*classSchema
	// districts maps each district id to itself, so a record's district can be kept without
	// holding on to the record's memory.
	districts map[string]string
	// maxRecord bounds a record before parsing: the largest class limit, base64-encoded, plus
	// RuleOverheadBytes. maxPayload is the largest class limit.
	maxRecord, maxPayload int
}

// compile builds the schema; rulePrefix ("" when unknown) names the classes' rules.
func compile(f *fleetspec.Fleet, rulePrefix string) (*schema, error) {
	if f == nil {
		return nil, errors.New("fleet is nil")
	}
	s := &schema{classes: map[string]*classSchema{}, districts: map[string]string{}}
	for _, c := range f.Classes {
		if !validClassID(c.ID) {
			return nil, fmt.Errorf("fleet: class id %q is not a lowercase letter followed by lowercase letters, digits or underscores", c.ID)
		}
		if _, dup := s.classes[c.ID]; dup {
			return nil, fmt.Errorf("fleet: duplicate class %q", c.ID)
		}
		cs, err := compileClass(c)
		if err != nil {
			return nil, err
		}
		cs.ruleSuffix = "_" + c.ID
		if rulePrefix != "" {
			cs.rule = topics.RuleName(rulePrefix, c.ID)
		}
		s.classes[c.ID] = cs
		s.maxPayload = max(s.maxPayload, cs.maxBytes)
		s.maxRecord = max(s.maxRecord, base64.StdEncoding.EncodedLen(cs.maxBytes)+RuleOverheadBytes)
	}
	for _, d := range f.Districts {
		if !validClassID(d.ID) {
			return nil, fmt.Errorf("fleet: district id %q is not a lowercase letter followed by lowercase letters, digits or underscores", d.ID)
		}
		if _, dup := s.districts[d.ID]; dup {
			return nil, fmt.Errorf("fleet: duplicate district %q", d.ID)
		}
		s.districts[d.ID] = d.ID
	}
	return s, nil
}

func compileClass(c fleetspec.DeviceClass) (*classSchema, error) {
	cs := &classSchema{
		id:        c.ID,
		index:     make(map[string]int, len(c.Fields)),
		maxBytes:  c.MaxMessageBytes,
		jsonClass: jsonenc.AppendString([]byte(`"`+KeyClass+`":`), c.ID),
	}
	if cs.maxBytes <= 0 {
		cs.maxBytes = DefaultMaxMessageBytes
	}
	every, err := c.StateEvery()
	if err != nil {
		return nil, fmt.Errorf("class %s: %w", c.ID, err)
	}
	cs.stateEvery = every
	for _, fd := range c.Fields {
		if !validFieldName(fd.Name) {
			return nil, fmt.Errorf("class %s: field name %q is not a letter followed by letters, digits or underscores", c.ID, fd.Name)
		}
		if reserved[fd.Name] {
			return nil, fmt.Errorf("class %s: field name %q is reserved", c.ID, fd.Name)
		}
		if _, dup := cs.index[fd.Name]; dup {
			return nil, fmt.Errorf("class %s: duplicate field %q", c.ID, fd.Name)
		}
		fs := fieldSchema{
			name:      fd.Name,
			typ:       fd.Type,
			required:  fd.Required,
			sensitive: fd.Sensitive,
			min:       math.Inf(-1),
			max:       math.Inf(1),
			maxLen:    fd.MaxLength,
			enum:      fd.Enum,
			jsonKey:   []byte(`,"` + fd.Name + `":`),
		}
		switch fd.Type {
		case fleetspec.TypeNumber, fleetspec.TypeInteger, fleetspec.TypeString, fleetspec.TypeBoolean:
		default:
			return nil, fmt.Errorf("class %s: field %s has unknown type %q", c.ID, fd.Name, fd.Type)
		}
		if fd.Min != nil {
			fs.min = *fd.Min
		}
		if fd.Max != nil {
			fs.max = *fd.Max
		}
		if fs.min > fs.max {
			return nil, fmt.Errorf("class %s: field %s has min above max", c.ID, fd.Name)
		}
		if fs.maxLen <= 0 {
			fs.maxLen = DefaultMaxLength
		}
		cs.hasSensitive = cs.hasSensitive || fd.Sensitive
		cs.index[fd.Name] = len(cs.fields)
		cs.fields = append(cs.fields, fs)
	}
	return cs, nil
}

func validFieldName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !letter && (i == 0 || !(c >= '0' && c <= '9' || c == '_')) {
			return false
		}
	}
	return true
}

// validClassID keeps class ids safe inside S3 keys (class=<id>) and metric dimensions.
func validClassID(s string) bool {
	if s == "" || len(s) > 64 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// validThingName follows AWS IoT thing naming, which is also what the partition key and the
// MQTT client id hold.
func validThingName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == ':' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
