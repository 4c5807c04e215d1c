package pipeline

import (
	"bufio"
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/secure-smart-city/platform/fleetspec"
	"github.com/secure-smart-city/platform/internal/fakekms"
	"github.com/secure-smart-city/platform/topics"
)

const (
	testTable  = "telemetry-state"
	testBucket = "telemetry-archive"
	testKeyID  = "alias/telemetry-fields"
)

var errUnavailable = errors.New("service unavailable")

func f64(v float64) *float64 { return &v }

// testFleet mirrors the dev fleet's shapes: booleans, bounded numbers and integers, an enum,
// a bounded string and sensitive strings.
func testFleet() *fleetspec.Fleet {
	return &fleetspec.Fleet{
		Name: "smartcity",
		Classes: []fleetspec.DeviceClass{
			{ID: "street_light", MaxMessageBytes: 1024, Fields: []fleetspec.Field{
				{Name: "on", Type: fleetspec.TypeBoolean, Required: true},
				{Name: "brightness", Type: fleetspec.TypeInteger, Required: true, Min: f64(0), Max: f64(100)},
				{Name: "power_w", Type: fleetspec.TypeNumber, Min: f64(0), Max: f64(500)},
				{Name: "lux", Type: fleetspec.TypeNumber, Min: f64(0), Max: f64(100000)},
				{Name: "lamp_fault", Type: fleetspec.TypeBoolean},
			}},
			{ID: "traffic_signal", MaxMessageBytes: 1024, Fields: []fleetspec.Field{
				{Name: "phase", Type: fleetspec.TypeString, Required: true, Enum: []string{"red", "red_amber", "green", "amber", "flashing_amber", "off"}},
				{Name: "fault", Type: fleetspec.TypeBoolean, Required: true},
				{Name: "cycle_s", Type: fleetspec.TypeInteger, Min: f64(10), Max: f64(300)},
			}},
			{ID: "camera", MaxMessageBytes: 16384, Fields: []fleetspec.Field{
				{Name: "vehicle_count", Type: fleetspec.TypeInteger, Min: f64(0)},
				{Name: "avg_speed_kmh", Type: fleetspec.TypeNumber, Min: f64(0), Max: f64(300)},
				{Name: "plate_reads", Type: fleetspec.TypeString, MaxLength: 8192, Sensitive: true},
				{Name: "snapshot_ref", Type: fleetspec.TypeString, MaxLength: 512, Sensitive: true},
			}},
			{ID: "parking", MaxMessageBytes: 512, Fields: []fleetspec.Field{
				{Name: "occupied", Type: fleetspec.TypeBoolean, Required: true},
				{Name: "bay", Type: fleetspec.TypeString, MaxLength: 32},
				{Name: "battery_pct", Type: fleetspec.TypeInteger, Min: f64(0), Max: f64(100)},
			}},
		},
		// No things: the pipeline serves any thing whose record names a class and a district
		// of the fleet.
		Districts: []fleetspec.District{{ID: "old_town", Name: "Old town"}, {ID: "harbour", Name: "Harbour"}},
	}
}

// classOf is the device class of a test thing, by its name's prefix.
func classOf(thing string) string {
	for prefix, class := range map[string]string{"sl-": "street_light", "ts-": "traffic_signal", "cam-": "camera", "pk-": "parking", "env-": "env_station"} {
		if strings.HasPrefix(thing, prefix) {
			return class
		}
	}
	return "unknown_class_of_" + thing
}

// districtOf is the district of a test thing: sl-2 is in the harbour, every other one in the
// old town.
func districtOf(thing string) string {
	if thing == "sl-2" {
		return "harbour"
	}
	return "old_town"
}

// ruleRecord is a record as the topic rule writes it: the payload base64-encoded beside the
// rule's keys (ingest.RuleSQL).
func ruleRecord(payload []byte, topic, clientID, class string, receivedAt int64) []byte {
	return []byte(fmt.Sprintf(`{"payload":%q,"topic":%q,"clientId":%q,"receivedAt":%d,"class":%q}`,
		base64.StdEncoding.EncodeToString(payload), topic, clientID, receivedAt, class))
}

