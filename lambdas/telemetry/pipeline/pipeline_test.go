package pipeline

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/secure-smart-city/platform/fleetspec"
	"github.com/secure-smart-city/platform/lambdas/telemetry/envelope"
	"github.com/secure-smart-city/platform/topics"
)

func TestAcceptedBatchIsOnePutAndState(t *testing.T) {
	e := newEnv(t)
	recs := []events.KinesisEventRecord{
		kinRec(1, "sl-1", msg("sl-1", "a1", `"on":true,"brightness":80,"lux":12.5`)),
		kinRec(2, "sl-2", msg("sl-2", "b1", `"on":false,"brightness":5.0,"power_w":0,"lamp_fault":true`)),
		kinRec(3, "sl-1", msgAt("sl-1", "a2", baseTime.Add(time.Second), `"brightness":81,"on":true`)),
	}
	res := e.run(t, recs...)
	if diff := cmp.Diff(Result{Received: 3, Accepted: 3}, res, cmpopts.IgnoreFields(Result{}, "Objects")); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	if e.s3.puts != 1 || len(res.Objects) != 1 {
		t.Fatalf("%d PUTs, objects %v; want one", e.s3.puts, res.Objects)
	}
	wantPrefix := "accepted/class=street_light/dt=2026-01-01/hour=10/"
	if name := strings.TrimSuffix(strings.TrimPrefix(res.Objects[0], wantPrefix), ".ndjson.gz"); len(name) != 22 || !strings.HasPrefix(res.Objects[0], wantPrefix) {
		t.Errorf("object key %s, want %s<22-character name>.ndjson.gz", res.Objects[0], wantPrefix)
	}
	name := strings.TrimSuffix(strings.TrimPrefix(res.Objects[0], wantPrefix), ".ndjson.gz")
	got := e.s3.allLines(t, "accepted/")
	ms := baseTime.UnixMilli()
	want := []map[string]any{
		{"thing": "sl-1", "class": "street_light", "msgId": "a1", "ts": json.Number(fmt.Sprint(ms - 1500)), "receivedAt": json.Number(fmt.Sprint(ms)), "streamSeq": seqNo(1), "on": true, "brightness": json.Number("80"), "lux": json.Number("12.5")},
		{"thing": "sl-2", "class": "street_light", "msgId": "b1", "ts": json.Number(fmt.Sprint(ms - 1500)), "receivedAt": json.Number(fmt.Sprint(ms)), "streamSeq": seqNo(2), "on": false, "brightness": json.Number("5"), "power_w": json.Number("0"), "lamp_fault": true},
		{"thing": "sl-1", "class": "street_light", "msgId": "a2", "ts": json.Number(fmt.Sprint(ms - 500)), "receivedAt": json.Number(fmt.Sprint(ms + 1000)), "streamSeq": seqNo(3), "on": true, "brightness": json.Number("81")},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("archived lines (-want +got):\n%s", diff)
	}
	state := e.ddb.item("sl-1", "state")
	wantState := map[string]ddbtypes.AttributeValue{
		"pk": &ddbtypes.AttributeValueMemberS{Value: "sl-1"}, "sk": &ddbtypes.AttributeValueMemberS{Value: "state"},
		"class": &ddbtypes.AttributeValueMemberS{Value: "street_light"}, "msgId": &ddbtypes.AttributeValueMemberS{Value: "a2"},
		"ts": &ddbtypes.AttributeValueMemberN{Value: fmt.Sprint(ms - 500)}, "receivedAt": &ddbtypes.AttributeValueMemberN{Value: fmt.Sprint(ms + 1000)},
		"streamSeq": &ddbtypes.AttributeValueMemberS{Value: seqNo(3)}, "obj": &ddbtypes.AttributeValueMemberS{Value: res.Objects[0]},
		"on": &ddbtypes.AttributeValueMemberBOOL{Value: true}, "brightness": &ddbtypes.AttributeValueMemberN{Value: "81"},
		// One write for the thing's two messages: their tokens in the newest generation.
		"w#0": &ddbtypes.AttributeValueMemberS{Value: " m:a1/" + shortHash(seqNo(1)) + "/" + name + " m:a2/" + shortHash(seqNo(3)) + "/" + name + " "},
	}
	for g := 1; g < WindowGenerations; g++ {
		wantState[WindowAttr(g)] = &ddbtypes.AttributeValueMemberS{Value: " "}
	}
	if diff := cmp.Diff(wantState, state, cmpopts.IgnoreUnexported(ddbtypes.AttributeValueMemberS{}, ddbtypes.AttributeValueMemberN{}, ddbtypes.AttributeValueMemberBOOL{})); diff != "" {
		t.Errorf("state of sl-1 (-want +got):\n%s", diff)
	}
	if e.ddb.updates != 2 || e.ddb.written != 2 || e.ddb.gets != 0 {
		t.Errorf("%d UpdateItem calls (%d applied) and %d reads for two things; want one write each and no read", e.ddb.updates, e.ddb.written, e.ddb.gets)
	}
}

