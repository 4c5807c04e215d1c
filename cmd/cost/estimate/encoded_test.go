package estimate

import (
	"strings"
	"testing"
)

// TestEncodedPayloadRecordSize: a rule that carries the payload base64-encoded
// (encode(*, 'base64') AS payload) puts 4 bytes per 3 of payload on the stream, plus the key.
func TestEncodedPayloadRecordSize(t *testing.T) {
	tmpls, fig, prices := fixture(t)
	usage := func() string {
		for _, l := range estimateFixture(t, tmpls, fig, prices).Platform {
			if l.Component == "Kinesis on-demand data in" {
				return l.Usage
			}
		}
		t.Fatal("no Kinesis on-demand line")
		return ""
	}
	// 1,000 B payload + ,"topic":<110> = 1,121 B.
	if u := usage(); !strings.Contains(u, "(1121 B records rounded to 2 KB)") {
		t.Errorf("SELECT *: %s", u)
	}
	p := props(t, tmpls, "Rule")["TopicRulePayload"].(map[string]any)
	p["Sql"] = "SELECT encode(*, 'base64') AS payload, topic() AS topic"
	// 1,336 B of base64 + {"payload":""} around it (14 B) + ,"topic":<110> (121 B) = 1,471 B.
	if u := usage(); !strings.Contains(u, "(1471 B records rounded to 2 KB)") {
		t.Errorf("encode(*, 'base64'): %s", u)
	}
}