// ruleRecordOf is the rule's record of payload from thing, received at ms.
func ruleRecordOf(thing string, ms int64, payload []byte) []byte {
	return ruleRecord(payload, topics.TelemetrySuffix(districtOf(thing), thing), thing, classOf(thing), ms)
}

// payloadOf is the device payload a rule record carries (data itself when it carries none).
func payloadOf(data []byte) []byte {
	var h struct{ Payload *string }
	if json.Unmarshal(data, &h) != nil || h.Payload == nil {
		return data
	}
	p, err := base64.StdEncoding.DecodeString(*h.Payload)
	if err != nil {
		return data
	}
	return p
}

// baseTime is receivedAt of test messages: 2026-01-01T10:00:00Z.
var baseTime = time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)

// msg builds a record payload as the topic rule emits it; fields is the JSON members of the
// class's fields (without braces).
func msg(thing, msgID string, fields string) []byte {
	return msgAt(thing, msgID, baseTime, fields)
}

func msgAt(thing, msgID string, at time.Time, fields string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `{"msgId":%q,"ts":%d`, msgID, at.UnixMilli()-1500)
	if fields != "" {
		b.WriteString("," + fields)
	}
	b.WriteString("}")
	return ruleRecordOf(thing, at.UnixMilli(), []byte(b.String()))
}

func seqNo(n int) string { return fmt.Sprintf("4959%052d", n) }

// kinRec is a stream record as the rule's Kinesis action puts it: it arrives a second after
// the rule stamped receivedAt (at baseTime+1s when data has no readable receivedAt).
func kinRec(n int, partitionKey string, data []byte) events.KinesisEventRecord {
	arrival := baseTime.Add(time.Second)
	var h struct{ ReceivedAt *int64 }
	if json.Unmarshal(data, &h) == nil && h.ReceivedAt != nil {
		arrival = time.UnixMilli(*h.ReceivedAt + 1000)
	}
	return kinRecAt(n, partitionKey, data, arrival)
}

func kinRecAt(n int, partitionKey string, data []byte, arrival time.Time) events.KinesisEventRecord {
	var r events.KinesisEventRecord
	r.EventSource = "aws:kinesis"
	r.EventID = "shardId-000000000000:" + seqNo(n)
	r.Kinesis.SequenceNumber = seqNo(n)
	r.Kinesis.PartitionKey = partitionKey
	r.Kinesis.Data = data
	r.Kinesis.ApproximateArrivalTimestamp = events.SecondsEpochTime{Time: arrival}
	return r
}

// fakeDynamo is an in-memory state table that checks requests the way DynamoDB does.
type fakeDynamo struct {
	t  testing.TB
	mu sync.Mutex
	// items by key
	items map[itemKey]map[string]ddbtypes.AttributeValue
	// getErrs and writeErrs fail the next calls; writeHook may fail an UpdateItem by
	// inspecting it, before (applied=false) or after (applied=true) applying it; noAllOld
	// makes a refused write return no item (as an emulator without
	// ReturnValuesOnConditionCheckFailure would).
	getErrs, writeErrs int
	writeHook          func(in *dynamodb.UpdateItemInput) (applied bool, err error)
	noAllOld           bool
	// gets counts BatchGetItem calls and keysRead the keys they read; updates counts
	// UpdateItem calls, written those applied and refused those refused by their condition.
	gets, keysRead            int
	updates, written, refused int
}

func newFakeDynamo(t testing.TB) *fakeDynamo {
	return &fakeDynamo{t: t, items: map[itemKey]map[string]ddbtypes.AttributeValue{}}
}

