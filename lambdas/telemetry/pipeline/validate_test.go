package pipeline

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func testValidator(t testing.TB) *validator {
	t.Helper()
	s, err := compile(testFleet())
	if err != nil {
		t.Fatal(err)
	}
	return newValidator(s, DefaultMaxFutureSkew, DefaultMaxPastSkew)
}

// light wraps members into a street light record from sl-1 with valid metadata.
func light(members string) []byte {
	return []byte(fmt.Sprintf(`{%s,"topic":"things/sl-1/telemetry","clientId":"sl-1","receivedAt":%d}`, members, baseTime.UnixMilli()))
}

func TestCheckReasons(t *testing.T) {
	ms := baseTime.UnixMilli()
	ok := fmt.Sprintf(`"msgId":"a","ts":%d,"on":true,"brightness":5`, ms)
	deep := strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1)
	tests := []struct {
		name string
		data []byte
		want Reason
	}{
		{"valid", light(ok), ""},
		{"whitespace everywhere", []byte(fmt.Sprintf(" \n{ \"msgId\" : \"a\" ,\t\"ts\":%d, \"on\" :true,\"brightness\":5 ,\"topic\":\"things/sl-1/telemetry\",\"clientId\":\"sl-1\",\"receivedAt\":%d }\r\n", ms, ms)), ""},
		{"basic ingest topic", []byte(fmt.Sprintf(`{%s,"topic":"$aws/rules/smartcity_street_light/things/sl-1/telemetry","clientId":"sl-1","receivedAt":%d}`, ok, ms)), ""},
		{"integral float integer", light(fmt.Sprintf(`"msgId":"a","ts":%d.0,"on":true,"brightness":5e1`, ms)), ""},
		{"negative zero", light(ok + `,"lux":-0`), ""},
		{"escaped enum value", []byte(fmt.Sprintf(`{"msgId":"a","ts":%d,"phase":"\u0072ed","fault":false,"topic":"things/ts-1/telemetry","clientId":"ts-1","receivedAt":%d}`, ms, ms)), ""},
		{"surrogate pair", []byte(fmt.Sprintf(`{"msgId":"a","ts":%d,"bay":"\ud83d\ude00","occupied":true,"topic":"things/pk-1/telemetry","clientId":"pk-1","receivedAt":%d}`, ms, ms)), ""},
		{"future skew at the limit", light(fmt.Sprintf(`"msgId":"a","ts":%d,"on":true,"brightness":5`, ms+DefaultMaxFutureSkew.Milliseconds())), ""},
		{"future skew past the limit", light(fmt.Sprintf(`"msgId":"a","ts":%d,"on":true,"brightness":5`, ms+DefaultMaxFutureSkew.Milliseconds()+1)), ReasonClockSkew},
		{"past skew at the limit", light(fmt.Sprintf(`"msgId":"a","ts":%d,"on":true,"brightness":5`, ms-DefaultMaxPastSkew.Milliseconds())), ""},
		{"past skew past the limit", light(fmt.Sprintf(`"msgId":"a","ts":%d,"on":true,"brightness":5`, ms-DefaultMaxPastSkew.Milliseconds()-1)), ReasonClockSkew},

		{"empty", nil, ReasonMalformedJSON},
		{"null", []byte(`null`), ReasonMalformedJSON},
		{"array", []byte(`[1]`), ReasonMalformedJSON},
		{"truncated", light(ok)[:40], ReasonMalformedJSON},
		{"trailing data", append(light(ok), '}'), ReasonMalformedJSON},
		{"two objects", append(light(ok), light(ok)...), ReasonMalformedJSON},
		{"byte order mark", append([]byte("\xef\xbb\xbf"), light(ok)...), ReasonMalformedJSON},
		{"leading zero", light(ok + `,"lux":01`), ReasonMalformedJSON},
		{"plus sign", light(ok + `,"lux":+1`), ReasonMalformedJSON},
		{"bare dot", light(ok + `,"lux":1.`), ReasonMalformedJSON},
		{"NaN", light(ok + `,"lux":NaN`), ReasonMalformedJSON},
		{"single quotes", light(ok + `,'lux':1`), ReasonMalformedJSON},
		{"control character", light(ok + ",\"bay\":\"a\tb\""), ReasonMalformedJSON},
		{"bad escape", light(ok + `,"x":"\q"`), ReasonMalformedJSON},
		{"too deep", light(ok + `,"x":` + deep), ReasonMalformedJSON},
		{"invalid UTF-8", light(ok + ",\"x\":\"\xc3\x28\""), ReasonInvalidUTF8},
		{"lone high surrogate", light(ok + `,"x":"\ud800"`), ReasonInvalidUTF8},
		{"lone low surrogate", light(ok + `,"x":"\udc00x"`), ReasonInvalidUTF8},

		{"duplicate clientId", []byte(fmt.Sprintf(`{%s,"clientId":"sl-2","topic":"things/sl-1/telemetry","clientId":"sl-1","receivedAt":%d}`, ok, ms)), ReasonDuplicateField},
		{"no clientId", []byte(fmt.Sprintf(`{%s,"topic":"things/sl-1/telemetry","receivedAt":%d}`, ok, ms)), ReasonMissingMetadata},
		{"receivedAt a string", []byte(fmt.Sprintf(`{%s,"topic":"things/sl-1/telemetry","clientId":"sl-1","receivedAt":"%d"}`, ok, ms)), ReasonMissingMetadata},
		{"topic of commands", []byte(fmt.Sprintf(`{%s,"topic":"city/things/sl-1/commands","clientId":"sl-1","receivedAt":%d}`, ok, ms)), ReasonInvalidTopic},
		{"another thing's topic", []byte(fmt.Sprintf(`{%s,"topic":"things/sl-2/telemetry","clientId":"sl-1","receivedAt":%d}`, ok, ms)), ReasonThingMismatch},
		{"unknown thing", []byte(fmt.Sprintf(`{%s,"topic":"things/x/telemetry","clientId":"x","receivedAt":%d}`, ok, ms)), ReasonUnknownThing},
		{"escaped duplicate field", light(ok + `,"\u006fn":false`), ReasonDuplicateField},
		{"unknown field", light(ok + `,"colour":"red"`), ReasonUnknownField},
		{"unknown nested field", light(ok + `,"extra":{"a":[1,2,{"b":null}]}`), ReasonUnknownField},
		{"no id", light(fmt.Sprintf(`"ts":%d,"on":true,"brightness":5`, ms)), ReasonMissingMsgID},
		{"empty msgId", light(fmt.Sprintf(`"msgId":"","ts":%d,"on":true,"brightness":5`, ms)), ReasonInvalidMsgID},
		{"long msgId", light(fmt.Sprintf(`"msgId":"%s","ts":%d,"on":true,"brightness":5`, strings.Repeat("a", 129), ms)), ReasonInvalidMsgID},
		{"escaped msgId", light(fmt.Sprintf(`"msgId":"\u0061","ts":%d,"on":true,"brightness":5`, ms)), ReasonInvalidMsgID},
		{"numeric msgId", light(fmt.Sprintf(`"msgId":5,"ts":%d,"on":true,"brightness":5`, ms)), ReasonInvalidMsgID},
		{"negative seq", light(fmt.Sprintf(`"seq":-1,"ts":%d,"on":true,"brightness":5`, ms)), ReasonInvalidMsgID},
		{"fractional seq", light(fmt.Sprintf(`"seq":1.5,"ts":%d,"on":true,"brightness":5`, ms)), ReasonInvalidMsgID},
		{"no ts", light(`"msgId":"a","on":true,"brightness":5`), ReasonMissingTimestamp},
		{"ts in seconds as float", light(`"msgId":"a","ts":1767261600.5,"on":true,"brightness":5`), ReasonInvalidTimestamp},
		{"ts zero", light(`"msgId":"a","ts":0,"on":true,"brightness":5`), ReasonInvalidTimestamp},
		{"boolean as number", light(fmt.Sprintf(`"msgId":"a","ts":%d,"on":1,"brightness":5`, ms)), ReasonWrongType},
		{"null field", light(fmt.Sprintf(`"msgId":"a","ts":%d,"on":null,"brightness":5`, ms)), ReasonWrongType},
		{"object field", light(fmt.Sprintf(`"msgId":"a","ts":%d,"on":{},"brightness":5`, ms)), ReasonWrongType},
		{"fractional integer", light(fmt.Sprintf(`"msgId":"a","ts":%d,"on":true,"brightness":5.5`, ms)), ReasonWrongType},
		{"number as string", light(ok + `,"lux":"12"`), ReasonWrongType},
		{"above max", light(ok + `,"lux":100000.01`), ReasonOutOfRange},
		{"below min", light(ok + `,"power_w":-1`), ReasonOutOfRange},
		{"huge number", light(ok + `,"lux":1e400`), ReasonOutOfRange},
		{"underflow", light(ok + `,"lux":1e-400`), ReasonOutOfRange},
		{"tiny number", light(ok + `,"lux":1e-200`), ReasonOutOfRange},
		{"huge integer", light(fmt.Sprintf(`"msgId":"a","ts":%d,"on":true,"brightness":123456789012345678901234567890`, ms)), ReasonOutOfRange},
		{"missing required", light(fmt.Sprintf(`"msgId":"a","ts":%d,"on":true`, ms)), ReasonMissingField},
		{"too large for the class", light(ok + `,"lux":1` + strings.Repeat(" ", 1400)), ReasonTooLarge},
		{"too large for any class", light(ok + `,"lux":1` + strings.Repeat(" ", 17000)), ReasonTooLarge},
	}
	v := testValidator(t)
	var d decoder
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var m message
			_, got, detail := v.check(&d, tc.data, &m, nil)
			if got != tc.want {
				t.Errorf("reason %q (%s), want %q", got, detail, tc.want)
			}
			if got != "" && detail == "" {
				t.Error("rejection without detail")
			}
		})
	}
}

