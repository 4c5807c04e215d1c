package local

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	iottypes "github.com/aws/aws-sdk-go-v2/service/iot/types"

	"github.com/secure-smart-city/platform/fleetspec"
	"github.com/secure-smart-city/platform/topics"
)

func devFleet(t *testing.T) *fleetspec.Fleet {
	t.Helper()
	f, err := fleetspec.Load("../../../config/fleet.dev.json")
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestSimulateSpreadsOverClassesAndDistrictsWithRunTimeThings(t *testing.T) {
	f := devFleet(t)
	reg, err := Simulate(f, 24)
	if err != nil {
		t.Fatal(err)
	}
	things := reg.Things()
	if len(things) != 24 {
		t.Fatalf("%d things, want 24", len(things))
	}
	classes, districts := map[string]bool{}, map[string]bool{}
	declared, runtime := 0, 0
	for _, th := range things {
		classes[th.Class], districts[th.District] = true, true
		if th.Declared {
			declared++
		} else {
			runtime++
			if _, ok := f.Thing(th.Name); ok {
				t.Errorf("%s is in the fleet file but not marked declared", th.Name)
			}
		}
	}
	if len(classes) != len(f.Classes) || len(districts) != len(f.Districts) {
		t.Errorf("classes %v, districts %v: want all of the fleet's", classes, districts)
	}
	if declared == 0 || runtime == 0 {
		t.Errorf("declared %d, run-time %d: want both", declared, runtime)
	}
}

// The broker's ACL comes from the device policies over the registry: each thing may publish
// its own telemetry under its own class's rule and district, and no other thing's.
func TestBrokerACLFromDevicePolicies(t *testing.T) {
	f := devFleet(t)
	reg, err := Simulate(f, 7)
	if err != nil {
		t.Fatal(err)
	}
	prefix := f.RulePrefix("dev")
	acl, err := BrokerACL(f, reg.Policies(prefix))
	if err != nil {
		t.Fatal(err)
	}
	for _, th := range reg.Things() {
		want := "topic write " + topics.Telemetry(topics.RuleName(prefix, th.Class), th.District, th.Name)
		block := acl[strings.Index(acl, "user "+th.Name+"\n"):]
		if next := strings.Index(block[1:], "\nuser "); next >= 0 {
			block = block[:next+1]
		}
		if !strings.Contains(block, want) {
			t.Errorf("ACL block of %s lacks %q:\n%s", th.Name, want, block)
		}
	}
	if strings.Contains(acl, "pattern write $aws/rules/#") || strings.Contains(acl, "pattern read $aws/rules") {
		t.Errorf("ACL lets every client at the Basic Ingest topics:\n%s", acl)
	}
	if !strings.Contains(acl, "user "+RulesClient+"\ntopic read $aws/rules/#\n") {
		t.Errorf("ACL lacks the rules client's read:\n%s", acl)
	}
}

func TestQuarantinedThingLosesItsTelemetryTopic(t *testing.T) {
	f := devFleet(t)
	reg, _ := Simulate(f, 3)
	victim := reg.Things()[0]
	if err := reg.Quarantine(victim.Name); err != nil {
		t.Fatal(err)
	}
	prefix := f.RulePrefix("dev")
	acl, err := BrokerACL(f, reg.Policies(prefix))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(acl, "user "+victim.Name+"\n") {
		t.Errorf("quarantined %s keeps per-thing ACL lines:\n%s", victim.Name, acl)
	}
	if err := reg.Quarantine("no-such-thing"); err == nil {
		t.Error("quarantining an unknown thing succeeded")
	}
}

func TestBridgeRecordAddsTheRuleFields(t *testing.T) {
	f := devFleet(t)
	b := &bridge{rules: map[string]string{}, stats: &Stats{rejectedByReason: map[string]int{}}}
	for _, c := range f.Classes {
		b.rules[topics.RuleName("smartcity_dev", c.ID)] = c.ID
	}
	at := time.UnixMilli(1767225600123)
	topic := topics.Telemetry("smartcity_dev_street_light", "old_town", "sl-old-town-001")
	r, ok := b.record(inbound{topic: topic, payload: []byte(` {"msgId":"a","on":true} `), at: at})
	if !ok {
		t.Fatal("record dropped")
	}
	var m map[string]any
	if err := json.Unmarshal(r.Kinesis.Data, &m); err != nil {
		t.Fatalf("record %s: %v", r.Kinesis.Data, err)
	}
	payload := ` {"msgId":"a","on":true} `
	if m["topic"] != topics.TelemetrySuffix("old_town", "sl-old-town-001") || m["clientId"] != "sl-old-town-001" ||
		m["receivedAt"] != float64(at.UnixMilli()) || m["class"] != "street_light" ||
		m["payload"] != base64.StdEncoding.EncodeToString([]byte(payload)) || len(m) != 5 {
		t.Errorf("record %v", m)
	}
	if r.Kinesis.PartitionKey != "sl-old-town-001" || !r.Kinesis.ApproximateArrivalTimestamp.Equal(at) {
		t.Errorf("partition key %q, arrival %v", r.Kinesis.PartitionKey, r.Kinesis.ApproximateArrivalTimestamp)
	}
	// Not JSON at all: carried like any payload, for the processor to reject as not_json.
	r, ok = b.record(inbound{topic: topic, payload: []byte{0xff, 0x00, 'x'}, at: at})
	if !ok || json.Unmarshal(r.Kinesis.Data, &m) != nil || m["payload"] != base64.StdEncoding.EncodeToString([]byte{0xff, 0x00, 'x'}) {
		t.Errorf("non-JSON payload became %q (%v)", r.Kinesis.Data, ok)
	}
	// No such rule: dropped, as Basic Ingest drops it.
	if _, ok := b.record(inbound{topic: topics.Telemetry("smartcity_dev_nope", "old_town", "x"), payload: []byte(`{}`), at: at}); ok {
		t.Error("message to an unknown rule was forwarded")
	}
	if b.stats.Snapshot().Unrouted != 1 {
		t.Error("unrouted message not counted")
	}
	r1, _ := b.record(inbound{topic: topic, payload: []byte(`{}`), at: at})
	r2, _ := b.record(inbound{topic: topic, payload: []byte(`{}`), at: at})
	if r1.Kinesis.SequenceNumber >= r2.Kinesis.SequenceNumber {
		t.Errorf("sequence numbers %s, %s do not grow", r1.Kinesis.SequenceNumber, r2.Kinesis.SequenceNumber)
	}
}

func TestMetricsWriterCountsRejectsByReason(t *testing.T) {
	s := &Stats{rejectedByReason: map[string]int{}}
	w := &metricsWriter{stats: s}
	_, _ = w.Write([]byte(`{"Class":"street_light","Reason":"wrong_type","Rejected":2}` + "\n" + `{"Class":"street_light","Rejec`))
	_, _ = w.Write([]byte(`ted":5}` + "\n" + `{"Class":"camera","Reason":"unknown_key","Rejected":1}` + "\n"))
	got := s.Snapshot().RejectedByReason
	if got["wrong_type"] != 2 || got["unknown_key"] != 1 || len(got) != 2 {
		t.Errorf("rejected by reason %v", got)
	}
}

func TestPKIIsReusedAndKeysArePrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	p1, err := OpenPKI(dir)
	if err != nil {
		t.Fatal(err)
	}
	kp1, err := p1.Client("sl-old-town-001")
	if err != nil {
		t.Fatal(err)
	}
	p2, err := OpenPKI(dir)
	if err != nil {
		t.Fatal(err)
	}
	kp2, err := p2.Client("sl-old-town-001")
	if err != nil {
		t.Fatal(err)
	}
	if !p1.ca.Equal(p2.ca) || !kp1.Cert.Equal(kp2.Cert) {
		t.Error("a second run made a new CA or certificate instead of reusing them")
	}
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("pki dir mode %v, %v: want 0700", st.Mode().Perm(), err)
	}
	keys, _ := filepath.Glob(filepath.Join(dir, "*.key"))
	if len(keys) < 2 {
		t.Fatalf("keys %v", keys)
	}
	for _, k := range keys {
		if st, err := os.Stat(k); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, %v: want 0600", k, st.Mode().Perm(), err)
		}
	}
	server, err := p1.Server("localhost")
	if err != nil {
		t.Fatal(err)
	}
	if err := server.Cert.VerifyHostname("127.0.0.1"); err != nil {
		t.Errorf("server certificate: %v", err)
	}
}

