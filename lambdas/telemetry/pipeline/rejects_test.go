package pipeline

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// TestRejectedPayloadKeepsTheClassLimit: an oversized payload is stored up to its class's
// MaxMessageBytes (street_light: 1024), with the whole payload's size and SHA-256; an
// unknown class keeps up to the fleet's largest limit (camera: 16384).
func TestRejectedPayloadKeepsTheClassLimit(t *testing.T) {
	e := newEnv(t)
	big := []byte(fmt.Sprintf(`{"msgId":"a","ts":%d,"on":true,"brightness":5,"pad":"%s"}`, baseTime.UnixMilli(), strings.Repeat("x", 2900)))
	unknown := ruleRecord(bytes.Repeat([]byte{0xff}, 16500), "districts/old_town/things/sl-1/telemetry", "sl-1", "tram", baseTime.UnixMilli())
	res := e.run(t, kinRec(1, "sl-1", ruleRecordOf("sl-1", baseTime.UnixMilli(), big)), kinRec(2, "sl-1", unknown))
	if res.Rejected != 2 {
		t.Fatalf("result %+v", res)
	}
	lines := e.s3.allLines(t, "rejected/")
	if len(lines) != 2 {
		t.Fatalf("rejected lines %v", lines)
	}
	for _, line := range lines {
		want, limit := big, 1024
		if line["reason"] == string(ReasonUnknownClass) {
			want, limit = payloadOf(unknown), 16384
		} else if line["reason"] != string(ReasonTooLarge) {
			t.Fatalf("line %v", line)
		}
		got := originalPayload(t, e, line)
		sum := sha256.Sum256(want)
		if !bytes.Equal(got, want[:limit]) || line["truncated"] != true || fmt.Sprint(line["size"]) != fmt.Sprint(len(want)) ||
			line["sha256"] != hex.EncodeToString(sum[:]) || line["source"] != SourcePayload {
			t.Errorf("%s: stored %d bytes, truncated %v, size %v, sha256 %v, source %v; want %d of %d bytes, %x",
				line["reason"], len(got), line["truncated"], line["size"], line["sha256"], line["source"], limit, len(want), sum)
		}
	}
}

// TestNonJSONPayloadIsArchived: a payload that is not JSON (binary, text) reaches the
// rejected archive as not_json with what the device sent, in stream and direct mode, instead
// of failing the rule's SQL unseen.
func TestNonJSONPayloadIsArchived(t *testing.T) {
	binary := []byte{0x00, 0x9c, 0xff, 0x10, 'o', 'n'}
	e := newEnv(t)
	res := e.run(t, kinRec(1, "sl-1", ruleRecordOf("sl-1", baseTime.UnixMilli(), binary)))
	if res.Rejected != 1 || len(res.BatchItemFailures) != 0 {
		t.Fatalf("result %+v", res)
	}
	direct := newEnv(t)
	if err := direct.p.HandleMessage(context.Background(), ruleRecordOf("sl-1", baseTime.UnixMilli(), []byte("on=1"))); err != nil {
		t.Fatalf("direct: %v", err)
	}
	for name, c := range map[string]struct {
		e    *env
		want []byte
	}{"stream": {e, binary}, "direct": {direct, []byte("on=1")}} {
		objs := c.e.s3.lines(t, "rejected/reason=not_json/")
		if len(objs) != 1 {
			t.Fatalf("%s: objects %v", name, objs)
		}
		for _, lines := range objs {
			if len(lines) != 1 || lines[0]["thing"] != "sl-1" || lines[0]["class"] != "street_light" || lines[0]["district"] != "old_town" {
				t.Errorf("%s: lines %v", name, lines)
			}
			if got := originalPayload(t, c.e, lines[0]); !bytes.Equal(got, c.want) {
				t.Errorf("%s: stored %q, want %q", name, got, c.want)
			}
		}
	}
}

// TestRejectLogNamesThingClassDistrictReason: every reject is one structured log line that
// RejectsByThingQuery (constructs/ingest) can count by thing, class, district and reason.
func TestRejectLogNamesThingClassDistrictReason(t *testing.T) {
	e := newEnv(t)
	var logs bytes.Buffer
	e.p.cfg.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	e.run(t,
		kinRec(1, "sl-2", msg("sl-2", "a", `"on":true,"brightness":101`)),
		kinRec(2, "ts-1", ruleRecordOf("ts-1", baseTime.UnixMilli(), []byte("not json"))),
		kinRec(3, "nobody", []byte("garbage")),
	)
	var got []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if m["msg"] == LogRejected {
			got = append(got, map[string]any{LogKeyThing: m[LogKeyThing], LogKeyClass: m[LogKeyClass], LogKeyDistrict: m[LogKeyDistrict], LogKeyReason: m[LogKeyReason]})
		}
	}
	want := []map[string]any{
		{"thing": "sl-2", "class": "street_light", "district": "harbour", "reason": "out_of_range"},
		{"thing": "ts-1", "class": "traffic_signal", "district": "old_town", "reason": "not_json"},
		{"thing": "nobody", "class": "unknown", "district": "unknown", "reason": "missing_metadata"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("reject logs\n got %v\nwant %v", got, want)
	}
	if strings.Contains(logs.String(), "not json") {
		t.Error("a log line holds the payload")
	}
}