func TestLineRoundTrip(t *testing.T) {
	v := testValidator(t)
	var d decoder
	var m message
	data := light(fmt.Sprintf(`"msgId":"a-1","ts":%d,"lamp_fault":false,"lux":1.5e2,"on":true,"brightness":5.0,"power_w":12.25`, baseTime.UnixMilli()-10))
	if _, r, detail := v.check(&d, data, &m, nil); r != "" {
		t.Fatalf("rejected: %s %s", r, detail)
	}
	var w lineWriter
	line := w.appendLine(nil, &m, "42", nil)
	var got map[string]any
	if err := json.Unmarshal(line, &got); err != nil {
		t.Fatalf("line %s: %v", line, err)
	}
	want := map[string]any{
		"thing": "sl-1", "class": "street_light", "msgId": "a-1", "ts": float64(baseTime.UnixMilli() - 10),
		"receivedAt": float64(baseTime.UnixMilli()), "streamSeq": "42",
		"on": true, "brightness": 5.0, "power_w": 12.25, "lux": 150.0, "lamp_fault": false,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("line (-want +got):\n%s", diff)
	}
	if !strings.Contains(string(line), `"brightness":5,`) {
		t.Errorf("integer not canonical in %s", line)
	}
}

func TestSkewLimitsAreConfigurable(t *testing.T) {
	s, err := compile(testFleet())
	if err != nil {
		t.Fatal(err)
	}
	v := newValidator(s, time.Second, time.Minute)
	var d decoder
	var m message
	ms := baseTime.UnixMilli()
	for ts, want := range map[int64]Reason{ms + 1000: "", ms + 1001: ReasonClockSkew, ms - 60000: "", ms - 60001: ReasonClockSkew} {
		_, got, _ := v.check(&d, light(fmt.Sprintf(`"msgId":"a","ts":%d,"on":true,"brightness":5`, ts)), &m, nil)
		if got != want {
			t.Errorf("ts %+d ms: reason %q, want %q", ts-ms, got, want)
		}
	}
}