func TestSeqIsTheDedupIDWithoutMsgID(t *testing.T) {
	e := newEnv(t)
	data := func(seq int) []byte {
		return ruleRecordOf("pk-1", baseTime.UnixMilli(), []byte(fmt.Sprintf(`{"seq":%d,"ts":%d,"occupied":true}`, seq, baseTime.UnixMilli())))
	}
	res := e.run(t, kinRec(1, "pk-1", data(7)), kinRec(2, "pk-1", data(7)), kinRec(3, "pk-1", data(8)))
	if res.Accepted != 2 || res.Duplicates != 1 {
		t.Errorf("result %+v, want 2 accepted and 1 duplicate", res)
	}
	if w := str(e.ddb.item("pk-1", "state")[WindowAttr(0)]); !strings.Contains(w, " s:7/") || !strings.Contains(w, " s:8/") {
		t.Errorf("window %q: want the dedup ids s:7 and s:8", w)
	}
	lines := e.s3.allLines(t, "accepted/")
	if len(lines) != 2 || lines[0]["seq"] != json.Number("7") {
		t.Errorf("lines %v", lines)
	}
}

func TestDuplicatesWithinBatch(t *testing.T) {
	e := newEnv(t)
	m := msg("sl-1", "a1", `"on":true,"brightness":80`)
	res := e.run(t, kinRec(1, "sl-1", m), kinRec(2, "sl-1", m), kinRec(3, "sl-2", msg("sl-2", "a1", `"on":true,"brightness":1`)))
	if diff := cmp.Diff(Result{Received: 3, Accepted: 2, Duplicates: 1}, res, cmpopts.IgnoreFields(Result{}, "Objects")); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	lines := e.s3.allLines(t, "accepted/")
	if len(lines) != 2 || lines[0]["streamSeq"] != seqNo(1) || lines[1]["thing"] != "sl-2" {
		t.Errorf("lines %v: want the first copy of sl-1/a1 and sl-2/a1 (same id, other thing)", lines)
	}
}

func TestDuplicatesAcrossBatches(t *testing.T) {
	e := newEnv(t)
	m := msg("sl-1", "a1", `"on":true,"brightness":80`)
	e.run(t, kinRec(1, "sl-1", m))
	// The device published again (QoS 1 retry): a new stream record with the same msgId.
	res := e.run(t, kinRec(2, "sl-1", m), kinRec(3, "sl-1", msg("sl-1", "a2", `"on":true,"brightness":80`)))
	if res.Duplicates != 1 || res.Accepted != 1 {
		t.Errorf("result %+v, want 1 duplicate, 1 accepted", res)
	}
	if n := len(e.s3.allLines(t, "accepted/")); n != 2 {
		t.Errorf("%d lines archived, want 2", n)
	}
}

func TestRedeliveredBatchIsNotStoredTwice(t *testing.T) {
	e := newEnv(t)
	recs := []events.KinesisEventRecord{
		kinRec(1, "sl-1", msg("sl-1", "a1", `"on":true,"brightness":80`)),
		kinRec(2, "ts-1", msg("ts-1", "t1", `"phase":"red","fault":false`)),
	}
	first := e.run(t, recs...)
	written := e.ddb.written
	// Lambda delivers the same batch again (say the first invocation timed out after storing).
	again := e.run(t, recs...)
	if again.Accepted != 2 || again.Duplicates != 0 {
		t.Errorf("redelivery result %+v, want 2 accepted", again)
	}
	// The refused conditions return the claims, whose objects exist: nothing is written.
	if len(again.Objects) != 0 || e.ddb.written != written {
		t.Errorf("redelivery wrote objects %v and %d state items", again.Objects, e.ddb.written-written)
	}
	if e.ddb.written != written {
		t.Errorf("redelivery wrote %d state items", e.ddb.written-written)
	}
	checkStoredOnce(t, e, []string{"sl-1/a1", "ts-1/t1"}, 0)
	if len(first.Objects) != 2 {
		t.Errorf("first delivery wrote %v, want one object per class", first.Objects)
	}
}

