package pipeline

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/secure-smart-city/platform/topics"
)

func testValidator(t testing.TB) *validator {
	t.Helper()
	return testValidatorWith(t, "")
}

func testValidatorWith(t testing.TB, rulePrefix string) *validator {
	t.Helper()
	s, err := compile(testFleet(), rulePrefix)
	if err != nil {
		t.Fatal(err)
	}
	return newValidator(s, DefaultMaxFutureSkew, DefaultMaxPastSkew, DefaultArrivalTolerance, DefaultMaxEventAge)
}

// streamOrigin is how a stream record of data arrives: with its clientId (as encoding/json
// reads it) as partition key, at baseTime.
func streamOrigin(data []byte) *origin {
	var h struct{ ClientID string }
	_ = json.Unmarshal(data, &h)
	return &origin{partitionKey: h.ClientID, arrival: baseTime.UnixMilli()}
}

// light wraps members into a street light record from sl-1 with valid metadata.
func light(members string) []byte {
	return recordOf("sl-1", members)
}

// recordOf wraps members into a record from thing with valid metadata received at baseTime.
func recordOf(thing, members string) []byte {
	return ruleRecordOf(thing, baseTime.UnixMilli(), []byte("{"+members+"}"))
}

// withMeta wraps members into a record whose rule keys are given verbatim.
func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func withMeta(members, topic, clientID, class string, receivedAt int64) []byte {
	return ruleRecord([]byte("{"+members+"}"), topic, clientID, class, receivedAt)
}

