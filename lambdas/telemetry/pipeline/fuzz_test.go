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
	"github.com/secure-smart-city/platform/lambdas/telemetry/envelope"
	"github.com/secure-smart-city/platform/lambdas/telemetry/internal/fakekms"
)

var updateSeeds = flag.Bool("update-seeds", false, "rewrite testdata/fuzz/FuzzDecodeValidate from fuzzSeeds")

const seedDir = "testdata/fuzz/FuzzDecodeValidate"

// fuzzSeeds are the committed seed corpus: valid messages of each class and the classic ways
// to break a parser.
func fuzzSeeds() map[string][]byte {
	ms := baseTime.UnixMilli()
	meta := func(thing string) string {
		return fmt.Sprintf(`"topic":"things/%s/telemetry","clientId":"%s","receivedAt":%d`, thing, thing, ms)
	}
	obj := func(thing, body string) []byte { return []byte("{" + body + "," + meta(thing) + "}") }
	id := fmt.Sprintf(`"msgId":"5f0c2b1e-9a7d-4c1b-8e2f-0a1b2c3d4e5f","ts":%d`, ms-250)
	return map[string][]byte{
		"valid_street_light":    obj("sl-1", id+`,"on":true,"brightness":80,"power_w":35.5,"lux":12000,"lamp_fault":false`),
		"valid_traffic_signal":  obj("ts-1", id+`,"phase":"flashing_amber","fault":false,"cycle_s":90`),
		"valid_camera":          obj("cam-1", id+`,"vehicle_count":17,"avg_speed_kmh":31.4,"plate_reads":"AB-123-CD,EF-456-GH","snapshot_ref":"s3://snap/cam-1/1.jpg"`),
		"valid_parking_seq":     obj("pk-1", fmt.Sprintf(`"seq":12345,"ts":%d,"occupied":true,"bay":"B-17","battery_pct":88`, ms)),
		"valid_basic_ingest":    []byte(fmt.Sprintf(`{%s,"on":false,"brightness":0,"topic":"$aws/rules/smartcity_street_light/things/sl-1/telemetry","clientId":"sl-1","receivedAt":%d}`, id, ms)),
		"valid_escapes":         obj("ts-1", id+`,"phase":"\u0067reen","fault":true`),
		"truncated":             obj("sl-1", id+`,"on":true,"brightness":80`)[:57],
		"truncated_escape":      []byte(`{"msgId":"a\u00`),
		"huge_numbers":          obj("sl-1", id+`,"on":true,"brightness":123456789012345678901234567890,"lux":1e400`),
		"tiny_number":           obj("sl-1", id+`,"on":true,"brightness":1,"lux":1e-400`),
		"wrong_types":           obj("sl-1", id+`,"on":"true","brightness":"80","lux":null`),
		"deep_nesting":          obj("sl-1", id+`,"on":true,"brightness":1,"x":`+strings.Repeat(`{"a":[`, 60)+strings.Repeat(`]}`, 60)),
		"invalid_utf8":          obj("pk-1", id+",\"occupied\":true,\"bay\":\"\xff\xfe\""),
		"lone_surrogate":        obj("pk-1", id+`,"occupied":true,"bay":"\ud83d"`),
		"duplicate_keys":        obj("sl-1", id+`,"on":true,"brightness":1,"on":false`),
		"duplicate_escaped_key": obj("sl-1", id+`,"on":true,"brightness":1,"\u006fn":false`),
		"duplicate_client_id":   []byte(fmt.Sprintf(`{%s,"on":true,"brightness":1,"clientId":"sl-2",%s}`, id, meta("sl-1"))),
		"thing_mismatch":        []byte(fmt.Sprintf(`{%s,"on":true,"brightness":1,"topic":"things/sl-2/telemetry","clientId":"sl-1","receivedAt":%d}`, id, ms)),
		"unknown_thing":         obj("nobody", id+`,"on":true`),
		"clock_skew":            obj("sl-1", fmt.Sprintf(`"msgId":"a","ts":%d,"on":true,"brightness":1`, ms+3600000)),
		"unknown_field":         obj("sl-1", id+`,"on":true,"brightness":1,"firmware":"2.1"`),
		"empty":                 {},
		"not_an_object":         []byte(`["on",true]`),
		"trailing_garbage":      append(obj("sl-1", id+`,"on":true,"brightness":1`), "xyz"...),
	}
}

func TestFuzzSeedCorpus(t *testing.T) {
	seeds := fuzzSeeds()
	if *updateSeeds {
		if err := os.MkdirAll(seedDir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, data := range seeds {
			body := "go test fuzz v1\n[]byte(" + strconv.Quote(string(data)) + ")\n"
			if err := os.WriteFile(filepath.Join(seedDir, name), []byte(body), 0o644); err != nil {
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
	// The seeds must exercise both outcomes: valid_* are accepted, the rest rejected.
	v := testValidator(t)
	var d decoder
	for name, data := range seeds {
		var m message
		_, reason, detail := v.check(&d, data, &m, nil)
		if accepted := reason == ""; accepted != strings.HasPrefix(name, "valid_") {
			t.Errorf("seed %s: reason %q (%s)", name, reason, detail)
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
	f.Fuzz(func(t *testing.T, data []byte) {
		var m message
		d.reset()
		_, reason, detail := v.check(&d, data, &m, nil)
		if reason != "" {
			if !slices.Contains(Reasons, reason) || detail == "" {
				t.Fatalf("rejected with reason %q detail %q", reason, detail)
			}
			return
		}
		if !json.Valid(data) {
			t.Fatalf("accepted invalid JSON %q", data)
		}
		var key *envelope.Key
		if m.thing.class.hasSensitive {
			var err error
			if key, err = keys.Key(context.Background(), m.thing.name, m.thing.class.id); err != nil {
				t.Fatal(err)
			}
		}
		line := w.appendLine(nil, &m, "1", key)
		var in, out map[string]any
		if err := json.Unmarshal(data, &in); err != nil {
			t.Fatalf("accepted %q that encoding/json refuses: %v", data, err)
		}
		if err := json.Unmarshal(line, &out); err != nil {
			t.Fatalf("line %q is not JSON: %v", line, err)
		}
		for i, fd := range m.thing.class.fields {
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