func TestObjectPerClassAndHour(t *testing.T) {
	e := newEnv(t)
	res := e.run(t,
		kinRec(1, "sl-1", msg("sl-1", "a1", `"on":true,"brightness":80`)),
		kinRec(2, "sl-2", msgAt("sl-2", "b1", baseTime.Add(time.Hour), `"on":true,"brightness":80`)),
		kinRec(3, "ts-1", msg("ts-1", "t1", `"phase":"red","fault":false`)),
		kinRec(4, "sl-2", msg("sl-2", "b0", `"on":true,"brightness":80`)),
	)
	var got []string
	for _, o := range res.Objects {
		got = append(got, o[:strings.LastIndex(o, "/")])
	}
	want := []string{
		"accepted/class=street_light/dt=2026-01-01/hour=10",
		"accepted/class=street_light/dt=2026-01-01/hour=11",
		"accepted/class=traffic_signal/dt=2026-01-01/hour=10",
	}
	if diff := cmp.Diff(want, got, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("partitions (-want +got):\n%s", diff)
	}
	if n := len(e.s3.lines(t, "accepted/class=street_light/dt=2026-01-01/hour=10")); n != 1 {
		t.Errorf("%d objects in hour 10", n)
	}
}

func TestStateKeepsNewestByDeviceTime(t *testing.T) {
	e := newEnv(t)
	newer := msgAt("sl-1", "n", baseTime.Add(time.Minute), `"on":true,"brightness":90`)
	older := msg("sl-1", "o", `"on":false,"brightness":10`)
	e.run(t, kinRec(1, "sl-1", newer), kinRec(2, "sl-1", older))
	if got := str(e.ddb.item("sl-1", "state")[KeyMsgID]); got != "n" {
		t.Errorf("state holds %q, want the newer message", got)
	}
	// A backlog message arriving later with an old device time does not win either.
	late := ruleRecordOf("sl-1", baseTime.Add(2*time.Minute).UnixMilli(),
		[]byte(fmt.Sprintf(`{"msgId":"late","ts":%d,"on":false,"brightness":1}`, baseTime.UnixMilli())))
	res := e.run(t, kinRec(4, "sl-1", late))
	if res.Accepted != 1 {
		t.Fatalf("late message: %+v", res)
	}
	if got := str(e.ddb.item("sl-1", "state")[KeyMsgID]); got != "n" {
		t.Errorf("state holds %q after an older message, want n", got)
	}
}

func TestSensitiveFieldsAreEncrypted(t *testing.T) {
	e := newEnv(t)
	plates := `AB-123-CD,\"quoted\",\u00e9`
	res := e.run(t, kinRec(1, "cam-1", msg("cam-1", "c1", `"vehicle_count":3,"plate_reads":"`+plates+`","snapshot_ref":"s3://snap/1.jpg"`)))
	if res.Accepted != 1 {
		t.Fatalf("result %+v", res)
	}
	lines := e.s3.allLines(t, "accepted/")
	if len(lines) != 1 {
		t.Fatalf("lines %v", lines)
	}
	raw, err := json.Marshal(lines[0]["plate_reads"])
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "AB-123") {
		t.Fatalf("plate reads stored in clear: %s", raw)
	}
	plain, err := envelope.DecryptJSON(context.Background(), e.kms, "plate_reads", raw)
	if err != nil {
		t.Fatalf("decrypt archived plate_reads: %v", err)
	}
	var got string
	if err := json.Unmarshal(plain, &got); err != nil {
		t.Fatal(err)
	}
	if want := `AB-123-CD,"quoted",é`; got != want {
		t.Errorf("plate_reads = %q, want %q", got, want)
	}
	st := str(e.ddb.item("cam-1", "state")["snapshot_ref"])
	plain, err = envelope.DecryptJSON(context.Background(), e.kms, "snapshot_ref", []byte(st))
	if err != nil || string(plain) != `"s3://snap/1.jpg"` {
		t.Errorf("state snapshot_ref decrypts to %s, %v", plain, err)
	}
	if lines[0]["vehicle_count"] != json.Number("3") {
		t.Errorf("vehicle_count = %v, want 3 in clear", lines[0]["vehicle_count"])
	}
}

// rejectCase is a record that must be rejected, and how it reaches the processor.
type rejectCase struct {
	pk      string // partition key
	data    []byte
	arrival time.Time // zero: a second after receivedAt (kinRec)
}

