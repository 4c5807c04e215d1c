package pipeline

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/secure-smart-city/platform/fleetspec"
	"github.com/secure-smart-city/platform/internal/fakekms"
	"github.com/secure-smart-city/platform/lambdas/telemetry/envelope"
	"github.com/secure-smart-city/platform/topics"
)

var updateSeeds = flag.Bool("update-seeds", false, "rewrite testdata/fuzz/FuzzDecodeValidate from fuzzSeeds")

const seedDir = "testdata/fuzz/FuzzDecodeValidate"

// fuzzSeed is one input of FuzzDecodeValidate: a record and how it arrived.
type fuzzSeed struct {
	data         []byte
	partitionKey string
	arrival      int64 // Unix ms
	direct       bool
}

// fuzzSeeds are the committed seed corpus: valid messages of each class, the classic ways to
// break a parser, and one seed per way a record can contradict what the rule and the stream
// vouch for. A seed named after a reason must be rejected for it.
func fuzzSeeds() map[string]fuzzSeed {
	ms := baseTime.UnixMilli()
	obj := func(thing, body string) []byte { return ruleRecordOf(thing, ms, []byte("{"+body+"}")) }
	id := fmt.Sprintf(`"msgId":"5f0c2b1e-9a7d-4c1b-8e2f-0a1b2c3d4e5f","ts":%d`, ms-250)
	light := id + `,"on":true,"brightness":1`
	data := map[string][]byte{
		"valid_street_light":           obj("sl-1", id+`,"on":true,"brightness":80,"power_w":35.5,"lux":12000,"lamp_fault":false`),
		"valid_traffic_signal":         obj("ts-1", id+`,"phase":"flashing_amber","fault":false,"cycle_s":90`),
		"valid_camera":                 obj("cam-1", id+`,"vehicle_count":17,"avg_speed_kmh":31.4,"plate_reads":"AB-123-CD,EF-456-GH","snapshot_ref":"s3://snap/cam-1/1.jpg"`),
		"valid_parking_seq":            obj("pk-1", fmt.Sprintf(`"seq":12345,"ts":%d,"occupied":true,"bay":"B-17","battery_pct":88`, ms)),
		"valid_basic_ingest":           withMeta(id+`,"on":false,"brightness":0`, topics.Telemetry("smartcity_street_light", "old_town", "sl-1"), "sl-1", "street_light", ms),
		"valid_escapes":                obj("ts-1", id+`,"phase":"\u0067reen","fault":true`),
		"valid_undeclared_thing":       obj("sl-jitp-0042", light),
		"valid_msg_id_and_seq":         obj("sl-1", light+`,"seq":9`),
		"truncated":                    ruleRecordOf("sl-1", ms, []byte("{" + id + `,"on":true,"brightness":80}`)[:57]),
		"record_truncated":             obj("sl-1", id+`,"on":true,"brightness":80`)[:57],
		"not_json":                     ruleRecordOf("sl-1", ms, []byte("\x00\x01\xfe\xff\x7f{")),
		"not_json_text":                ruleRecordOf("sl-1", ms, []byte("on=1;brightness=80")),
		"malformed_json":               ruleRecordOf("sl-1", ms, []byte(`[{"on":true}]`)),
		"missing_metadata_select_star": []byte(fmt.Sprintf(`{%s,"topic":%q,"clientId":"sl-1","receivedAt":%d,"class":"street_light"}`, light, topics.TelemetrySuffix("old_town", "sl-1"), ms)),
		"missing_metadata_not_base64":  []byte(fmt.Sprintf(`{"payload":"{}","topic":%q,"clientId":"sl-1","receivedAt":%d,"class":"street_light"}`, topics.TelemetrySuffix("old_town", "sl-1"), ms)),
		"truncated_escape":             []byte(`{"msgId":"a\u00`),
		"huge_numbers":                 obj("sl-1", id+`,"on":true,"brightness":123456789012345678901234567890,"lux":1e400`),
		"tiny_number":                  obj("sl-1", id+`,"on":true,"brightness":1,"lux":1e-400`),
		"wrong_types":                  obj("sl-1", id+`,"on":"true","brightness":"80","lux":null`),
		"deep_nesting":                 obj("sl-1", light+`,"x":`+strings.Repeat(`{"a":[`, 60)+strings.Repeat(`]}`, 60)),
		"invalid_utf8":                 obj("pk-1", id+",\"occupied\":true,\"bay\":\"\xff\xfe\""),
		"lone_surrogate":               obj("pk-1", id+`,"occupied":true,"bay":"\ud83d"`),
		"duplicate_keys":               obj("sl-1", light+`,"on":false`),
		"duplicate_escaped_key":        obj("sl-1", light+`,"\u006fn":false`),
		"duplicate_client_id":          obj("sl-1", light+`,"clientId":"sl-2"`),
		"rule_key_in_payload":          obj("sl-1", `"class":"camera",`+light),
		"payload_topic":                obj("sl-1", `"topic":"districts/harbour/things/sl-1/telemetry",`+light),
		"payload_received_at":          obj("sl-1", light+fmt.Sprintf(`,"receivedAt":%d`, ms+86400000)),
		"thing_mismatch":               withMeta(light, topics.TelemetrySuffix("old_town", "sl-2"), "sl-1", "street_light", ms),
		"unknown_class":                withMeta(light, topics.TelemetrySuffix("old_town", "sl-1"), "sl-1", "tram", ms),
		"class_mismatch":               withMeta(light, topics.Telemetry("smartcity_camera", "old_town", "sl-1"), "sl-1", "street_light", ms),
		"unknown_district":             withMeta(light, topics.TelemetrySuffix("atlantis", "sl-1"), "sl-1", "street_light", ms),
		"missing_metadata":             []byte(fmt.Sprintf(`{"payload":%q,"topic":%q,"clientId":"sl-1","receivedAt":%d}`, b64("{"+light+"}"), topics.TelemetrySuffix("old_town", "sl-1"), ms)),
		"seq_invalid_beside_msg":       obj("sl-1", light+`,"seq":{"a":1}`),
		"clock_skew":                   obj("sl-1", fmt.Sprintf(`"msgId":"a","ts":%d,"on":true,"brightness":1`, ms+3600000)),
		"unknown_field":                obj("sl-1", light+`,"firmware":"2.1"`),
		"empty":                        {},
		"not_an_object":                []byte(`["on",true]`),
		"valid_unpadded_base64": []byte(fmt.Sprintf(`{"payload":%q,"topic":%q,"clientId":"sl-1","receivedAt":%d,"class":"street_light"}`,
			strings.TrimRight(b64("{"+light+"}"), "="), topics.TelemetrySuffix("old_town", "sl-1"), ms)),
		"trailing_garbage": append(obj("sl-1", light), "xyz"...),
	}
	seeds := map[string]fuzzSeed{}
	for name, d := range data {
		seeds[name] = fuzzSeed{data: d, partitionKey: streamOrigin(d).partitionKey, arrival: ms + 1000}
	}
	seeds["partition_key_mismatch"] = fuzzSeed{data: obj("sl-1", light), partitionKey: "sl-2", arrival: ms + 1000}
	seeds["arrival_skew"] = fuzzSeed{data: obj("sl-1", light), partitionKey: "sl-1", arrival: ms + 3600000}
	seeds["arrival_skew_direct"] = fuzzSeed{data: obj("sl-1", light), arrival: ms + 7*3600000, direct: true}
	seeds["valid_direct_retry"] = fuzzSeed{data: obj("sl-1", light), arrival: ms + 5*3600000, direct: true}
	return seeds
}