func (f *fakeDynamo) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gets++
	ka, ok := in.RequestItems[testTable]
	f.keysRead += len(ka.Keys)
	if !ok || len(in.RequestItems) != 1 {
		return nil, errors.New("ValidationException: unknown table")
	}
	if len(ka.Keys) == 0 || len(ka.Keys) > 100 {
		return nil, fmt.Errorf("ValidationException: %d keys", len(ka.Keys))
	}
	if ka.ConsistentRead == nil || !*ka.ConsistentRead {
		f.t.Errorf("BatchGetItem without consistent reads")
	}
	seen := map[itemKey]bool{}
	for _, k := range ka.Keys {
		if seen[keyOf(k)] {
			return nil, errors.New("ValidationException: Provided list of item keys contains duplicates")
		}
		seen[keyOf(k)] = true
	}
	if f.getErrs > 0 {
		f.getErrs--
		return nil, errUnavailable
	}
	out := &dynamodb.BatchGetItemOutput{Responses: map[string][]map[string]ddbtypes.AttributeValue{}}
	for _, k := range ka.Keys {
		if item, ok := f.items[keyOf(k)]; ok {
			out.Responses[testTable] = append(out.Responses[testTable], item)
		}
	}
	return out, nil
}

func (f *fakeDynamo) UpdateItem(_ context.Context, in *dynamodb.UpdateItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.updates++
	if in.TableName == nil || *in.TableName != testTable {
		return nil, errors.New("ResourceNotFoundException: unknown table")
	}
	k := keyOf(in.Key)
	if k.pk == "" || k.sk == "" || len(in.Key) != 2 {
		return nil, errors.New("ValidationException: bad key")
	}
	for _, e := range []*string{in.UpdateExpression, in.ConditionExpression} {
		if e != nil && len(*e) > 4096 {
			return nil, fmt.Errorf("ValidationException: expression of %d bytes", len(*e))
		}
	}
	if f.writeErrs > 0 {
		f.writeErrs--
		return nil, errUnavailable
	}
	applied, hookErr := false, error(nil)
	if f.writeHook != nil {
		applied, hookErr = f.writeHook(in)
		if hookErr != nil && !applied {
			return nil, hookErr
		}
	}
	old := f.items[k]
	ev := &exprEval{names: in.ExpressionAttributeNames, values: in.ExpressionAttributeValues, item: old}
	if in.ConditionExpression != nil {
		ok, err := ev.cond(*in.ConditionExpression)
		if err != nil {
			f.t.Errorf("condition %q: %v", *in.ConditionExpression, err)
			return nil, fmt.Errorf("ValidationException: %w", err)
		}
		if !ok {
			f.refused++
			ccf := &ddbtypes.ConditionalCheckFailedException{Message: ptr("The conditional request failed")}
			if in.ReturnValuesOnConditionCheckFailure == ddbtypes.ReturnValuesOnConditionCheckFailureAllOld && !f.noAllOld && old != nil {
				ccf.Item = maps.Clone(old)
			}
			return nil, ccf
		}
	}
	next, err := ev.update(*in.UpdateExpression)
	if err != nil {
		f.t.Errorf("update %q: %v", *in.UpdateExpression, err)
		return nil, fmt.Errorf("ValidationException: %w", err)
	}
	for name, v := range keyAttrs(k) {
		next[name] = v
	}
	f.items[k] = next
	f.written++
	if hookErr != nil {
		return nil, hookErr
	}
	out := &dynamodb.UpdateItemOutput{}
	if in.ReturnValues == ddbtypes.ReturnValueAllNew {
		out.Attributes = maps.Clone(next)
	}
	return out, nil
}

// exprEval evaluates the subset of DynamoDB's expression grammar the pipeline writes:
// conditions of comparisons (=, <>, <, <=, >, >=), attribute_exists, attribute_not_exists,
// contains (string or list) with NOT, AND, OR and parentheses; updates of SET path = value,
// path, or if_not_exists(path, value), and REMOVE path. Values are read from the item as it
// was before the update, as DynamoDB does.
type exprEval struct {
	names  map[string]string
	values map[string]ddbtypes.AttributeValue
	item   map[string]ddbtypes.AttributeValue
	toks   []string
	pos    int
}

func tokenize(s string) []string {
	var toks []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ':
			i++
		case strings.ContainsRune("(),", rune(c)):
			toks = append(toks, string(c))
			i++
		case c == '<' || c == '>' || c == '=':
			j := i + 1
			if j < len(s) && (s[j] == '=' || s[j] == '>') {
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" (),<>=", rune(s[j])) {
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		}
	}
	return toks
}

