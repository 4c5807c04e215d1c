package pipeline

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/secure-smart-city/platform/fleetspec"
	"github.com/secure-smart-city/platform/lambdas/telemetry/internal/jsonenc"
)

// Keys of a telemetry record besides the class's fields. A device sends msgId (or seq) and
// ts; the topic rule adds topic, clientId and receivedAt.
const (
	KeyMsgID      = "msgId"
	KeySeq        = "seq"
	KeyTS         = "ts"
	KeyTopic      = "topic"
	KeyClientID   = "clientId"
	KeyReceivedAt = "receivedAt"
)

// Keys the pipeline writes into stored records and state items.
const (
	KeyThing     = "thing"
	KeyClass     = "class"
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
	// RuleOverheadBytes is what the topic rule adds to a device's message (topic, clientId,
	// receivedAt), allowed on top of the class's MaxMessageBytes.
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
	// jsonClass is `"class":"<id>"`.
	jsonClass []byte
}

type thingInfo struct {
	name  string
	class *classSchema
	// district is the metrics' District dimension ("unknown" when the fleet names none).
	district string
	// jsonThing is `{"thing":"<name>"`, the start of every stored line of this thing.
	jsonThing []byte
}

// schema is the fleet compiled for lookups that allocate nothing.
type schema struct {
	classes   map[string]*classSchema
	things    map[string]*thingInfo
	maxRecord int
}

func compile(f *fleetspec.Fleet) (*schema, error) {
	if f == nil {
		return nil, errors.New("fleet is nil")
	}
	s := &schema{classes: map[string]*classSchema{}, things: map[string]*thingInfo{}}
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
		s.classes[c.ID] = cs
		s.maxRecord = max(s.maxRecord, cs.maxBytes+RuleOverheadBytes)
	}
	for _, t := range f.Things {
		if !validThingName(t.Name) {
			return nil, fmt.Errorf("fleet: thing name %q is not 1-128 of [a-zA-Z0-9:_-]", t.Name)
		}
		if _, dup := s.things[t.Name]; dup {
			return nil, fmt.Errorf("fleet: duplicate thing %q", t.Name)
		}
		cs, ok := s.classes[t.Class]
		if !ok {
			return nil, fmt.Errorf("fleet: thing %q has unknown class %q", t.Name, t.Class)
		}
		district := t.District
		if district == "" {
			district = unknownClass
		}
		s.things[t.Name] = &thingInfo{
			name:      t.Name,
			class:     cs,
			district:  district,
			jsonThing: jsonenc.AppendString([]byte(`{"`+KeyThing+`":`), t.Name),
		}
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
