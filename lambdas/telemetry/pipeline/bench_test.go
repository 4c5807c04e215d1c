package pipeline

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/secure-smart-city/platform/fleetspec"
)

// benchFleet has one wide class so that a message is about 1 KB, like a weather or air
// quality station's.
func benchFleet() *fleetspec.Fleet {
	var fields []fleetspec.Field
	for i := range 16 {
		fields = append(fields, fleetspec.Field{Name: fmt.Sprintf("reading_%02d", i), Type: fleetspec.TypeNumber, Required: i < 8, Min: f64(-1000), Max: f64(100000)})
	}
	for i := range 4 {
		fields = append(fields, fleetspec.Field{Name: fmt.Sprintf("counter_%d", i), Type: fleetspec.TypeInteger, Min: f64(0)})
	}
	for i := range 3 {
		fields = append(fields, fleetspec.Field{Name: fmt.Sprintf("flag_%d", i), Type: fleetspec.TypeBoolean})
	}
	fields = append(fields,
		fleetspec.Field{Name: "status", Type: fleetspec.TypeString, Enum: []string{"ok", "degraded", "fault", "maintenance"}},
		fleetspec.Field{Name: "firmware", Type: fleetspec.TypeString, MaxLength: 32},
		fleetspec.Field{Name: "location_note", Type: fleetspec.TypeString, MaxLength: 512},
	)
	f := testFleet()
	f.Classes = append(f.Classes, fleetspec.DeviceClass{ID: "env_station", Fields: fields})
	return f
}

func benchMessage(msgID string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `{"msgId":%q,"ts":%d`, msgID, baseTime.UnixMilli()-1234)
	for i := range 16 {
		fmt.Fprintf(&b, `,"reading_%02d":%.3f`, i, 1234.567+float64(i)*17.25)
	}
	for i := range 4 {
		fmt.Fprintf(&b, `,"counter_%d":%d`, i, 1000000+i)
	}
	b.WriteString(`,"flag_0":true,"flag_1":false,"flag_2":true,"status":"degraded","firmware":"2.14.3-rc1"`)
	b.WriteString(`,"location_note":"north side of the market square, mounted 4 m up the lamp post next to the bus shelter; service access from Quay Street, key at the district depot, last calibrated by the city lab in spring, next visit due with the autumn maintenance round of the north depot"`)
	b.WriteString("}")
	return ruleRecordOf("env-old-town-0001", baseTime.UnixMilli(), []byte(b.String()))
}

// BenchmarkDecodeValidateTransform is the per-message hot path: decode, validate and write
// the archive line of a ~1 KB message.
func BenchmarkDecodeValidateTransform(b *testing.B) {
	s, err := compile(benchFleet(), "smartcity_dev")
	if err != nil {
		b.Fatal(err)
	}
	v := newValidator(s, DefaultMaxFutureSkew, DefaultMaxPastSkew, DefaultArrivalTolerance, DefaultMaxEventAge)
	o := origin{partitionKey: "env-old-town-0001", arrival: baseTime.UnixMilli() + 800}
	data := benchMessage("5f0c2b1e-9a7d-4c1b-8e2f-0a1b2c3d4e5f")
	var d decoder
	var w lineWriter
	var m message
	vals := make([]int32, 0, 64)
	line := make([]byte, 0, 2048)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		var r Reason
		d.reset()
		vals, r, _ = v.check(&d, data, &o, &m, vals[:0])
		if r != "" {
			b.Fatal(r)
		}
		line = w.appendLine(line[:0], &m, "49590000000000000000000000000000000000000000000000000001", nil)
	}
}

// BenchmarkNaiveJSONMap is the baseline: encoding/json into map[string]any, the same checks
// by type switch, encoding/json out.
func BenchmarkNaiveJSONMap(b *testing.B) {
	f := benchFleet()
	cls := f.Classes[len(f.Classes)-1]
	data := benchMessage("5f0c2b1e-9a7d-4c1b-8e2f-0a1b2c3d4e5f")
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := naive(cls, data); err != nil {
			b.Fatal(err)
		}
	}
}

