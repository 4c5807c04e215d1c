package local_test

import (
	"bufio"
	"compress/gzip"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/eclipse/paho.golang/paho"

	"github.com/secure-smart-city/platform/cmd/city/control"
	"github.com/secure-smart-city/platform/cmd/city/local"
	"github.com/secure-smart-city/platform/cmd/devicesim/sim"
	"github.com/secure-smart-city/platform/internal/mqtttest"
	"github.com/secure-smart-city/platform/lambdas/command/api"
	"github.com/secure-smart-city/platform/lambdas/telemetry/pipeline"
	"github.com/secure-smart-city/platform/topics"
)

// wait bounds each wait on the city; generous because two shared cores run it all.
const wait = 60 * time.Second

// idleThing is registered (certificate, ACL, registry) but not simulated: the test plays it.
// It is not in the fleet file, like a thing provisioned at run time.
var idleThing = local.Thing{Name: "sl-harbour-950", Class: "street_light", District: "harbour"}

func moduleRoot(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test file")
	}
	root, err := local.ModuleRoot(filepath.Dir(file))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// requireTools skips (or, under make test, fails) when mosquitto or the npm emulators are
// missing.
func requireTools(t *testing.T, root string) {
	t.Helper()
	mqtttest.Binary(t)
	for _, name := range []string{"dynalite", "s3rver"} {
		if _, err := os.Stat(filepath.Join(root, "node_modules", ".bin", name)); err != nil {
			msg := fmt.Sprintf("%s not installed (%v): run `make node-deps`", name, err)
			if os.Getenv("SMARTCITY_REQUIRE_EMULATORS") == "1" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
}

// startCity runs a small city for one test and stops every process it started when the test
// ends.
func startCity(t *testing.T, devices int, quarantine []string, operators []control.Operator) *local.City {
	t.Helper()
	root := moduleRoot(t)
	requireTools(t, root)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var progress strings.Builder
	c, err := local.Start(ctx, local.Config{
		Root: root, StateDir: t.TempDir(), Devices: devices, Rate: 1, Addr: "127.0.0.1:0",
		Idle: []local.Thing{idleThing}, Quarantine: quarantine, Operators: operators, Progress: &progress,
		Logger: testLogger(),
	})
	if err != nil {
		t.Fatalf("start the city: %v\n%s", err, progress.String())
	}
	t.Cleanup(c.Close)
	if !strings.Contains(progress.String(), "[8/8] Control Center on https://localhost:") {
		t.Errorf("progress does not end with the Control Center's URL:\n%s", progress.String())
	}
	return c
}

func testOperator(t *testing.T) (control.Operator, string) {
	t.Helper()
	op, pw, err := control.GenerateOperator("alice", control.RoleOperator)
	if err != nil {
		t.Fatal(err)
	}
	return op, pw
}

// eventually polls check until it returns true or wait passes.
func eventually(t *testing.T, what string, check func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(wait)
	var last error
	for time.Now().Before(deadline) {
		ok, err := check()
		if ok {
			return
		}
		last = err
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("no %s within %v (last error: %v)", what, wait, last)
}

func stateItem(ctx context.Context, c *local.City, thing string) (map[string]any, error) {
	out, err := c.Stores.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(local.StateTable), ConsistentRead: aws.Bool(true),
		Key: map[string]ddbtypes.AttributeValue{
			pipeline.AttrPK: &ddbtypes.AttributeValueMemberS{Value: thing},
			pipeline.AttrSK: &ddbtypes.AttributeValueMemberS{Value: "state"},
		},
	})
	if err != nil || len(out.Item) == 0 {
		return nil, err
	}
	var m map[string]any
	err = attributevalue.UnmarshalMap(out.Item, &m)
	return m, err
}

// archiveLines reads every gzip NDJSON object under prefix.
func archiveLines(ctx context.Context, c *local.City, prefix string) ([]map[string]any, error) {
	list, err := c.Stores.S3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(local.ArchiveBucket), Prefix: aws.String(prefix)})
	if err != nil {
		return nil, err
	}
	var lines []map[string]any
	for _, o := range list.Contents {
		get, err := c.Stores.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(local.ArchiveBucket), Key: o.Key})
		if err != nil {
			return nil, err
		}
		zr, err := gzip.NewReader(get.Body)
		if err != nil {
			_ = get.Body.Close()
			return nil, fmt.Errorf("%s is not gzip: %w", *o.Key, err)
		}
		sc := bufio.NewScanner(zr)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				_ = get.Body.Close()
				return nil, fmt.Errorf("%s: %w", *o.Key, err)
			}
			lines = append(lines, m)
		}
		_ = get.Body.Close()
	}
	return lines, nil
}