func TestCheckReasons(t *testing.T) {
	ms := baseTime.UnixMilli()
	ok := fmt.Sprintf(`"msgId":"a","ts":%d,"on":true,"brightness":5`, ms)
	deep := strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1)
	topic := func(district, thing string) string { return topics.TelemetrySuffix(district, thing) }
	direct := func(arrival int64) *origin { return &origin{direct: true, arrival: arrival} }
	// sent is the record of a street light that published p, whatever its bytes.
	sent := func(p string) []byte { return ruleRecordOf("sl-1", ms, []byte(p)) }
	tests := []struct {
		name string
		data []byte
		want Reason
		// o is how the record arrived. Default: streamOrigin(data).
		o *origin
	}{
		{"valid", light(ok), "", nil},
		{"whitespace everywhere", []byte(fmt.Sprintf(" \n{ \"payload\" : %q ,\"topic\":\"districts/old_town/things/sl-1/telemetry\",\"clientId\":\"sl-1\",\"class\" : \"street_light\", \"receivedAt\":%d }\r\n",
			b64(fmt.Sprintf(" \n{ \"msgId\" : \"a\" ,\t\"ts\":%d, \"on\" :true,\"brightness\":5 }\r\n", ms)), ms)), "", nil},
		{"unpadded base64", []byte(fmt.Sprintf(`{"payload":%q,"topic":%q,"clientId":"sl-1","class":"street_light","receivedAt":%d}`,
			strings.TrimRight(b64("{"+ok+"}"), "="), topic("old_town", "sl-1"), ms)), "", nil},
		{"basic ingest topic", withMeta(ok, topics.Telemetry("smartcity_street_light", "old_town", "sl-1"), "sl-1", "street_light", ms), "", nil},
		{"a thing the fleet does not declare", recordOf("sl-jitp-0042", ok), "", nil},
		{"msgId and seq both valid", light(ok + `,"seq":17`), "", nil},
		{"integral float integer", light(fmt.Sprintf(`"msgId":"a","ts":%d.0,"on":true,"brightness":5e1`, ms)), "", nil},
		{"negative zero", light(ok + `,"lux":-0`), "", nil},
		{"escaped enum value", recordOf("ts-1", fmt.Sprintf(`"msgId":"a","ts":%d,"phase":"\u0072ed","fault":false`, ms)), "", nil},
		{"surrogate pair", recordOf("pk-1", fmt.Sprintf(`"msgId":"a","ts":%d,"bay":"\ud83d\ude00","occupied":true`, ms)), "", nil},
		{"receivedAt a minute after arrival", light(ok), "", &origin{partitionKey: "sl-1", arrival: ms - DefaultArrivalTolerance.Milliseconds()}},
		{"receivedAt a minute before arrival", light(ok), "", &origin{partitionKey: "sl-1", arrival: ms + DefaultArrivalTolerance.Milliseconds()}},
		{"direct: a retry six hours late", light(ok), "", direct(ms + (DefaultMaxEventAge + DefaultArrivalTolerance).Milliseconds())},
		{"direct: receivedAt a minute after the invocation", light(ok), "", direct(ms - DefaultArrivalTolerance.Milliseconds())},
		{"direct: no partition key to compare", light(ok), "", &origin{direct: true, partitionKey: "someone-else", arrival: ms}},
		{"future skew at the limit", light(fmt.Sprintf(`"msgId":"a","ts":%d,"on":true,"brightness":5`, ms+DefaultMaxFutureSkew.Milliseconds())), "", nil},
		{"future skew past the limit", light(fmt.Sprintf(`"msgId":"a","ts":%d,"on":true,"brightness":5`, ms+DefaultMaxFutureSkew.Milliseconds()+1)), ReasonClockSkew, nil},
		{"past skew at the limit", light(fmt.Sprintf(`"msgId":"a","ts":%d,"on":true,"brightness":5`, ms-DefaultMaxPastSkew.Milliseconds())), "", nil},
		{"past skew past the limit", light(fmt.Sprintf(`"msgId":"a","ts":%d,"on":true,"brightness":5`, ms-DefaultMaxPastSkew.Milliseconds()-1)), ReasonClockSkew, nil},

		{"empty payload", sent(""), ReasonNotJSON, nil},
		{"binary payload", sent("\x00\x01\x02\xff\xfe"), ReasonNotJSON, nil},
		{"plain text payload", sent("temperature=21.5"), ReasonNotJSON, nil},
		{"CBOR-looking payload", sent("\xa2\x62on\xf5"), ReasonNotJSON, nil},
		{"null", sent(`null`), ReasonMalformedJSON, nil},
		{"array", sent(`[1]`), ReasonMalformedJSON, nil},
		{"number", sent(`42`), ReasonMalformedJSON, nil},
		{"deep array", sent(deep), ReasonMalformedJSON, nil},
		{"truncated", sent(("{" + ok)[:20]), ReasonNotJSON, nil},
		{"trailing data", sent("{" + ok + "}}"), ReasonNotJSON, nil},
		{"two objects", sent("{" + ok + "}{" + ok + "}"), ReasonNotJSON, nil},
		{"byte order mark", sent("\xef\xbb\xbf{" + ok + "}"), ReasonNotJSON, nil},
		{"array with garbage", sent(`[1,`), ReasonNotJSON, nil},
		{"leading zero", light(ok + `,"lux":01`), ReasonNotJSON, nil},
		{"plus sign", light(ok + `,"lux":+1`), ReasonNotJSON, nil},
		{"bare dot", light(ok + `,"lux":1.`), ReasonNotJSON, nil},
		{"NaN", light(ok + `,"lux":NaN`), ReasonNotJSON, nil},
		{"single quotes", light(ok + `,'lux':1`), ReasonNotJSON, nil},
		{"control character", light(ok + ",\"bay\":\"a\tb\""), ReasonNotJSON, nil},
		{"bad escape", light(ok + `,"x":"\q"`), ReasonNotJSON, nil},
		{"too deep", light(ok + `,"x":` + deep), ReasonMalformedJSON, nil},
		{"record empty", nil, ReasonMissingMetadata, nil},
		{"record not JSON", []byte("\x00\x01"), ReasonMissingMetadata, nil},
		{"record an array", []byte(`[1]`), ReasonMissingMetadata, nil},
		{"record merged as by SELECT *", []byte(fmt.Sprintf(`{%s,"topic":%q,"clientId":"sl-1","class":"street_light","receivedAt":%d}`, ok, topic("old_town", "sl-1"), ms)), ReasonMissingMetadata, nil},
		{"record with a second payload", []byte(fmt.Sprintf(`{"payload":%q,"payload":%q,"topic":%q,"clientId":"sl-1","class":"street_light","receivedAt":%d}`, b64("{"+ok+"}"), b64("{}"), topic("old_town", "sl-1"), ms)), ReasonMissingMetadata, nil},
		{"payload not base64", []byte(fmt.Sprintf(`{"payload":"{not base64}","topic":%q,"clientId":"sl-1","class":"street_light","receivedAt":%d}`, topic("old_town", "sl-1"), ms)), ReasonMissingMetadata, nil},
		{"payload a number", []byte(fmt.Sprintf(`{"payload":7,"topic":%q,"clientId":"sl-1","class":"street_light","receivedAt":%d}`, topic("old_town", "sl-1"), ms)), ReasonMissingMetadata, nil},
		{"no payload", []byte(fmt.Sprintf(`{"topic":%q,"clientId":"sl-1","class":"street_light","receivedAt":%d}`, topic("old_town", "sl-1"), ms)), ReasonMissingMetadata, nil},
		{"invalid UTF-8", light(ok + ",\"x\":\"\xc3\x28\""), ReasonInvalidUTF8, nil},
		{"lone high surrogate", light(ok + `,"x":"\ud800"`), ReasonInvalidUTF8, nil},
		{"lone low surrogate", light(ok + `,"x":"\udc00x"`), ReasonInvalidUTF8, nil},

		{"payload carries clientId", light(ok + `,"clientId":"sl-2"`), ReasonRuleKeyInPayload, nil},
		{"payload carries topic", light(`"topic":"districts/harbour/things/sl-1/telemetry",` + ok), ReasonRuleKeyInPayload, nil},
		{"payload carries receivedAt", light(ok + fmt.Sprintf(`,"receivedAt":%d`, ms+1)), ReasonRuleKeyInPayload, nil},
		{"payload carries class", light(ok + `,"class":"camera"`), ReasonRuleKeyInPayload, nil},
		{"payload carries an escaped class", light(ok + `,"cl\u0061ss":"camera"`), ReasonRuleKeyInPayload, nil},
		{"rule key beats a duplicate device key", light(ok + `,"ts":1,"class":"camera"`), ReasonRuleKeyInPayload, nil},
		{"payload carries a rule key once, before its fields", light(`"clientId":"sl-1",` + ok), ReasonRuleKeyInPayload, nil},
		{"duplicate ts", light(ok + `,"ts":1`), ReasonDuplicateField, nil},
		{"duplicate seq", light(ok + `,"seq":1,"seq":2`), ReasonDuplicateField, nil},
		{"no clientId", []byte(fmt.Sprintf(`{"payload":%q,"topic":%q,"class":"street_light","receivedAt":%d}`, b64("{"+ok+"}"), topic("old_town", "sl-1"), ms)), ReasonMissingMetadata, nil},
		{"no class", []byte(fmt.Sprintf(`{"payload":%q,"topic":%q,"clientId":"sl-1","receivedAt":%d}`, b64("{"+ok+"}"), topic("old_town", "sl-1"), ms)), ReasonMissingMetadata, nil},
		{"class a number", []byte(fmt.Sprintf(`{"payload":%q,"topic":%q,"clientId":"sl-1","class":7,"receivedAt":%d}`, b64("{"+ok+"}"), topic("old_town", "sl-1"), ms)), ReasonMissingMetadata, nil},
		{"receivedAt a string", []byte(fmt.Sprintf(`{"payload":%q,"topic":%q,"clientId":"sl-1","class":"street_light","receivedAt":"%d"}`, b64("{"+ok+"}"), topic("old_town", "sl-1"), ms)), ReasonMissingMetadata, nil},
		{"topic of commands", withMeta(ok, "city/things/sl-1/commands", "sl-1", "street_light", ms), ReasonInvalidTopic, nil},
		{"topic without a district", withMeta(ok, "things/sl-1/telemetry", "sl-1", "street_light", ms), ReasonInvalidTopic, nil},
		{"thing name with a space", withMeta(ok, topic("old_town", "sl 1"), "sl 1", "street_light", ms), ReasonInvalidTopic, nil},
		{"another thing's topic", withMeta(ok, topic("old_town", "sl-2"), "sl-1", "street_light", ms), ReasonThingMismatch, nil},
		{"client id is not the partition key", light(ok), ReasonPartitionKeyMismatch, &origin{partitionKey: "sl-2", arrival: ms}},
		{"receivedAt after arrival beyond the tolerance", light(ok), ReasonArrivalSkew, &origin{partitionKey: "sl-1", arrival: ms - DefaultArrivalTolerance.Milliseconds() - 1}},
		{"receivedAt before arrival beyond the tolerance", light(ok), ReasonArrivalSkew, &origin{partitionKey: "sl-1", arrival: ms + DefaultArrivalTolerance.Milliseconds() + 1}},
		{"receivedAt frozen far ahead", withMeta(fmt.Sprintf(`"msgId":"a","ts":%d,"on":true,"brightness":5`, ms+365*86400000), topic("old_town", "sl-1"), "sl-1", "street_light", ms+365*86400000), ReasonArrivalSkew, nil},
		{"direct: older than the oldest retry", light(ok), ReasonArrivalSkew, direct(ms + (DefaultMaxEventAge + DefaultArrivalTolerance).Milliseconds() + 1)},
		{"direct: receivedAt after the invocation", light(ok), ReasonArrivalSkew, direct(ms - DefaultArrivalTolerance.Milliseconds() - 1)},
		{"unknown class", withMeta(ok, topic("old_town", "sl-1"), "sl-1", "tram", ms), ReasonUnknownClass, nil},
		{"another class's rule in the topic", withMeta(ok, topics.Telemetry("smartcity_camera", "old_town", "sl-1"), "sl-1", "street_light", ms), ReasonClassMismatch, nil},
		{"unknown district", withMeta(ok, topic("atlantis", "sl-1"), "sl-1", "street_light", ms), ReasonUnknownDistrict, nil},
		{"escaped duplicate field", light(ok + `,"\u006fn":false`), ReasonDuplicateField, nil},
		{"unknown field", light(ok + `,"colour":"red"`), ReasonUnknownField, nil},
		{"unknown nested field", light(ok + `,"extra":{"a":[1,2,{"b":null}]}`), ReasonUnknownField, nil},
		{"no id", light(fmt.Sprintf(`"ts":%d,"on":true,"brightness":5`, ms)), ReasonMissingMsgID, nil},
		{"empty msgId", light(fmt.Sprintf(`"msgId":"","ts":%d,"on":true,"brightness":5`, ms)), ReasonInvalidMsgID, nil},
		{"valid msgId with a negative seq", light(ok + `,"seq":-1`), ReasonInvalidMsgID, nil},
		{"valid msgId with a string seq", light(ok + `,"seq":"7"`), ReasonInvalidMsgID, nil},
		{"valid seq with a numeric msgId", light(fmt.Sprintf(`"seq":7,"msgId":7,"ts":%d,"on":true,"brightness":5`, ms)), ReasonInvalidMsgID, nil},
		{"valid seq with an escaped msgId", light(fmt.Sprintf(`"seq":7,"msgId":"\u0061","ts":%d,"on":true,"brightness":5`, ms)), ReasonInvalidMsgID, nil},
		{"long msgId", light(fmt.Sprintf(`"msgId":"%s","ts":%d,"on":true,"brightness":5`, strings.Repeat("a", 129), ms)), ReasonInvalidMsgID, nil},
		{"escaped msgId", light(fmt.Sprintf(`"msgId":"\u0061","ts":%d,"on":true,"brightness":5`, ms)), ReasonInvalidMsgID, nil},
		{"numeric msgId", light(fmt.Sprintf(`"msgId":5,"ts":%d,"on":true,"brightness":5`, ms)), ReasonInvalidMsgID, nil},
		{"negative seq", light(fmt.Sprintf(`"seq":-1,"ts":%d,"on":true,"brightness":5`, ms)), ReasonInvalidMsgID, nil},
		{"fractional seq", light(fmt.Sprintf(`"seq":1.5,"ts":%d,"on":true,"brightness":5`, ms)), ReasonInvalidMsgID, nil},
		{"no ts", light(`"msgId":"a","on":true,"brightness":5`), ReasonMissingTimestamp, nil},
		{"ts in seconds as float", light(`"msgId":"a","ts":1767261600.5,"on":true,"brightness":5`), ReasonInvalidTimestamp, nil},
		{"ts zero", light(`"msgId":"a","ts":0,"on":true,"brightness":5`), ReasonInvalidTimestamp, nil},
		{"boolean as number", light(fmt.Sprintf(`"msgId":"a","ts":%d,"on":1,"brightness":5`, ms)), ReasonWrongType, nil},
		{"null field", light(fmt.Sprintf(`"msgId":"a","ts":%d,"on":null,"brightness":5`, ms)), ReasonWrongType, nil},
		{"object field", light(fmt.Sprintf(`"msgId":"a","ts":%d,"on":{},"brightness":5`, ms)), ReasonWrongType, nil},
		{"fractional integer", light(fmt.Sprintf(`"msgId":"a","ts":%d,"on":true,"brightness":5.5`, ms)), ReasonWrongType, nil},
		{"number as string", light(ok + `,"lux":"12"`), ReasonWrongType, nil},
		{"above max", light(ok + `,"lux":100000.01`), ReasonOutOfRange, nil},
		{"below min", light(ok + `,"power_w":-1`), ReasonOutOfRange, nil},
		{"huge number", light(ok + `,"lux":1e400`), ReasonOutOfRange, nil},
		{"underflow", light(ok + `,"lux":1e-400`), ReasonOutOfRange, nil},
		{"tiny number", light(ok + `,"lux":1e-200`), ReasonOutOfRange, nil},
		{"huge integer", light(fmt.Sprintf(`"msgId":"a","ts":%d,"on":true,"brightness":123456789012345678901234567890`, ms)), ReasonOutOfRange, nil},
		{"missing required", light(fmt.Sprintf(`"msgId":"a","ts":%d,"on":true`, ms)), ReasonMissingField, nil},
		{"too large for the class", light(ok + `,"lux":1` + strings.Repeat(" ", 1400)), ReasonTooLarge, nil},
		{"not JSON and too large for the class", sent(strings.Repeat("\xff", 1500)), ReasonTooLarge, nil},
		{"too large for any class", light(ok + `,"lux":1` + strings.Repeat(" ", 17000)), ReasonTooLarge, nil},
	}
	v := testValidator(t)
	var d decoder
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var m message
			o := tc.o
			if o == nil {
				o = streamOrigin(tc.data)
			}
			_, got, detail := v.check(&d, tc.data, o, &m, nil)
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
	if _, r, detail := v.check(&d, data, streamOrigin(data), &m, nil); r != "" {
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
	s, err := compile(testFleet(), "")
	if err != nil {
		t.Fatal(err)
	}
	v := newValidator(s, time.Second, time.Minute, DefaultArrivalTolerance, DefaultMaxEventAge)
	var d decoder
	var m message
	ms := baseTime.UnixMilli()
	for ts, want := range map[int64]Reason{ms + 1000: "", ms + 1001: ReasonClockSkew, ms - 60000: "", ms - 60001: ReasonClockSkew} {
		data := light(fmt.Sprintf(`"msgId":"a","ts":%d,"on":true,"brightness":5`, ts))
		_, got, _ := v.check(&d, data, streamOrigin(data), &m, nil)
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

// TestBasicIngestRuleMustBeTheClassRule: with the rule prefix known, a topic that carries
// the Basic Ingest prefix must name exactly the record class's rule; without it, a rule of
// another class is still refused.
func TestBasicIngestRuleMustBeTheClassRule(t *testing.T) {
	ms := baseTime.UnixMilli()
	ok := fmt.Sprintf(`"msgId":"a","ts":%d,"on":true,"brightness":5`, ms)
	for _, tc := range []struct {
		prefix, rule string
		want         Reason
	}{
		{"smartcity_dev", "smartcity_dev_street_light", ""},
		{"smartcity_dev", "smartcity_prod_street_light", ReasonClassMismatch},
		{"smartcity_dev", "smartcity_dev_camera", ReasonClassMismatch},
		{"", "anything_street_light", ""},
		{"", "smartcity_dev_camera", ReasonClassMismatch},
	} {
		v := testValidatorWith(t, tc.prefix)
		var d decoder
		var m message
		data := withMeta(ok, topics.Telemetry(tc.rule, "old_town", "sl-1"), "sl-1", "street_light", ms)
		if _, got, detail := v.check(&d, data, streamOrigin(data), &m, nil); got != tc.want {
			t.Errorf("prefix %q, rule %s: reason %q (%s), want %q", tc.prefix, tc.rule, got, detail, tc.want)
		}
	}
}

// TestBothIDsAreStored: a device that sends msgId and seq has both validated and archived;
// msgId stays the dedup id.
func TestBothIDsAreStored(t *testing.T) {
	e := newEnv(t)
	data := light(fmt.Sprintf(`"msgId":"a-1","seq":42,"ts":%d,"on":true,"brightness":5`, baseTime.UnixMilli()))
	if res := e.run(t, kinRec(1, "sl-1", data)); res.Accepted != 1 {
		t.Fatalf("result %+v", res)
	}
	lines := e.s3.allLines(t, "accepted/")
	if len(lines) != 1 || lines[0]["msgId"] != "a-1" || lines[0]["seq"] != json.Number("42") {
		t.Errorf("lines %v, want msgId a-1 and seq 42", lines)
	}
	if w := str(e.ddb.item("sl-1", "state")[WindowAttr(0)]); !strings.Contains(w, " m:a-1/") {
		t.Errorf("window %q: want the dedup id m:a-1 (msgId wins over seq)", w)
	}
	if st := e.ddb.item("sl-1", "state"); str(st[KeyMsgID]) != "a-1" || st[KeySeq] == nil {
		t.Errorf("state %v, want msgId and seq", st)
	}
}
