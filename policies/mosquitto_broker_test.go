package policies

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"

	"github.com/secure-smart-city/platform/fleetspec"
	"github.com/secure-smart-city/platform/internal/mqtttest"
	"github.com/secure-smart-city/platform/topics"
)

// brokerWait bounds every wait on the broker; generous because the machine's cores are shared.
const brokerWait = 10 * time.Second

// cloudACL gives the test's "cloud" client (certificate CN "cloud") what the platform's side
// has: it reads Basic Ingest and shadow topics and publishes commands. "$" topics never match
// a filter that starts with a wildcard, so the "$aws/..." lines are explicit.
const cloudACL = `
user cloud
topic read $aws/rules/#
topic readwrite $aws/things/#
topic write city/things/+/commands
`

type mqttClient struct {
	*paho.Client
	received chan string
}

// connectTLS connects over mutual TLS with a certificate whose CN is cn, as client id cn.
func connectTLS(t *testing.T, b *mqtttest.Broker, ca *mqtttest.CA, kp mqtttest.KeyPair, cn string) mqttClient {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(kp.CertFile, kp.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	ctx, cancel := context.WithTimeout(context.Background(), brokerWait)
	defer cancel()
	dialer := &tls.Dialer{Config: &tls.Config{
		Certificates: []tls.Certificate{cert}, RootCAs: roots, ServerName: b.Host, MinVersion: tls.VersionTLS12,
	}}
	conn, err := dialer.DialContext(ctx, "tcp", b.Addr)
	if err != nil {
		t.Fatalf("dial %s as %s: %v", b.Addr, cn, err)
	}
	received := make(chan string, 64)
	c := paho.NewClient(paho.ClientConfig{
		ClientID: cn,
		Conn:     packets.NewThreadSafeConn(conn),
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(p paho.PublishReceived) (bool, error) {
			received <- p.Packet.Topic + " " + string(p.Packet.Payload)
			return true, nil
		}},
	})
	if _, err := c.Connect(ctx, &paho.Connect{ClientID: cn, KeepAlive: 30, CleanStart: true}); err != nil {
		t.Fatalf("connect %s: %v", cn, err)
	}
	t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
	return mqttClient{c, received}
}

func (c mqttClient) subscribe(t *testing.T, filter string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), brokerWait)
	defer cancel()
	ack, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: 1}}})
	if err != nil || len(ack.Reasons) != 1 || ack.Reasons[0] >= 0x80 {
		t.Fatalf("subscribe %s: %v %v", filter, ack, err)
	}
}

// publish sends at QoS 1 and returns the PUBACK's reason code (0x87 is "not authorized").
func (c mqttClient) publish(t *testing.T, topic, payload string) byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), brokerWait)
	defer cancel()
	resp, err := c.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: []byte(payload)})
	if resp != nil {
		return resp.ReasonCode
	}
	if err != nil {
		t.Fatalf("publish %s: %v", topic, err)
	}
	return 0
}

// until returns the messages received up to and including the first whose "topic payload"
// is want, failing the test if it does not come within brokerWait.
func (c mqttClient) until(t *testing.T, want string) []string {
	t.Helper()
	deadline := time.After(brokerWait)
	var seen []string
	for {
		select {
		case m := <-c.received:
			seen = append(seen, m)
			if m == want {
				return seen
			}
		case <-deadline:
			t.Fatalf("no %q within %v; received %q", want, brokerWait, seen)
			return nil
		}
	}
}

// cityRegistry is the registry a local city would have: the fleet file's declared things.
func cityRegistry(t *testing.T, fl *fleetspec.Fleet, prefix string) Registry {
	t.Helper()
	var reg Registry
	for _, th := range fl.Things {
		reg = append(reg, CityThing(th.Name, topics.RuleName(prefix, th.Class), th.District))
	}
	return reg
}