// TestCityEndToEnd runs the local city and follows three paths on loopback: a device's
// message through the broker, the rule bridge and the real processor into dynalite and
// s3rver; a command from the HTTPS command API through the real handler to the device and
// back through its telemetry to the state the API reads; a bad message into rejected/ with
// its reason.
func TestCityEndToEnd(t *testing.T) {
	op, _ := testOperator(t)
	// Simulate(6) makes one device per class in old_town; the camera is quarantined.
	const quarantined = "cam-old-town-001"
	c := startCity(t, 6, []string{quarantined}, []control.Operator{op})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	// The first simulated street light; Simulate puts it first.
	light := c.Registry.Things()[0]
	if light.Class != "street_light" {
		t.Fatalf("first thing %+v is not a street light", light)
	}

	t.Run("telemetry to state and archive", func(t *testing.T) {
		eventually(t, "state item for "+light.Name, func() (bool, error) {
			m, err := stateItem(ctx, c, light.Name)
			return m != nil && m["class"] == "street_light" && m["obj"] != nil, err
		})
		m, _ := stateItem(ctx, c, light.Name)
		if _, ok := m["brightness"]; !ok {
			t.Errorf("state of %s has no brightness: %v", light.Name, m)
		}
		eventually(t, "archived line for "+light.Name, func() (bool, error) {
			lines, err := archiveLines(ctx, c, "accepted/class=street_light/")
			for _, l := range lines {
				if l["thing"] == light.Name && l["msgId"] != nil {
					return true, nil
				}
			}
			return false, err
		})
	})

	t.Run("command to device and back to state", func(t *testing.T) {
		// As the Control Center calls it: the signed-in operator acts as its fleet operator
		// role, which the real handler authorizes by the fleet file's scopes.
		tlsCfg, err := c.ClientTLS(local.ControlCenterClient)
		if err != nil {
			t.Fatal(err)
		}
		client := &local.CommandClient{BaseURL: c.CommandURL, HTTP: &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsCfg}}}
		before, err := client.State(ctx, "alice", light.Name)
		if err != nil || before.Status != 200 {
			t.Fatalf("GET state: %+v, %v", before, err)
		}
		st, _ := before.Body["state"].(map[string]any)
		want := st["on"] != true
		sentAt := time.Now()
		reply, err := client.Send(ctx, "alice", light.Name, "set-light", map[string]any{"on": want})
		if err != nil || reply.Status != 202 || reply.Body["status"] != api.OutcomeAccepted {
			t.Fatalf("set-light: %+v, %v", reply, err)
		}
		eventually(t, fmt.Sprintf("state on=%v from %s after the command", want, light.Name), func() (bool, error) {
			r, err := client.State(ctx, "alice", light.Name)
			st, _ := r.Body["state"].(map[string]any)
			at, _ := st["receivedAt"].(float64)
			return st["on"] == want && int64(at) > sentAt.UnixMilli(), err
		})
		// The handler audited it, intent before delivery and outcome after, with the
		// operator's role session as the caller.
		out, err := c.Stores.DB.Query(ctx, &dynamodb.QueryInput{
			TableName: aws.String(local.AuditTable), KeyConditionExpression: aws.String("#t = :t"),
			ExpressionAttributeNames:  map[string]string{"#t": api.AuditPartitionKey},
			ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":t": &ddbtypes.AttributeValueMemberS{Value: light.Name}},
		})
		if err != nil || len(out.Items) != 2 {
			t.Fatalf("audit items of %s: %d, %v", light.Name, len(out.Items), err)
		}
		wantCaller := "arn:aws:sts::" + local.LocalAccount + ":assumed-role/" + local.DefaultFleetRole(c.Fleet) + "/alice"
		kinds := map[string]bool{}
		for _, item := range out.Items {
			var rec map[string]any
			_ = attributevalue.UnmarshalMap(item, &rec)
			kinds[fmt.Sprint(rec["kind"])] = true
			if rec["callerArn"] != wantCaller || rec["command"] != "set-light" {
				t.Errorf("audit record %v, want caller %s", rec, wantCaller)
			}
			if rec["kind"] == api.KindOutcome && rec["outcome"] != api.OutcomeAccepted {
				t.Errorf("outcome record %v", rec)
			}
		}
		if !kinds[api.KindIntent] || !kinds[api.KindOutcome] {
			t.Errorf("audit kinds %v, want an intent and an outcome", kinds)
		}
		// An invalid command is refused by the real handler's validation, and audited.
		bad, err := client.Send(ctx, "alice", light.Name, "set-light", map[string]any{"on": "yes"})
		if err != nil || bad.Status != 400 {
			t.Errorf("set-light with a string: %+v, %v", bad, err)
		}
		// A caller that is no operator role's session is refused, as in AWS.
		otherTLS, err := c.ClientTLS("e2e.other")
		if err != nil {
			t.Fatal(err)
		}
		other := &local.CommandClient{BaseURL: c.CommandURL, HTTP: &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{TLSClientConfig: otherTLS}}}
		if r, err := other.Send(ctx, "", light.Name, "set-light", map[string]any{"on": want}); err != nil || r.Status != 403 {
			t.Errorf("set-light from a certificate that is no operator: %+v, %v; want 403", r, err)
		}
	})

	t.Run("command API refuses a client without a certificate", func(t *testing.T) {
		// Trusts the local CA, offers no client certificate.
		noCert := &tls.Config{RootCAs: c.PKI.Pool(), MinVersion: tls.VersionTLS12}
		anon := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: noCert}}
		resp, err := anon.Get(c.CommandURL + "/devices/" + light.Name)
		if err == nil {
			_ = resp.Body.Close()
			t.Fatalf("GET without a client certificate answered %d", resp.StatusCode)
		}
	})

	t.Run("bad message to rejected with its reason", func(t *testing.T) {
		publishBad(ctx, t, c)
		prefix := "rejected/reason=" + string(pipeline.ReasonWrongType) + "/"
		eventually(t, "rejected line for "+idleThing.Name+" under "+prefix, func() (bool, error) {
			lines, err := archiveLines(ctx, c, prefix)
			for _, l := range lines {
				if l["thing"] == idleThing.Name && l["reason"] == string(pipeline.ReasonWrongType) && l["detail"] != "" {
					return true, nil
				}
			}
			return false, err
		})
		if m, _ := stateItem(ctx, c, idleThing.Name); m != nil {
			t.Errorf("a rejected message made a state item: %v", m)
		}
		snap := c.Stats.Snapshot()
		if snap.RejectedByReason[string(pipeline.ReasonWrongType)] < 1 {
			t.Errorf("rejected counts %v have no %s", snap.RejectedByReason, pipeline.ReasonWrongType)
		}
	})

	t.Run("a quarantined device cannot connect", func(t *testing.T) {
		if got := c.Registry.Quarantined(); len(got) != 1 || got[0] != quarantined {
			t.Fatalf("quarantine group %v", got)
		}
		tlsCfg, err := c.ClientTLS(quarantined)
		if err != nil {
			t.Fatal(err)
		}
		dev, err := sim.Dial(ctx, sim.DialOptions{Addr: c.BrokerAddr(), TLS: tlsCfg, ClientID: quarantined, Timeout: 10 * time.Second})
		if err == nil {
			_ = dev.Disconnect(&paho.Disconnect{})
			t.Fatalf("%s connected with its revoked certificate", quarantined)
		}
		if m, _ := stateItem(ctx, c, quarantined); m != nil {
			t.Errorf("quarantined %s has state %v", quarantined, m)
		}
	})

	t.Run("a device cannot publish as another", func(t *testing.T) {
		tlsCfg, err := c.ClientTLS(idleThing.Name)
		if err != nil {
			t.Fatal(err)
		}
		dev, err := sim.Dial(ctx, sim.DialOptions{Addr: c.BrokerAddr(), TLS: tlsCfg, ClientID: idleThing.Name, Timeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = dev.Disconnect(&paho.Disconnect{}) }()
		// The light's own topic, from the idle thing's certificate.
		topic := topics.Telemetry(topics.RuleName(c.Prefix, light.Class), light.District, light.Name)
		payload := fmt.Sprintf(`{"msgId":"forged-1","ts":%d,"on":true,"brightness":1}`, time.Now().UnixMilli())
		err = sim.Publish(ctx, dev, topic, []byte(payload), 10*time.Second)
		// mosquitto may refuse with a PUBACK reason or drop silently; either way nothing arrives.
		time.Sleep(2 * time.Second)
		lines, _ := archiveLines(ctx, c, "accepted/class=street_light/")
		for _, l := range lines {
			if l["msgId"] == "forged-1" {
				t.Fatalf("a message forged by %s for %s was stored (publish error: %v)", idleThing.Name, light.Name, err)
			}
		}
	})
}

// testLogger discards the components' logs unless SMARTCITY_CITY_LOG=1.
func testLogger() *slog.Logger {
	if os.Getenv("SMARTCITY_CITY_LOG") == "1" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// publishBad publishes, as idleThing, a street light message whose "on" is a string.
func publishBad(ctx context.Context, t *testing.T, c *local.City) {
	t.Helper()
	tlsCfg, err := c.ClientTLS(idleThing.Name)
	if err != nil {
		t.Fatal(err)
	}
	dev, err := sim.Dial(ctx, sim.DialOptions{Addr: c.BrokerAddr(), TLS: tlsCfg, ClientID: idleThing.Name, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = dev.Disconnect(&paho.Disconnect{}) }()
	topic := topics.Telemetry(topics.RuleName(c.Prefix, idleThing.Class), idleThing.District, idleThing.Name)
	payload := fmt.Sprintf(`{"msgId":"bad-%d","ts":%d,"on":"yes","brightness":50}`, time.Now().UnixNano(), time.Now().UnixMilli())
	if err := sim.Publish(ctx, dev, topic, []byte(payload), 10*time.Second); err != nil {
		t.Fatal(err)
	}
}
