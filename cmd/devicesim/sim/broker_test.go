package sim_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/secure-smart-city/platform/cmd/devicesim/sim"
	"github.com/secure-smart-city/platform/fleetspec"
	"github.com/secure-smart-city/platform/internal/mqtttest"
	"github.com/secure-smart-city/platform/lambdas/command/message"
	"github.com/secure-smart-city/platform/policies"
	"github.com/secure-smart-city/platform/topics"
)

// wait bounds every wait on the broker; generous because the machine's two cores are shared.
const wait = 10 * time.Second

const rulePrefix = "smartcity_dev"

func ptr(f float64) *float64 { return &f }

var streetLight = fleetspec.DeviceClass{
	ID: "street_light", Name: "Street light",
	Fields: []fleetspec.Field{
		{Name: "on", Type: fleetspec.TypeBoolean, Required: true},
		{Name: "brightness", Type: fleetspec.TypeInteger, Required: true, Min: ptr(0), Max: ptr(100)},
		{Name: "power_w", Type: fleetspec.TypeNumber, Min: ptr(0), Max: ptr(500)},
		{Name: "lamp_fault", Type: fleetspec.TypeBoolean},
	},
	Commands: []fleetspec.Command{
		{Name: "set-light", Params: []fleetspec.Field{{Name: "on", Type: fleetspec.TypeBoolean, Required: true}}},
		{Name: "set-brightness", Params: []fleetspec.Field{{Name: "level", Type: fleetspec.TypeInteger, Required: true, Min: ptr(0), Max: ptr(100)}}},
		{Name: "reboot"},
	},
}

// observerACL gives the test's observer, a client whose certificate CN is "observer", what the
// cloud side has: it reads telemetry and shadow updates and publishes commands and shadow
// deltas. Topics starting with "$" never match a filter that starts with a wildcard (MQTT 5
// 4.7.2, which mosquitto follows), so a "#" subscription would miss every Basic Ingest and
// shadow message: the observer subscribes to "$aws/rules/#" and "$aws/things/..." explicitly,
// and its ACL names "$aws/..." explicitly too.
const observerACL = `
user observer
topic read $aws/rules/#
topic readwrite $aws/things/#
topic write city/things/+/commands
`

// inbox collects a client's incoming messages.
type inbox chan *paho.Publish

func (in inbox) add(p *paho.Publish) {
	select {
	case in <- p:
	default: // a full inbox drops; every wait below is for a message still to come
	}
}

// until returns the messages received up to and including the first that matches, failing
// the test if none does within wait.
func (in inbox) until(t *testing.T, what string, match func(*paho.Publish) bool) []*paho.Publish {
	t.Helper()
	deadline := time.After(wait)
	var seen []*paho.Publish
	for {
		select {
		case p := <-in:
			seen = append(seen, p)
			if match(p) {
				return seen
			}
		case <-deadline:
			t.Fatalf("no %s within %v", what, wait)
			return nil
		}
	}
}

func onTopic(topic string, match func(map[string]any) bool) func(*paho.Publish) bool {
	return func(p *paho.Publish) bool {
		if p.Topic != topic {
			return false
		}
		var m map[string]any
		if json.Unmarshal(p.Payload, &m) != nil {
			return false
		}
		return match == nil || match(m)
	}
}

func reported(m map[string]any) map[string]any {
	state, _ := m["state"].(map[string]any)
	r, _ := state["reported"].(map[string]any)
	return r
}

var airQuality = fleetspec.DeviceClass{
	ID: "air_quality", Name: "Air quality",
	Fields: []fleetspec.Field{{Name: "pm25", Type: fleetspec.TypeNumber, Required: true, Min: ptr(0), Max: ptr(1000)}},
}

// The simulated device is provisioned at run time: it is in no fleet file, only in the
// registry the test builds, as JITP or claim provisioning would register it.
const (
	runtimeThing    = "sl-harbour-901"
	runtimeDistrict = "harbour"
	// otherThing is another street light, registered in another district.
	otherThing    = "sl-old-town-902"
	otherDistrict = "old_town"
)