// rejectCases yields one record per reason. Each is otherwise a valid street light message
// from sl-1 unless the case needs another class.
func rejectCases() map[Reason]rejectCase {
	ms := baseTime.UnixMilli()
	valid := `"on":true,"brightness":50`
	with := func(body string) []byte { return ruleRecordOf("sl-1", ms, []byte("{"+body+"}")) }
	light := func(data []byte) rejectCase { return rejectCase{pk: "sl-1", data: data} }
	ok := fmt.Sprintf(`"msgId":"a","ts":%d,%s`, ms, valid)
	return map[Reason]rejectCase{
		ReasonTooLarge:             light(msg("sl-1", "a", valid+`,"lux":1`+strings.Repeat(" ", 1600))),
		ReasonNotJSON:              light(ruleRecordOf("sl-1", ms, []byte("\x00\x01binary\xff"))),
		ReasonMalformedJSON:        light(ruleRecordOf("sl-1", ms, []byte(`[{"msgId":"a","ts":1}]`))),
		ReasonInvalidUTF8:          light(with("\"msgId\":\"a\xff\",\"ts\":1")),
		ReasonRuleKeyInPayload:     light(with(ok + `,"class":"camera"`)),
		ReasonMissingMetadata:      light([]byte(fmt.Sprintf(`{%s}`, ok))),
		ReasonInvalidTopic:         light(withMeta(ok, "city/sl-1", "sl-1", "street_light", ms)),
		ReasonThingMismatch:        light(withMeta(ok, topics.TelemetrySuffix("old_town", "sl-2"), "sl-1", "street_light", ms)),
		ReasonPartitionKeyMismatch: {pk: "sl-2", data: with(ok)},
		ReasonArrivalSkew:          {pk: "sl-1", data: with(ok), arrival: baseTime.Add(-2 * time.Minute)},
		ReasonUnknownClass:         light(withMeta(ok, topics.TelemetrySuffix("old_town", "sl-1"), "sl-1", "tram", ms)),
		ReasonClassMismatch:        light(withMeta(ok, topics.Telemetry("smartcity_camera", "old_town", "sl-1"), "sl-1", "street_light", ms)),
		ReasonUnknownDistrict:      light(withMeta(ok, topics.TelemetrySuffix("atlantis", "sl-1"), "sl-1", "street_light", ms)),
		ReasonDuplicateField:       light(msg("sl-1", "a", valid+`,"on":false`)),
		ReasonUnknownField:         light(msg("sl-1", "a", valid+`,"colour":"red"`)),
		ReasonMissingMsgID:         light(with(fmt.Sprintf(`"ts":%d,%s`, ms, valid))),
		ReasonInvalidMsgID:         light(with(fmt.Sprintf(`"msgId":"a b","ts":%d,%s`, ms, valid))),
		ReasonMissingTimestamp:     light(with(`"msgId":"a",` + valid)),
		ReasonInvalidTimestamp:     light(with(`"msgId":"a","ts":"yesterday",` + valid)),
		ReasonClockSkew:            light(with(fmt.Sprintf(`"msgId":"a","ts":%d,%s`, ms+6*60*1000, valid))),
		ReasonWrongType:            light(msg("sl-1", "a", `"on":"yes","brightness":50`)),
		ReasonOutOfRange:           light(msg("sl-1", "a", `"on":true,"brightness":101`)),
		ReasonTooLong:              {pk: "pk-1", data: msg("pk-1", "a", `"occupied":true,"bay":"`+strings.Repeat("B", 33)+`"`)},
		ReasonNotInEnum:            {pk: "ts-1", data: msg("ts-1", "a", `"phase":"purple","fault":false`)},
		ReasonMissingField:         light(msg("sl-1", "a", `"on":true`)),
	}
}

func TestEveryRejectReason(t *testing.T) {
	cases := rejectCases()
	for _, r := range Reasons {
		if _, ok := cases[r]; !ok {
			t.Errorf("no test case for reason %s", r)
		}
	}
	for reason, c := range cases {
		t.Run(string(reason), func(t *testing.T) {
			e := newEnv(t)
			rec := kinRec(1, c.pk, c.data)
			if !c.arrival.IsZero() {
				rec = kinRecAt(1, c.pk, c.data, c.arrival)
			}
			res := e.run(t, rec)
			if res.Rejected != 1 || len(res.BatchItemFailures) != 0 {
				t.Fatalf("result %+v, want one rejection and no retry", res)
			}
			objs := e.s3.lines(t, "rejected/")
			if len(objs) != 1 {
				t.Fatalf("rejected objects %v", objs)
			}
			for key, lines := range objs {
				if want := "rejected/reason=" + string(reason) + "/dt=2026-01-01/"; !strings.HasPrefix(key, want) {
					t.Errorf("object %s, want under %s", key, want)
				}
				if len(lines) != 1 || lines[0]["reason"] != string(reason) || lines[0]["detail"] == "" || lines[0]["streamSeq"] != seqNo(1) {
					t.Fatalf("lines %v", lines)
				}
				checkStoredPayload(t, e, lines[0], payloadOf(c.data))
			}
			if len(e.s3.lines(t, "accepted/")) != 0 || e.ddb.item(c.pk, "state") != nil || e.ddb.item("sl-1", "state") != nil {
				t.Error("a rejected record reached the accepted archive or the state")
			}
			if !strings.Contains(e.metrics.String(), `"Reason":"`+string(reason)+`"`) {
				t.Errorf("no Rejected metric for reason %s in %s", reason, e.metrics.String())
			}
		})
	}
}