func (e *exprEval) next() string {
	if e.pos >= len(e.toks) {
		return ""
	}
	e.pos++
	return e.toks[e.pos-1]
}

func (e *exprEval) peek() string {
	if e.pos >= len(e.toks) {
		return ""
	}
	return e.toks[e.pos]
}

func (e *exprEval) expect(t string) error {
	if got := e.next(); got != t {
		return fmt.Errorf("want %q, got %q", t, got)
	}
	return nil
}

func (e *exprEval) cond(s string) (bool, error) {
	e.toks, e.pos = tokenize(s), 0
	v, err := e.or()
	if err == nil && e.pos != len(e.toks) {
		err = fmt.Errorf("trailing %v", e.toks[e.pos:])
	}
	return v, err
}

func (e *exprEval) or() (bool, error) {
	v, err := e.and()
	for err == nil && e.peek() == "OR" {
		e.next()
		var w bool
		w, err = e.and()
		v = v || w
	}
	return v, err
}

func (e *exprEval) and() (bool, error) {
	v, err := e.not()
	for err == nil && e.peek() == "AND" {
		e.next()
		var w bool
		w, err = e.not()
		v = v && w
	}
	return v, err
}

func (e *exprEval) not() (bool, error) {
	if e.peek() == "NOT" {
		e.next()
		v, err := e.not()
		return !v, err
	}
	return e.primary()
}

func (e *exprEval) primary() (bool, error) {
	switch t := e.peek(); t {
	case "(":
		e.next()
		v, err := e.or()
		if err == nil {
			err = e.expect(")")
		}
		return v, err
	case "attribute_exists", "attribute_not_exists", "contains":
		e.next()
		if err := e.expect("("); err != nil {
			return false, err
		}
		a, ok := e.operand(e.next())
		var b ddbtypes.AttributeValue
		if t == "contains" {
			if err := e.expect(","); err != nil {
				return false, err
			}
			b, _ = e.operand(e.next())
		}
		if err := e.expect(")"); err != nil {
			return false, err
		}
		switch t {
		case "attribute_exists":
			return ok, nil
		case "attribute_not_exists":
			return !ok, nil
		}
		sub, isS := b.(*ddbtypes.AttributeValueMemberS)
		switch a := a.(type) {
		case *ddbtypes.AttributeValueMemberS:
			return isS && strings.Contains(a.Value, sub.Value), nil
		case *ddbtypes.AttributeValueMemberL:
			for _, el := range a.Value {
				if s, ok := el.(*ddbtypes.AttributeValueMemberS); ok && isS && s.Value == sub.Value {
					return true, nil
				}
			}
		}
		return false, nil
	}
	a, aok := e.operand(e.next())
	op := e.next()
	b, bok := e.operand(e.next())
	if !aok || !bok {
		return false, nil // a comparison with a missing attribute is false
	}
	c, err := compareAV(a, b)
	if err != nil {
		return false, err
	}
	switch op {
	case "=":
		return c == 0, nil
	case "<>":
		return c != 0, nil
	case "<":
		return c < 0, nil
	case "<=":
		return c <= 0, nil
	case ">":
		return c > 0, nil
	case ">=":
		return c >= 0, nil
	}
	return false, fmt.Errorf("unknown operator %q", op)
}

// operand resolves a placeholder: #name to the item's attribute, :value to the value.
func (e *exprEval) operand(t string) (ddbtypes.AttributeValue, bool) {
	switch {
	case strings.HasPrefix(t, "#"):
		name, ok := e.names[t]
		if !ok {
			panic("undefined name placeholder " + t)
		}
		v, ok := e.item[name]
		return v, ok
	case strings.HasPrefix(t, ":"):
		v, ok := e.values[t]
		if !ok {
			panic("undefined value placeholder " + t)
		}
		return v, true
	}
	panic("not a placeholder: " + t)
}