func naive(cls fleetspec.DeviceClass, data []byte) ([]byte, error) {
	// The rule's record carries the device's payload base64-encoded beside the rule's keys.
	var rec map[string]any
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, err
	}
	b64, _ := rec["payload"].(string)
	payload, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, err
	}
	var in map[string]any
	if err := json.Unmarshal(payload, &in); err != nil {
		return nil, err
	}
	delete(rec, "payload")
	for k, v := range rec {
		in[k] = v
	}
	out := map[string]any{"class": cls.ID, "streamSeq": "49590000000000000000000000000000000000000000000000000001"}
	byName := map[string]fleetspec.Field{}
	for _, fd := range cls.Fields {
		byName[fd.Name] = fd
	}
	for k, val := range in {
		switch k {
		case "topic", "class":
			continue
		case "clientId":
			out["thing"] = val
			continue
		case "msgId", "ts", "receivedAt", "seq":
			out[k] = val
			continue
		}
		fd, ok := byName[k]
		if !ok {
			return nil, fmt.Errorf("unknown field %s", k)
		}
		switch fd.Type {
		case fleetspec.TypeNumber, fleetspec.TypeInteger:
			x, ok := val.(float64)
			if !ok || fd.Min != nil && x < *fd.Min || fd.Max != nil && x > *fd.Max || fd.Type == fleetspec.TypeInteger && x != math.Trunc(x) {
				return nil, fmt.Errorf("bad %s", k)
			}
		case fleetspec.TypeBoolean:
			if _, ok := val.(bool); !ok {
				return nil, fmt.Errorf("bad %s", k)
			}
		case fleetspec.TypeString:
			s, ok := val.(string)
			if !ok || len(s) > fd.StringLimit() {
				return nil, fmt.Errorf("bad %s", k)
			}
		}
		out[k] = val
	}
	for _, fd := range cls.Fields {
		if _, ok := in[fd.Name]; fd.Required && !ok {
			return nil, fmt.Errorf("missing %s", fd.Name)
		}
	}
	return json.Marshal(out)
}

// benchBatch runs 500-record batches through Process with in-memory fakes: 500 devices of
// one class, each sending one message a minute, so a batch holds one message per device and
// each device's next message comes a minute later (the steady state of issue 13's fleet,
// at the default stateInterval). It reports the cost per message, S3 PUTs per batch, KMS
// requests per 10,000 messages, and DynamoDB writes (UpdateItem calls, refused ones
// included: they consume capacity too) and reads (keys read) per message.
func benchBatch(b *testing.B, prefix string, fields string) {
	e := newEnv(b)
	const size = 500
	recs := make([]events.KinesisEventRecord, size)
	n, minute := 0, 0
	next := func() {
		minute++
		at := baseTime.Add(time.Duration(minute) * time.Minute)
		for i := range recs {
			n++
			thing := fmt.Sprintf("%s%04d", prefix, i)
			// receivedAt stays in one second, as it does for a batch read within seconds.
			recs[i] = kinRec(n, thing, msgAt(thing, fmt.Sprint("m", n), at.Add(time.Duration(i)*time.Millisecond), fields))
		}
	}
	next()
	e.p.Process(context.Background(), events.KinesisEvent{Records: recs}) // cold start: first data key, first writes
	e.kms.Generated.Store(0)
	puts := e.s3.puts
	updates, keysRead := e.ddb.updates, e.ddb.keysRead
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		next()
		b.StartTimer()
		res := e.p.Process(context.Background(), events.KinesisEvent{Records: recs})
		if res.Accepted != size {
			b.Fatalf("result %+v", res)
		}
	}
	b.StopTimer()
	msgs := float64(b.N * size)
	b.ReportMetric(float64(e.s3.puts-puts)/float64(b.N), "s3-puts/batch")
	b.ReportMetric(float64(e.kms.Generated.Load())*10000/msgs, "kms-req/10k-msgs")
	b.ReportMetric(float64(e.ddb.updates-updates)/msgs, "ddb-writes/msg")
	b.ReportMetric(float64(e.ddb.keysRead-keysRead)/msgs, "ddb-reads/msg")
	// The state item's bytes besides the message's fields (keys, metadata, window): what
	// ./cmd/cost adds to the message size to meter a state write.
	item := e.ddb.item(prefix+"0000", stateSK)
	fieldBytes := 0
	for _, f := range e.p.schema.classes[classOf(prefix)].fields {
		if v, ok := item[f.name]; ok {
			fieldBytes += itemSize(map[string]ddbtypes.AttributeValue{f.name: v})
		}
	}
	b.ReportMetric(float64(itemSize(item)-fieldBytes), "state-overhead-bytes")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/msgs, "ns/msg")
}

// itemSize is a DynamoDB item's size as DynamoDB meters it: attribute names plus values
// (strings and numbers by their length, booleans one byte).
func itemSize(item map[string]ddbtypes.AttributeValue) int {
	n := 0
	for k, v := range item {
		n += len(k)
		switch v := v.(type) {
		case *ddbtypes.AttributeValueMemberS:
			n += len(v.Value)
		case *ddbtypes.AttributeValueMemberN:
			n += len(v.Value)
		case *ddbtypes.AttributeValueMemberBOOL:
			n++
		}
	}
	return n
}

func BenchmarkBatchStreetLight(b *testing.B) {
	benchBatch(b, "sl-", `"on":true,"brightness":80,"power_w":35.5,"lux":12000,"lamp_fault":false`)
}

func BenchmarkBatchCameraSensitive(b *testing.B) {
	benchBatch(b, "cam-", `"vehicle_count":17,"avg_speed_kmh":31.4,"plate_reads":"AB-123-CD,EF-456-GH","snapshot_ref":"s3://snap/cam-1/1.jpg"`)
}