// checkStoredPayload: a rejected line keeps want (the device's payload, or the record when
// it carries none) up to the class limit, with want's size and SHA-256.
func checkStoredPayload(t *testing.T, e *env, line map[string]any, want []byte) {
	t.Helper()
	got := originalPayload(t, e, line)
	sum := sha256.Sum256(want)
	if fmt.Sprint(line["size"]) != fmt.Sprint(len(want)) || line["sha256"] != hex.EncodeToString(sum[:]) {
		t.Errorf("size %v sha256 %v, want %d %x", line["size"], line["sha256"], len(want), sum)
	}
	if !bytes.HasPrefix(want, got) || line["truncated"] != (len(got) < len(want)) {
		t.Errorf("stored payload %q (truncated %v), want the original %q", got, line["truncated"], want)
	}
	if len(got) < len(want) && len(got) != 1024 && len(got) != 4096 {
		t.Errorf("stored %d of %d bytes: not a class limit", len(got), len(want))
	}
}

// originalPayload reads a rejected line's payload, decrypting it when sealed.
func originalPayload(t *testing.T, e *env, line map[string]any) []byte {
	t.Helper()
	if enc, ok := line["payloadEnc"]; ok {
		raw, _ := json.Marshal(enc)
		plain, err := envelope.DecryptJSON(context.Background(), e.kms, PayloadField, raw)
		if err != nil {
			t.Fatalf("decrypt payload: %v", err)
		}
		return plain
	}
	b, err := base64.StdEncoding.DecodeString(line["payload"].(string))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRejectedSensitivePayloadIsSealed(t *testing.T) {
	e := newEnv(t)
	cam := msg("cam-1", "c1", `"plate_reads":"AB-123","bogus":1`)
	unknown := []byte(`{"plate_reads":"XY-999"`) // malformed, from a partition key outside the fleet
	light := msg("sl-1", "a", `"on":"maybe","brightness":1`)
	res := e.run(t, kinRec(1, "cam-1", cam), kinRec(2, "nobody", unknown), kinRec(3, "sl-1", light))
	if res.Rejected != 3 {
		t.Fatalf("result %+v", res)
	}
	for _, line := range e.s3.allLines(t, "rejected/") {
		raw, _ := json.Marshal(line)
		_, sealed := line["payloadEnc"]
		if want := line["thing"] != "sl-1"; sealed != want {
			t.Errorf("line for %v sealed = %v, want %v", line["thing"], sealed, want)
		}
		if strings.Contains(string(raw), "AB-123") || strings.Contains(string(raw), "XY-999") || strings.Contains(string(raw), base64.StdEncoding.EncodeToString(cam)[:20]) {
			t.Errorf("sensitive payload in clear: %s", raw)
		}
		originalPayload(t, e, line)
	}
}

func TestTransientFailuresAreRetriedFromTheLowestFailedRecord(t *testing.T) {
	recs := func() []events.KinesisEventRecord {
		return []events.KinesisEventRecord{
			kinRec(1, "sl-1", msg("sl-1", "bad", `"on":"x","brightness":1`)), // rejected
			kinRec(2, "sl-1", msg("sl-1", "a1", `"on":true,"brightness":1`)),
			kinRec(3, "cam-1", msg("cam-1", "c1", `"plate_reads":"AB-1"`)),
			kinRec(4, "sl-1", msg("sl-1", "bad2", `"on":true`)), // rejected
			kinRec(5, "ts-1", msg("ts-1", "t1", `"phase":"red","fault":false`)),
		}
	}
	tests := map[string]struct {
		inject func(*env)
		// wantFrom is the first record Lambda must retry.
		wantFrom int
	}{
		"state write fails":                        {func(e *env) { e.ddb.writeHook = onceFor2("sl-1", false) }, 2},
		"state write applied but reported failure": {func(e *env) { e.ddb.writeHook = onceFor2("cam-1", true) }, 3},
		"camera PUT fails": {func(e *env) {
			e.s3.putHook = onceFor("class=camera", false)
		}, 3},
		"camera PUT stored but reported failure": {func(e *env) {
			e.s3.putHook = onceFor("class=camera", true)
		}, 3},
		"KMS fails": {func(e *env) { e.kms.FailNext(1) }, 3},
		"refusal without the item, read fails": {func(e *env) {
			// A stored state newer than a1 refuses its write; the refusal returns no item and
			// the read fails.
			e.ddb.items[itemKey{"sl-1", stateSK}] = map[string]ddbtypes.AttributeValue{
				AttrPK: &ddbtypes.AttributeValueMemberS{Value: "sl-1"}, AttrSK: &ddbtypes.AttributeValueMemberS{Value: stateSK},
				KeyTS: &ddbtypes.AttributeValueMemberN{Value: fmt.Sprint(baseTime.Add(time.Hour).UnixMilli())},
			}
			e.ddb.noAllOld = true
			e.ddb.getErrs = 1
		}, 2},
		"HEAD fails": {func(e *env) {
			// sl-1 claimed a1 (this very record) into an object: settling it needs a HEAD.
			e.ddb.items[itemKey{"sl-1", stateSK}] = map[string]ddbtypes.AttributeValue{
				AttrPK: &ddbtypes.AttributeValueMemberS{Value: "sl-1"}, AttrSK: &ddbtypes.AttributeValueMemberS{Value: stateSK},
				WindowAttr(0): &ddbtypes.AttributeValueMemberS{Value: " m:a1/" + shortHash(seqNo(2)) + "/never-written "},
			}
			e.s3.headErrs = 1
		}, 2},
		"rejected PUT fails": {func(e *env) { e.s3.putHook = onceFor("reason=wrong_type", false) }, 1},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			tc.inject(e)
			all := recs()
			res := e.run(t, all...)
			want := []events.KinesisBatchItemFailure{{ItemIdentifier: seqNo(tc.wantFrom)}}
			if diff := cmp.Diff(want, res.BatchItemFailures); diff != "" {
				t.Fatalf("batch item failures (-want +got):\n%s", diff)
			}
			if res.Received != tc.wantFrom-1 {
				t.Errorf("received %d, want the %d records before the retry point", res.Received, tc.wantFrom-1)
			}
			// Lambda redelivers from the failed record until the batch goes through.
			total := res
			for next := redeliver(all, res); next != nil; next = redeliver(next, res) {
				res = e.run(t, next...)
				total.Accepted += res.Accepted
				total.Rejected += res.Rejected
				total.Duplicates += res.Duplicates
			}
			if total.Accepted != 3 || total.Rejected != 2 || total.Duplicates != 0 {
				t.Errorf("over all deliveries: %d accepted, %d rejected, %d duplicates; want 3, 2, 0", total.Accepted, total.Rejected, total.Duplicates)
			}
			checkStoredOnce(t, e, []string{"sl-1/a1", "cam-1/c1", "ts-1/t1"}, 2)
			if e.ddb.item("cam-1", "state") == nil || e.ddb.item("sl-1", "state") == nil || e.ddb.item("ts-1", "state") == nil {
				t.Error("a thing has no state after the retries")
			}
		})
	}
}