// TestNumberFastPathMatchesStrconv checks the scanner's decimal against strconv on numbers
// of every shape: the fast path must round exactly as strconv does, and hand over the rest.
func TestNumberFastPathMatchesStrconv(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tokens := []string{"0", "-0", "0.0", "1", "-1", "0.1", "0.30000000000000004", "9007199254740993",
		"9007199254740992", "123456789012345678901234567890", "1.7976931348623157e308", "4.9e-324",
		"1e22", "1e23", "1e-22", "1e-23", "0.000000000000000000000000000001", "123.456e-5", "5e-1",
		"12345678901234567890", "1234567890123456789", "0.1234567890123456789012", "-2.5E+3", "1E0"}
	for range 20000 {
		switch rng.IntN(4) {
		case 0:
			tokens = append(tokens, strconv.FormatFloat(rng.NormFloat64()*math.Pow(10, float64(rng.IntN(40)-20)), 'g', -1, 64))
		case 1:
			tokens = append(tokens, strconv.FormatFloat(rng.Float64()*1e6, 'f', rng.IntN(12), 64))
		case 2:
			tokens = append(tokens, strconv.FormatInt(rng.Int64N(1<<62)-(1<<61), 10))
		default:
			tokens = append(tokens, fmt.Sprintf("%d.%de%d", rng.IntN(100000), rng.IntN(1000), rng.IntN(60)-30))
		}
	}
	var d decoder
	for _, tok := range tokens {
		d.data, d.pos = []byte(tok), 0
		var num decimal
		intLit, ok := d.scanNumber(&num)
		if !ok || d.pos != len(tok) {
			t.Fatalf("scanNumber(%s) failed", tok)
		}
		want, err := strconv.ParseFloat(tok, 64)
		got, gotOK := number([]byte(tok), &num)
		switch wantOK := err == nil && (want == 0 || math.Abs(want) >= dynamoMin && math.Abs(want) <= dynamoMax); {
		case gotOK != wantOK && !(want == 0 && strings.ContainsAny(strings.Split(strings.ToLower(tok), "e")[0], "123456789")):
			t.Errorf("number(%s) ok = %v, want %v", tok, gotOK, wantOK)
		case gotOK && got != want:
			t.Errorf("number(%s) = %v, want %v", tok, got, want)
		}
		if n, r := integerToken([]byte(tok), intLit, &num); r == "" {
			if float64(n) != want || math.Abs(want) > maxSafeInt {
				t.Errorf("integerToken(%s) = %d, want %v", tok, n, want)
			}
		} else if exact, perr := strconv.ParseInt(tok, 10, 64); intLit && perr == nil && exact >= -maxSafeInt && exact <= maxSafeInt ||
			!intLit && want == math.Trunc(want) && math.Abs(want) <= maxSafeInt && err == nil {
			t.Errorf("integerToken(%s) refused an integral value: %s", tok, r)
		}
	}
}