func TestConfigRefusesNonLoopbackAddress(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:8443", ":8443", "192.168.1.2:8443", "example.com:443"} {
		cfg := Config{Root: "/x", Addr: addr}
		if err := cfg.defaults(); err == nil {
			t.Errorf("address %q accepted", addr)
		}
	}
	cfg := Config{Root: "/x", Addr: "127.0.0.1:0"}
	if err := cfg.defaults(); err != nil {
		t.Errorf("127.0.0.1:0 refused: %v", err)
	}
}

func TestRegistryDescribeThingAnswersLikeIoT(t *testing.T) {
	reg, err := Simulate(devFleet(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	reg.Prefix = "smartcity_dev"
	out, err := reg.DescribeThing(context.Background(), &iot.DescribeThingInput{ThingName: aws.String("sl-old-town-001")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.ThingTypeName) != "smartcity_dev_street_light" || out.Attributes[topics.DistrictAttribute] != "old_town" {
		t.Errorf("describe: type %q, attributes %v", aws.ToString(out.ThingTypeName), out.Attributes)
	}
	_, err = reg.DescribeThing(context.Background(), &iot.DescribeThingInput{ThingName: aws.String("nope")})
	var nf *iottypes.ResourceNotFoundException
	if !errors.As(err, &nf) {
		t.Errorf("unknown thing: %v, want ResourceNotFoundException", err)
	}
}