// checkStoredOnce asserts that the accepted archive holds each thing/msgId exactly once and
// the rejected archive holds wantRejected lines.
func checkStoredOnce(t *testing.T, e *env, want []string, wantRejected int) {
	t.Helper()
	var got []string
	for _, l := range e.s3.allLines(t, "accepted/") {
		got = append(got, fmt.Sprint(l["thing"], "/", l["msgId"]))
	}
	if diff := cmp.Diff(want, got, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("accepted archive (-want +got):\n%s", diff)
	}
	if n := len(e.s3.allLines(t, "rejected/")); n != wantRejected {
		t.Errorf("%d rejected lines, want %d", n, wantRejected)
	}
}

// onceFor2 fails the first state write of thing, before or after applying it.
func onceFor2(thing string, applied bool) func(*dynamodb.UpdateItemInput) (bool, error) {
	done := false
	return func(in *dynamodb.UpdateItemInput) (bool, error) {
		if done || str(in.Key[AttrPK]) != thing {
			return false, nil
		}
		done = true
		return applied, errUnavailable
	}
}

func onceFor(substr string, stored bool) func(string) (bool, error) {
	done := false
	return func(key string) (bool, error) {
		if done || !strings.Contains(key, substr) {
			return false, nil
		}
		done = true
		return stored, errUnavailable
	}
}