// seedFile is a seed in the fuzzing engine's corpus format, one line per argument.
func seedFile(s fuzzSeed) string {
	return "go test fuzz v1\n[]byte(" + strconv.Quote(string(s.data)) + ")\nstring(" + strconv.Quote(s.partitionKey) +
		")\nint64(" + strconv.FormatInt(s.arrival, 10) + ")\nbool(" + strconv.FormatBool(s.direct) + ")\n"
}

func TestFuzzSeedCorpus(t *testing.T) {
	seeds := fuzzSeeds()
	if *updateSeeds {
		if err := os.MkdirAll(seedDir, 0o755); err != nil {
			t.Fatal(err)
		}
		old, _ := os.ReadDir(seedDir)
		for _, e := range old {
			if _, keep := seeds[e.Name()]; !keep {
				_ = os.Remove(filepath.Join(seedDir, e.Name()))
			}
		}
		for name, seed := range seeds {
			if err := os.WriteFile(filepath.Join(seedDir, name), []byte(seedFile(seed)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	entries, err := os.ReadDir(seedDir)
	if err != nil {
		t.Fatalf("seed corpus missing (go test -run TestFuzzSeedCorpus -update-seeds): %v", err)
	}
	var got, want []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	for name := range seeds {
		want = append(want, name)
	}
	slices.Sort(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("seed files (-want +got), regenerate with -update-seeds:\n%s", diff)
	}
	// The seeds must exercise both outcomes: valid_* are accepted, the rest rejected, those
	// named after a reason for that reason; and each file must hold its seed.
	v := testValidator(t)
	var d decoder
	for name, seed := range seeds {
		if body, err := os.ReadFile(filepath.Join(seedDir, name)); err == nil && string(body) != seedFile(seed) {
			t.Errorf("seed file %s is stale, regenerate with -update-seeds", name)
		}
		var m message
		o := origin{direct: seed.direct, partitionKey: seed.partitionKey, arrival: seed.arrival}
		_, reason, detail := v.check(&d, seed.data, &o, &m, nil)
		if accepted := reason == ""; accepted != strings.HasPrefix(name, "valid_") {
			t.Errorf("seed %s: reason %q (%s)", name, reason, detail)
		}
		for _, r := range Reasons {
			if strings.HasPrefix(name, string(r)) && reason != r {
				t.Errorf("seed %s: reason %q (%s), want %q", name, reason, detail, r)
			}
		}
	}
	for _, r := range []Reason{ReasonNotJSON, ReasonMalformedJSON, ReasonMissingMetadata, ReasonRuleKeyInPayload, ReasonPartitionKeyMismatch, ReasonArrivalSkew, ReasonUnknownClass, ReasonClassMismatch, ReasonUnknownDistrict} {
		if _, ok := seeds[string(r)]; !ok {
			t.Errorf("no seed for reason %s", r)
		}
	}
}

// FuzzDecodeValidate checks that no input panics, that every input is accepted or rejected
// with a known reason and a detail, and that an accepted record is valid JSON whose archive
// line carries the same values encoding/json reads from it.
func FuzzDecodeValidate(f *testing.F) {
	v := testValidator(f)
	keys := envelope.NewCache(fakekms.New(), "k", envelope.Options{})
	var d decoder
	var w lineWriter
	f.Fuzz(func(t *testing.T, data []byte, partitionKey string, arrival int64, direct bool) {
		var m message
		d.reset()
		o := origin{direct: direct, partitionKey: partitionKey, arrival: arrival}
		_, reason, detail := v.check(&d, data, &o, &m, nil)
		if reason != "" {
			if !slices.Contains(Reasons, reason) || detail == "" {
				t.Fatalf("rejected with reason %q detail %q", reason, detail)
			}
			return
		}
		if !json.Valid(data) || !json.Valid(m.payload) {
			t.Fatalf("accepted invalid JSON %q (payload %q)", data, m.payload)
		}
		if !direct && string(m.thing) != partitionKey {
			t.Fatalf("accepted thing %q from partition key %q", m.thing, partitionKey)
		}
		var key *envelope.Key
		if m.class.hasSensitive {
			var err error
			if key, err = keys.Key(context.Background(), string(m.thing), m.class.id); err != nil {
				t.Fatal(err)
			}
		}
		line := w.appendLine(nil, &m, "1", key)
		var in, out map[string]any
		if err := json.Unmarshal(m.payload, &in); err != nil {
			t.Fatalf("accepted payload %q that encoding/json refuses: %v", m.payload, err)
		}
		for _, k := range RuleKeys {
			if _, found := in[k]; found {
				t.Fatalf("accepted payload %q carrying rule key %s", m.payload, k)
			}
		}
		if err := json.Unmarshal(line, &out); err != nil {
			t.Fatalf("line %q is not JSON: %v", line, err)
		}
		for i, fd := range m.class.fields {
			if mb := m.field(i); mb != nil && fd.typ == fleetspec.TypeNumber {
				if x, err := strconv.ParseFloat(string(mb.val), 64); err != nil || x != mb.f {
					t.Fatalf("field %s: %s read as %v, strconv says %v (%v)", fd.name, mb.val, mb.f, x, err)
				}
			}
			want, present := in[fd.name]
			got := out[fd.name]
			if !present {
				if got != nil {
					t.Fatalf("field %s appeared in %q", fd.name, line)
				}
				continue
			}
			if fd.sensitive {
				if _, ok := got.(map[string]any); !ok {
					t.Fatalf("sensitive field %s not sealed in %q", fd.name, line)
				}
				continue
			}
			if !cmp.Equal(want, got) {
				t.Fatalf("field %s: input %v, line %v", fd.name, want, got)
			}
		}
	})
}