func compareAV(a, b ddbtypes.AttributeValue) (int, error) {
	switch a := a.(type) {
	case *ddbtypes.AttributeValueMemberS:
		if b, ok := b.(*ddbtypes.AttributeValueMemberS); ok {
			return strings.Compare(a.Value, b.Value), nil
		}
	case *ddbtypes.AttributeValueMemberN:
		if b, ok := b.(*ddbtypes.AttributeValueMemberN); ok {
			x, err1 := strconv.ParseFloat(a.Value, 64)
			y, err2 := strconv.ParseFloat(b.Value, 64)
			if err1 != nil || err2 != nil {
				return 0, errors.New("bad number")
			}
			return cmp.Compare(x, y), nil
		}
	case *ddbtypes.AttributeValueMemberBOOL:
		if b, ok := b.(*ddbtypes.AttributeValueMemberBOOL); ok && a.Value == b.Value {
			return 0, nil
		}
		return 1, nil
	}
	return 1, nil // different types are unequal (and not ordered: < and > are false)
}

func (e *exprEval) update(s string) (map[string]ddbtypes.AttributeValue, error) {
	next := maps.Clone(e.item)
	if next == nil {
		next = map[string]ddbtypes.AttributeValue{}
	}
	setPart, removePart, _ := strings.Cut(s, " REMOVE ")
	if !strings.HasPrefix(setPart, "SET ") {
		return nil, fmt.Errorf("want SET, got %q", setPart)
	}
	touched := map[string]bool{}
	for _, action := range splitTop(strings.TrimPrefix(setPart, "SET ")) {
		lhs, rhs, ok := strings.Cut(action, " = ")
		if !ok {
			return nil, fmt.Errorf("bad SET action %q", action)
		}
		name := e.names[strings.TrimSpace(lhs)]
		if name == "" || touched[name] {
			return nil, fmt.Errorf("bad or overlapping path %q", lhs)
		}
		touched[name] = true
		rhs = strings.TrimSpace(rhs)
		if inner, ok := strings.CutPrefix(rhs, "if_not_exists("); ok {
			path, def, _ := strings.Cut(strings.TrimSuffix(inner, ")"), ", ")
			if v, ok := e.operand(path); ok {
				next[name] = v
			} else {
				next[name], _ = e.operand(def)
			}
			continue
		}
		v, ok := e.operand(rhs)
		if !ok {
			return nil, fmt.Errorf("SET from missing attribute %q", rhs)
		}
		next[name] = v
	}
	if removePart != "" {
		for _, p := range splitTop(removePart) {
			name := e.names[strings.TrimSpace(p)]
			if name == "" || touched[name] {
				return nil, fmt.Errorf("bad or overlapping path %q", p)
			}
			touched[name] = true
			delete(next, name)
		}
	}
	return next, nil
}

// splitTop splits on commas outside parentheses.
func splitTop(s string) []string {
	var out []string
	depth, start := 0, 0
	for i, c := range s {
		switch c {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, strings.TrimSpace(s[start:i]))
				start = i + 1
			}
		}
	}
	return append(out, strings.TrimSpace(s[start:]))
}

func (f *fakeDynamo) item(pk, sk string) map[string]ddbtypes.AttributeValue {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.items[itemKey{pk, sk}]
}

// fakeS3 is an in-memory bucket.
type fakeS3 struct {
	mu      sync.Mutex
	objects map[string][]byte
	puts    int
	// putHook may fail a PUT before (stored=false) or after (stored=true) storing it.
	putHook  func(key string) (stored bool, err error)
	headErrs int
	heads    int
}

func newFakeS3() *fakeS3 { return &fakeS3{objects: map[string][]byte{}} }

func (f *fakeS3) PutObject(ctx context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	body, err := io.ReadAll(in.Body)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if *in.Bucket != testBucket {
		return nil, errors.New("NoSuchBucket")
	}
	if in.ContentLength == nil || *in.ContentLength != int64(len(body)) {
		return nil, errors.New("content length mismatch")
	}
	f.puts++
	if f.putHook != nil {
		if stored, err := f.putHook(*in.Key); err != nil {
			if stored {
				f.objects[*in.Key] = body
			}
			return nil, err
		}
	}
	f.objects[*in.Key] = body
	return &s3.PutObjectOutput{}, nil
}