// TestChattyThingIsReadFirst: a thing with more new records in a batch than one condition
// checks has its item read (with backoff on unprocessed keys' retries) and written once.
func TestChattyThingIsReadFirst(t *testing.T) {
	e := newEnv(t)
	var recs []events.KinesisEventRecord
	for i := range 30 {
		recs = append(recs, kinRec(i+1, "sl-1", msg("sl-1", fmt.Sprint("m", i), `"on":true,"brightness":1`)))
	}
	res := e.run(t, recs...)
	if res.Accepted != 30 || len(res.BatchItemFailures) != 0 {
		t.Fatalf("result %+v", res)
	}
	if e.ddb.keysRead != 1 || e.ddb.written != 1 {
		t.Errorf("%d keys read, %d items written; want the thing's item read once and written once", e.ddb.keysRead, e.ddb.written)
	}
	w := str(e.ddb.item("sl-1", stateSK)[WindowAttr(0)])
	for i := range 30 {
		if !strings.Contains(w, fmt.Sprintf(" m:m%d/", i)) {
			t.Errorf("window lacks m%d", i)
		}
	}
	// The same records again: settled from the read item, nothing written.
	again := e.run(t, recs...)
	if again.Accepted != 30 || e.ddb.written != 1 {
		t.Errorf("redelivery %+v with %d items written", again, e.ddb.written)
	}
	checkStoredOnce(t, e, func() (ids []string) {
		for i := range 30 {
			ids = append(ids, fmt.Sprint("sl-1/m", i))
		}
		return ids
	}(), 0)
}

func TestMetricsAreEmbeddedMetricFormat(t *testing.T) {
	e := newEnv(t)
	e.run(t,
		kinRec(1, "sl-1", msg("sl-1", "a", `"on":true,"brightness":1`)),
		kinRec(2, "sl-1", msg("sl-1", "a", `"on":true,"brightness":1`)),
		kinRec(3, "sl-1", msg("sl-1", "b", `"on":true,"brightness":101`)),
		kinRec(4, "nobody", []byte(`nope`)),
		kinRec(5, "sl-2", msg("sl-2", "c", `"on":false,"brightness":0`)),
		kinRec(6, "ts-1", []byte(`nope`)),
		kinRec(7, "ts-1", withMeta(fmt.Sprintf(`"msgId":"t","ts":%d,"phase":"red","fault":false`, baseTime.UnixMilli()), topics.TelemetrySuffix("atlantis", "ts-1"), "ts-1", "traffic_signal", baseTime.UnixMilli())),
	)
	var docs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(e.metrics.String()), "\n") {
		var d map[string]any
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		delete(d, "_aws")
		docs = append(docs, d)
	}
	// One line per (class, district), both read from the record (the rule's class, the
	// topic's district) and kept only when the fleet has them: a record the rule did not write counts
	// under "unknown", and so does a district the fleet does not have.
	want := []map[string]any{
		{"Class": "street_light", "District": "old_town", "Received": 3.0, "Accepted": 1.0, "Rejected": 1.0, "Duplicates": 1.0, "Retried": 0.0, "ProcessingLatency": 2000.0},
		{"Class": "street_light", "Reason": "out_of_range", "Rejected": 1.0},
		{"Class": "unknown", "District": "unknown", "Received": 2.0, "Accepted": 0.0, "Rejected": 2.0, "Duplicates": 0.0, "Retried": 0.0},
		{"Class": "unknown", "Reason": "missing_metadata", "Rejected": 2.0},
		{"Class": "street_light", "District": "harbour", "Received": 1.0, "Accepted": 1.0, "Rejected": 0.0, "Duplicates": 0.0, "Retried": 0.0, "ProcessingLatency": 2000.0},
		{"Class": "traffic_signal", "District": "unknown", "Received": 1.0, "Accepted": 0.0, "Rejected": 1.0, "Duplicates": 0.0, "Retried": 0.0},
		{"Class": "traffic_signal", "Reason": "unknown_district", "Rejected": 1.0},
	}
	if diff := cmp.Diff(want, docs); diff != "" {
		t.Errorf("metric documents (-want +got):\n%s", diff)
	}
	var first struct {
		AWS struct {
			Timestamp         int64
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name, Unit string }
			}
		} `json:"_aws"`
	}
	if err := json.Unmarshal([]byte(strings.SplitN(e.metrics.String(), "\n", 2)[0]), &first); err != nil {
		t.Fatal(err)
	}
	d := first.AWS.CloudWatchMetrics[0]
	if first.AWS.Timestamp != e.now.UnixMilli() || d.Namespace != Namespace || !cmp.Equal(d.Dimensions, [][]string{{"Class"}, {"Class", "District"}}) || len(d.Metrics) != 6 {
		t.Errorf("EMF directive %+v", first.AWS)
	}
}

