package pipeline

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
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
	"github.com/secure-smart-city/platform/lambdas/telemetry/internal/fakekms"
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
	// getErrs and writeErrs fail the next calls; unprocessed leaves the last n requests of
	// the next calls unprocessed; writeHook may fail a write call by inspecting it.
	getErrs, writeErrs int
	unprocessed        []int
	writeHook          func(reqs []ddbtypes.WriteRequest) error
	gets, writes       int
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

func (f *fakeDynamo) BatchWriteItem(_ context.Context, in *dynamodb.BatchWriteItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes++
	reqs, ok := in.RequestItems[testTable]
	if !ok || len(in.RequestItems) != 1 {
		return nil, errors.New("ValidationException: unknown table")
	}
	if len(reqs) == 0 || len(reqs) > 25 {
		return nil, fmt.Errorf("ValidationException: %d requests", len(reqs))
	}
	seen := map[itemKey]bool{}
	for _, r := range reqs {
		if r.PutRequest == nil {
			return nil, errors.New("ValidationException: not a put")
		}
		k := keyOf(r.PutRequest.Item)
		if k.pk == "" || k.sk == "" || seen[k] {
			return nil, errors.New("ValidationException: bad or duplicate key")
		}
		seen[k] = true
	}
	if f.writeErrs > 0 {
		f.writeErrs--
		return nil, errUnavailable
	}
	if f.writeHook != nil {
		if err := f.writeHook(reqs); err != nil {
			return nil, err
		}
	}
	keep := len(reqs)
	if len(f.unprocessed) > 0 {
		keep = max(len(reqs)-f.unprocessed[0], 0)
		f.unprocessed = f.unprocessed[1:]
	}
	for _, r := range reqs[:keep] {
		f.items[keyOf(r.PutRequest.Item)] = r.PutRequest.Item
	}
	out := &dynamodb.BatchWriteItemOutput{}
	if keep < len(reqs) {
		out.UnprocessedItems = map[string][]ddbtypes.WriteRequest{testTable: reqs[keep:]}
	}
	return out, nil
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
}

func newFakeS3() *fakeS3 { return &fakeS3{objects: map[string][]byte{}} }

func (f *fakeS3) PutObject(_ context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
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