// TestMosquittoACLOnBroker runs a real mosquitto (mutual TLS, certificate CN as user name) with
// the ACL generated from every class's device policy and a registry. A thing absent from
// config/fleet.dev.json, provisioned at run time (added to the registry), publishes its
// telemetry and receives its command; it is refused publishing as another thing, to another
// class's rule and under another district, and none of those messages arrive.
func TestMosquittoACLOnBroker(t *testing.T) {
	fl, err := fleetspec.Load("../config/fleet.dev.json")
	if err != nil {
		t.Fatal(err)
	}
	prefix := fl.RulePrefix("dev")
	const newThing, district = "sl-harbour-901", "harbour"
	if _, declared := fl.Thing(newThing); declared {
		t.Fatalf("%s is declared in %s; the test needs a thing provisioned at run time", newThing, fl.Path)
	}
	if _, ok := fl.District(district); !ok {
		t.Fatalf("no district %s in %s", district, fl.Path)
	}
	slRule := topics.RuleName(prefix, "street_light")
	var docs []Document
	var otherRule string
	for _, c := range fl.Classes {
		docs = append(docs, Device(c))
		if c.ID != "street_light" {
			otherRule = topics.RuleName(prefix, c.ID)
		}
	}
	var declared fleetspec.Thing
	for _, th := range fl.Things {
		if th.District != district {
			declared = th
			break
		}
	}
	if declared.Name == "" || otherRule == "" {
		t.Fatalf("%s needs another class and a thing outside %s", fl.Path, district)
	}

	reg := append(cityRegistry(t, fl, prefix), CityThing(newThing, slRule, district))
	acl, err := MosquittoACL(reg, docs...)
	if err != nil {
		t.Fatal(err)
	}
	// The run-time thing's telemetry grant is its own user section, expanded from its type and
	// district; nothing else names it.
	if !strings.Contains(acl, "user "+newThing+"\ntopic write "+topics.Telemetry(slRule, district, newThing)+"\n") {
		t.Fatalf("ACL has no telemetry section for %s:\n%s", newThing, acl)
	}
	ca := mqtttest.NewCA(t, "city-ca")
	b := mqtttest.StartBroker(t, mqtttest.Options{CA: ca, ACL: acl + cloudACL})

	cloud := connectTLS(t, b, ca, ca.IssueClient(t, "cloud"), "cloud")
	cloud.subscribe(t, "$aws/rules/#")
	device := connectTLS(t, b, ca, ca.IssueClient(t, newThing), newThing)
	device.subscribe(t, topics.Command(newThing))

	own := topics.Telemetry(slRule, district, newThing)
	if rc := device.publish(t, own, "first"); rc != 0 {
		t.Fatalf("own telemetry refused with 0x%02x", rc)
	}
	cloud.until(t, own+" first")

	cloud.publish(t, topics.Command(newThing), `{"name":"reboot"}`)
	device.until(t, topics.Command(newThing)+` {"name":"reboot"}`)

	refused := map[string]string{
		"as another thing (its topic)":            topics.Telemetry(topics.RuleName(prefix, declared.Class), declared.District, declared.Name),
		"as another thing (own district)":         topics.Telemetry(slRule, district, declared.Name),
		"to another class's rule":                 topics.Telemetry(otherRule, district, newThing),
		"under another district":                  topics.Telemetry(slRule, declared.District, newThing),
		"without the district level":              "$aws/rules/" + slRule + "/things/" + newThing + "/telemetry",
		"as a thing of the same name in a prefix": topics.Telemetry(slRule, district, newThing+"x"),
	}
	for name, topic := range refused {
		if rc := device.publish(t, topic, "forged"); rc != 0x87 {
			t.Errorf("publish %s (%s): reason 0x%02x, want 0x87 not authorized", name, topic, rc)
		}
	}
	// Each publish is acknowledged before the next, and the broker handles one packet at a
	// time: a forged message that had been delivered would arrive before the marker.
	if rc := device.publish(t, own, "marker"); rc != 0 {
		t.Fatalf("own telemetry refused with 0x%02x", rc)
	}
	for _, m := range cloud.until(t, own+" marker") {
		if strings.HasSuffix(m, " forged") {
			t.Errorf("the cloud received a refused message: %s", m)
		}
	}

	// A declared thing of the same registry still publishes its own telemetry: the expansion
	// serves every registered thing, declared or not.
	dt := connectTLS(t, b, ca, ca.IssueClient(t, declared.Name), declared.Name)
	dtTopic := topics.Telemetry(topics.RuleName(prefix, declared.Class), declared.District, declared.Name)
	if rc := dt.publish(t, dtTopic, "declared"); rc != 0 {
		t.Fatalf("%s's own telemetry refused with 0x%02x", declared.Name, rc)
	}
	cloud.until(t, dtTopic+" declared")
}

// TestMosquittoACLQuarantineOnBroker: with the quarantine policy among the documents the
// broker refuses even the device's own telemetry.
func TestMosquittoACLQuarantineOnBroker(t *testing.T) {
	rule := topics.RuleName("smartcity_dev", streetLight.ID)
	acl, err := MosquittoACL(Registry{CityThing("sl-a", rule, "harbour")}, Device(streetLight), Quarantine())
	if err != nil {
		t.Fatal(err)
	}
	ca := mqtttest.NewCA(t, "city-ca")
	b := mqtttest.StartBroker(t, mqtttest.Options{CA: ca, ACL: acl})
	a := connectTLS(t, b, ca, ca.IssueClient(t, "sl-a"), "sl-a")
	if rc := a.publish(t, topics.Telemetry(rule, "harbour", "sl-a"), "x"); rc != 0x87 {
		t.Errorf("quarantined telemetry: reason 0x%02x, want 0x87", rc)
	}
}