func TestHandlerReportsTheLowestFailedSequenceNumber(t *testing.T) {
	e := newEnv(t)
	e.ddb.writeHook = onceFor2("sl-1", false)
	resp, err := e.p.Handler(context.Background(), events.KinesisEvent{Records: []events.KinesisEventRecord{
		kinRec(7, "sl-1", msg("sl-1", "a", `"on":true,"brightness":1`)),
		kinRec(8, "sl-2", msg("sl-2", "a", `"on":true,"brightness":1`)),
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := events.KinesisEventResponse{BatchItemFailures: []events.KinesisBatchItemFailure{{ItemIdentifier: seqNo(7)}}}
	if diff := cmp.Diff(want, resp); diff != "" {
		t.Errorf("response (-want +got):\n%s", diff)
	}
	resp, err = e.p.Handler(context.Background(), events.KinesisEvent{})
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Errorf("empty batch: %+v, %v", resp, err)
	}
}

func TestCmpSeq(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{{"9", "10", -1}, {"10", "9", 1}, {"123", "124", -1}, {"5", "5", 0}} {
		if got := cmpSeq(tc.a, tc.b); got != tc.want {
			t.Errorf("cmpSeq(%s, %s) = %d", tc.a, tc.b, got)
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	withFleet := func(mut func(*fleetspec.Fleet)) func(*Config) {
		return func(c *Config) {
			f := testFleet()
			mut(f)
			c.Fleet = f
		}
	}
	tests := map[string]func(*Config){
		"no fleet":           func(c *Config) { c.Fleet = nil },
		"no table":           func(c *Config) { c.Table = "" },
		"no KMS client":      func(c *Config) { c.DataKeys = nil },
		"reserved field":     withFleet(func(f *fleetspec.Fleet) { f.Classes[0].Fields[0].Name = "ts" }),
		"duplicate field":    withFleet(func(f *fleetspec.Fleet) { f.Classes[0].Fields[1].Name = "on" }),
		"bad field name":     withFleet(func(f *fleetspec.Fleet) { f.Classes[0].Fields[0].Name = "a\"b" }),
		"bad type":           withFleet(func(f *fleetspec.Fleet) { f.Classes[0].Fields[0].Type = "date" }),
		"min above max":      withFleet(func(f *fleetspec.Fleet) { f.Classes[0].Fields[1].Min = f64(200) }),
		"bad class id":       withFleet(func(f *fleetspec.Fleet) { f.Classes[0].ID = "Street/Light" }),
		"duplicate class":    withFleet(func(f *fleetspec.Fleet) { f.Classes[1].ID = "street_light" }),
		"duplicate district": withFleet(func(f *fleetspec.Fleet) { f.Districts[1].ID = "old_town" }),
		"bad district id":    withFleet(func(f *fleetspec.Fleet) { f.Districts[0].ID = "Old/Town" }),
	}
	for name, mut := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			cfg := e.p.cfg
			mut(&cfg)
			if _, err := New(cfg); err == nil {
				t.Error("New accepted the config")
			}
		})
	}
}

func TestContextCancelledMeansRetry(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := e.p.Process(ctx, events.KinesisEvent{Records: []events.KinesisEventRecord{kinRec(1, "sl-1", msg("sl-1", "a", `"on":true,"brightness":1`))}})
	checkInvariant(t, res, 1)
	if len(res.BatchItemFailures) != 1 || e.s3.puts != 0 {
		t.Errorf("result %+v with %d PUTs, want a retry and nothing stored", res, e.s3.puts)
	}
}

// TestConcurrentShards runs one goroutine per shard (thing), as Lambda may run invocations
// for several shards in one process; run with -race.
func TestConcurrentShards(t *testing.T) {
	e := newEnv(t)
	fields := map[string]string{"sl-1": `"on":true,"brightness":1`, "sl-2": `"on":false,"brightness":2`, "ts-1": `"phase":"red","fault":false`, "cam-1": `"plate_reads":"X"`}
	var wg sync.WaitGroup
	for shard, thing := range []string{"sl-1", "sl-2", "ts-1", "cam-1"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range 5 {
				var recs []events.KinesisEventRecord
				for i := range 20 {
					n := shard*1000 + b*20 + i
					recs = append(recs, kinRec(n, thing, msg(thing, fmt.Sprint("m", n), fields[thing])))
				}
				if res := e.p.Process(context.Background(), events.KinesisEvent{Records: recs}); res.Accepted != 20 {
					t.Errorf("%s batch %d: %+v", thing, b, res)
				}
			}
		}()
	}
	wg.Wait()
	if n := len(e.s3.allLines(t, "accepted/")); n != 400 {
		t.Errorf("%d lines archived, want 400", n)
	}
}