type broker struct {
	*mqtttest.Broker
	ca *mqtttest.CA
}

// startBroker runs mosquitto with the ACL generated from the street light device policy and
// a registry of two things (thing type and district attribute each), as the local city
// provides it.
func startBroker(t *testing.T) broker {
	t.Helper()
	fl, err := fleetspec.Load("../../../config/fleet.dev.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{runtimeThing, otherThing} {
		if _, declared := fl.Thing(name); declared {
			t.Fatalf("%s is declared in %s; the test needs things provisioned at run time", name, fl.Path)
		}
	}
	rule := topics.RuleName(rulePrefix, streetLight.ID)
	reg := policies.Registry{
		policies.CityThing(runtimeThing, rule, runtimeDistrict),
		policies.CityThing(otherThing, rule, otherDistrict),
	}
	acl, err := policies.MosquittoACL(reg, policies.Device(streetLight))
	if err != nil {
		t.Fatalf("derive the ACL from the device policy: %v", err)
	}
	ca := mqtttest.NewCA(t, "city-ca")
	b := mqtttest.StartBroker(t, mqtttest.Options{CA: ca, ACL: acl + observerACL})
	return broker{Broker: b, ca: ca}
}

func (b broker) tlsFor(t *testing.T, kp mqtttest.KeyPair) *tls.Config {
	t.Helper()
	cfg, err := sim.TLSConfig(kp.CertFile, kp.KeyFile, b.ca.CertFile, b.Host, false)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// client connects a plain MQTT client with the given identity.
func (b broker) client(t *testing.T, cfg *tls.Config, clientID string) (*paho.Client, inbox) {
	t.Helper()
	in := make(inbox, 4096)
	c, err := sim.Dial(context.Background(), sim.DialOptions{Addr: b.Addr, TLS: cfg, ClientID: clientID, Timeout: wait, OnPublish: in.add})
	if err != nil {
		t.Fatalf("connect %s: %v", clientID, err)
	}
	t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
	return c, in
}

func (b broker) device(t *testing.T, kp mqtttest.KeyPair, thing string, class fleetspec.DeviceClass, district string) *sim.Device {
	t.Helper()
	d, err := sim.New(sim.Config{
		Endpoint: b.Host, Port: b.Port, CertFile: kp.CertFile, KeyFile: kp.KeyFile, CAFile: b.ca.CertFile,
		Thing: thing, Class: class, District: district, RulePrefix: rulePrefix, Rate: 20, Timeout: wait,
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func sendCommand(t *testing.T, c *paho.Client, thing, id, name string, params map[string]any) {
	t.Helper()
	payload, err := json.Marshal(message.Command{ID: id, Name: name, Params: params, IssuedAt: time.Now().UnixMilli()})
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Publish(context.Background(), c, topics.Command(thing), payload, wait); err != nil {
		t.Fatalf("send %s to %s: %v", name, thing, err)
	}
}

// TestDeviceAgainstMosquitto runs the simulator against a real mosquitto whose ACL is derived
// from the device IoT policy and the registry, as a stand-in for AWS IoT Core's policy
// enforcement. Device A is a thing provisioned at run time (in no fleet file).
func TestDeviceAgainstMosquitto(t *testing.T) {
	b := startBroker(t)
	rule := topics.RuleName(rulePrefix, streetLight.ID)
	const a = runtimeThing
	certA := b.ca.IssueClient(t, a)

	observer, seen := b.client(t, b.tlsFor(t, b.ca.IssueClient(t, "observer")), "observer")
	for _, f := range []string{"$aws/rules/#", "$aws/things/+/shadow/update"} {
		if err := sim.Subscribe(context.Background(), observer, f, wait); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("run-time device publishes telemetry and applies commands", func(t *testing.T) {
		d := b.device(t, certA, a, streetLight, runtimeDistrict)
		if err := d.Connect(context.Background()); err != nil {
			t.Fatalf("connect: %v", err)
		}
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- d.Run(ctx) }()
		defer func() {
			stop()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("run after stop: %v", err)
				}
			case <-time.After(wait):
				t.Errorf("device did not stop within %v", wait)
			}
		}()

		telemetry := topics.Telemetry(rule, runtimeDistrict, a)
		shadow := topics.ShadowUpdate(a)
		got := seen.until(t, "telemetry from "+a, onTopic(telemetry, nil))
		var first map[string]any
		if err := json.Unmarshal(got[len(got)-1].Payload, &first); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"on", "brightness", "power_w", "lamp_fault", sim.KeyMsgID, sim.KeyTS} {
			if _, ok := first[k]; !ok {
				t.Errorf("telemetry %v lacks %q", first, k)
			}
		}
		if b, _ := first["brightness"].(float64); b < 0 || b > 100 {
			t.Errorf("brightness %v out of range", first["brightness"])
		}

		sendCommand(t, observer, a, "c1", "set-light", map[string]any{"on": true})
		seen.until(t, "shadow report on=true", onTopic(shadow, func(m map[string]any) bool { return reported(m)["on"] == true }))
		seen.until(t, "telemetry with on=true", onTopic(telemetry, func(m map[string]any) bool { return m["on"] == true }))

		sendCommand(t, observer, a, "c2", "set-brightness", map[string]any{"level": 40})
		seen.until(t, "shadow report brightness=40", onTopic(shadow, func(m map[string]any) bool { return reported(m)["brightness"] == 40.0 }))
		seen.until(t, "telemetry with brightness=40", onTopic(telemetry, func(m map[string]any) bool { return m["brightness"] == 40.0 }))

		// An invalid command is dropped: the next report still has brightness 40.
		sendCommand(t, observer, a, "c3", "set-brightness", map[string]any{"level": 500})
		sendCommand(t, observer, a, "c4", "set-light", map[string]any{"on": false})
		msgs := seen.until(t, "shadow report on=false", onTopic(shadow, func(m map[string]any) bool { return reported(m)["on"] == false }))
		last := map[string]any{}
		_ = json.Unmarshal(msgs[len(msgs)-1].Payload, &last)
		if r := reported(last); r["brightness"] != 40.0 {
			t.Errorf("after an invalid command the reported state is %v, want brightness 40", r)
		}

		// Desired state through the shadow's delta topic.
		if err := sim.Publish(context.Background(), observer, topics.ShadowDelta(a), []byte(`{"version": 7, "state": {"on": true}}`), wait); err != nil {
			t.Fatal(err)
		}
		seen.until(t, "shadow report after delta", onTopic(shadow, func(m map[string]any) bool { return reported(m)["on"] == true }))
	})

	t.Run("device cannot use another thing's topics", func(t *testing.T) {
		c, inA := b.client(t, b.tlsFor(t, certA), a)

		// mosquitto's acl_file grants every SUBSCRIBE and filters delivery instead (AWS IoT
		// Core refuses it in the SUBACK; see TestConnectSubscriptionRefused): accept either, and
		// assert what matters, that nothing published on the other thing's command topic
		// reaches A.
		if err := sim.Subscribe(context.Background(), c, topics.Command(otherThing), wait); err != nil && !strings.Contains(err.Error(), "subscription to "+topics.Command(otherThing)+" refused") {
			t.Errorf("subscribe to another thing's commands: %v", err)
		}
		if err := sim.Subscribe(context.Background(), c, topics.Command(a), wait); err != nil {
			t.Fatal(err)
		}
		sendCommand(t, observer, otherThing, "for-other", "reboot", nil)
		sendCommand(t, observer, a, "for-a", "reboot", nil)
		for _, p := range inA.until(t, "A's own command", func(p *paho.Publish) bool { return p.Topic == topics.Command(a) }) {
			if p.Topic == topics.Command(otherThing) {
				t.Errorf("A received the other thing's command: %s", p.Payload)
			}
		}

		// Each forged publish is refused at QoS 1 and never delivered.
		forged := map[string]string{
			"as another thing":        topics.Telemetry(rule, otherDistrict, otherThing),
			"as another thing in A's": topics.Telemetry(rule, runtimeDistrict, otherThing),
			"to another class's rule": topics.Telemetry(topics.RuleName(rulePrefix, airQuality.ID), runtimeDistrict, a),
			"under another district":  topics.Telemetry(rule, otherDistrict, a),
		}
		for name, topic := range forged {
			err := sim.Publish(context.Background(), c, topic, []byte(`{"msgId":"forged"}`), wait)
			if err == nil || !strings.Contains(err.Error(), "refused: not authorized (0x87)") {
				t.Errorf("publish %s (%s): err = %v, want a refusal", name, topic, err)
			}
		}
		if err := sim.Publish(context.Background(), c, topics.Telemetry(rule, runtimeDistrict, a), []byte(`{"msgId":"marker"}`), wait); err != nil {
			t.Fatal(err)
		}
		for _, p := range seen.until(t, "A's marker telemetry", func(p *paho.Publish) bool { return strings.Contains(string(p.Payload), "marker") }) {
			if strings.Contains(string(p.Payload), "forged") {
				t.Errorf("observer received forged telemetry on %s: %s", p.Topic, p.Payload)
			}
		}
	})

	// A's certificate with a configuration that is not its registry entry: the broker maps
	// the certificate to A's entry, so the telemetry is refused and Run stops with an error
	// naming the topic.
	misconfigured := []struct {
		name, thing, district string
		class                 fleetspec.DeviceClass
	}{
		{"as another thing", otherThing, otherDistrict, streetLight},
		{"in another district", a, otherDistrict, streetLight},
		{"as another class", a, runtimeDistrict, airQuality},
	}
	for _, m := range misconfigured {
		t.Run("device configured "+m.name+" fails clearly", func(t *testing.T) {
			d := b.device(t, certA, m.thing, m.class, m.district)
			if err := d.Connect(context.Background()); err != nil {
				t.Fatalf("connect: %v", err)
			}
			errc := make(chan error, 1)
			go func() { errc <- d.Run(context.Background()) }()
			select {
			case err := <-errc:
				want := "publish to " + topics.Telemetry(topics.RuleName(rulePrefix, m.class.ID), m.district, m.thing) + " refused: not authorized (0x87)"
				if err == nil || err.Error() != want {
					t.Errorf("run: %v, want %q", err, want)
				}
			case <-time.After(wait):
				t.Fatalf("run did not fail within %v", wait)
			}
		})
	}

	t.Run("client without a certificate cannot connect", func(t *testing.T) {
		roots := x509.NewCertPool()
		roots.AddCert(b.ca.Cert)
		cfg := &tls.Config{RootCAs: roots, ServerName: b.Host, MinVersion: tls.VersionTLS12}
		c, err := sim.Dial(context.Background(), sim.DialOptions{Addr: b.Addr, TLS: cfg, ClientID: a, Timeout: wait})
		if err == nil {
			_ = c.Disconnect(&paho.Disconnect{})
			t.Fatal("connected without a client certificate")
		}
		if !strings.Contains(err.Error(), b.Addr) {
			t.Errorf("error %q does not name the endpoint", err)
		}
	})

	t.Run("client with a certificate from another CA cannot connect", func(t *testing.T) {
		rogue := mqtttest.NewCA(t, "rogue-ca").IssueClient(t, a)
		c, err := sim.Dial(context.Background(), sim.DialOptions{Addr: b.Addr, TLS: b.tlsFor(t, rogue), ClientID: a, Timeout: wait})
		if err == nil {
			_ = c.Disconnect(&paho.Disconnect{})
			t.Fatal("connected with a certificate from another CA")
		}
		if !strings.Contains(err.Error(), b.Addr) {
			t.Errorf("error %q does not name the endpoint", err)
		}
	})
}