func (f *fakeS3) HeadObject(_ context.Context, in *s3.HeadObjectInput, _ ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.heads++
	if f.headErrs > 0 {
		f.headErrs--
		return nil, errors.New("AccessDenied")
	}
	if _, ok := f.objects[*in.Key]; !ok {
		return nil, &s3types.NotFound{}
	}
	return &s3.HeadObjectOutput{}, nil
}

// lines returns the decoded NDJSON lines of every object under prefix, by object key.
func (f *fakeS3) lines(t testing.TB, prefix string) map[string][]map[string]any {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string][]map[string]any{}
	for k, body := range f.objects {
		if strings.HasPrefix(k, prefix) {
			out[k] = gunzipLines(t, body)
		}
	}
	return out
}

func (f *fakeS3) allLines(t testing.TB, prefix string) []map[string]any {
	t.Helper()
	byKey := f.lines(t, prefix)
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var all []map[string]any
	for _, k := range keys {
		all = append(all, byKey[k]...)
	}
	return all
}

func gunzipLines(t testing.TB, body []byte) []map[string]any {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("object is not gzip: %v", err)
	}
	var out []map[string]any
	sc := bufio.NewScanner(zr)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		d := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		d.UseNumber()
		if err := d.Decode(&m); err != nil {
			t.Fatalf("line %q is not JSON: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// env is a pipeline wired to fakes.
type env struct {
	p       *Pipeline
	ddb     *fakeDynamo
	s3      *fakeS3
	kms     *fakekms.KMS
	metrics *bytes.Buffer
	mu      sync.Mutex
	sleeps  []time.Duration
	now     time.Time
}

func newEnv(t testing.TB, mutate ...func(*Config)) *env {
	t.Helper()
	e := &env{ddb: newFakeDynamo(t), s3: newFakeS3(), kms: fakekms.New(), metrics: &bytes.Buffer{}, now: baseTime.Add(2 * time.Second)}
	cfg := Config{
		Fleet: testFleet(), Table: testTable, Bucket: testBucket, KeyID: testKeyID,
		StateReader: e.ddb, StateWriter: e.ddb, Objects: e.s3, Heads: e.s3, DataKeys: e.kms,
		Logger:  slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Metrics: e.metrics,
		Now:     func() time.Time { return e.now },
		Sleep: func(_ context.Context, d time.Duration) error {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.sleeps = append(e.sleeps, d)
			return nil
		},
	}
	for _, m := range mutate {
		m(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e.p = p
	return e
}

// run processes records and checks the counting invariant every batch must keep.
func (e *env) run(t testing.TB, recs ...events.KinesisEventRecord) Result {
	t.Helper()
	res := e.p.Process(context.Background(), events.KinesisEvent{Records: recs})
	checkInvariant(t, res, len(recs))
	return res
}

func checkInvariant(t testing.TB, res Result, n int) {
	t.Helper()
	if res.Received != res.Accepted+res.Rejected+res.Duplicates {
		t.Errorf("received %d != accepted %d + rejected %d + duplicates %d", res.Received, res.Accepted, res.Rejected, res.Duplicates)
	}
	if res.Received+res.Retried != n {
		t.Errorf("received %d + retried %d != %d records", res.Received, res.Retried, n)
	}
	if (res.Retried > 0) != (len(res.BatchItemFailures) > 0) || len(res.BatchItemFailures) > 1 {
		t.Errorf("retried %d with batch item failures %v", res.Retried, res.BatchItemFailures)
	}
}

// redeliver returns the records Lambda sends again after res: those from the failed one on.
func redeliver(recs []events.KinesisEventRecord, res Result) []events.KinesisEventRecord {
	if len(res.BatchItemFailures) == 0 {
		return nil
	}
	from := res.BatchItemFailures[0].ItemIdentifier
	for i, r := range recs {
		if r.Kinesis.SequenceNumber == from {
			return recs[i:]
		}
	}
	return nil
}
