package sim

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/google/go-cmp/cmp"

	"github.com/secure-smart-city/platform/fleetspec"
	"github.com/secure-smart-city/platform/internal/mqtttest"
)

func ptr(f float64) *float64 { return &f }

// streetLight is the class the tests simulate; built in code so the tests need no fleet file.
var streetLight = fleetspec.DeviceClass{
	ID:   "street_light",
	Name: "Street light",
	Fields: []fleetspec.Field{
		{Name: "on", Type: fleetspec.TypeBoolean, Required: true},
		{Name: "brightness", Type: fleetspec.TypeInteger, Min: ptr(0), Max: ptr(100), Unit: "%"},
		{Name: "power_w", Type: fleetspec.TypeNumber, Min: ptr(0), Max: ptr(250), Unit: "W"},
		{Name: "ambient_lux", Type: fleetspec.TypeNumber, Min: ptr(0.5)},
		{Name: "fault", Type: fleetspec.TypeString, Enum: []string{"none", "lamp", "driver"}},
		{Name: "firmware", Type: fleetspec.TypeString, MaxLength: 5},
	},
	Commands: []fleetspec.Command{
		{Name: "set-light", Params: []fleetspec.Field{{Name: "on", Type: fleetspec.TypeBoolean, Required: true}}},
		{Name: "set-brightness", Params: []fleetspec.Field{{Name: "level", Type: fleetspec.TypeInteger, Required: true, Min: ptr(0), Max: ptr(100)}}},
	},
}

func quietLogger() *slog.Logger { return slog.New(slog.NewJSONHandler(io.Discard, nil)) }

func TestTLSConfig(t *testing.T) {
	ca := mqtttest.NewCA(t, "test-ca")
	dev := ca.IssueClient(t, "sl-001")
	cfg, err := TLSConfig(dev.CertFile, dev.KeyFile, ca.CertFile, "example.iot.eu-west-1.amazonaws.com", true)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MinVersion != tls.VersionTLS12 {
		t.Errorf("MinVersion = %x, want TLS 1.2", cfg.MinVersion)
	}
	want := x509.NewCertPool()
	want.AddCert(ca.Cert)
	if !cfg.RootCAs.Equal(want) {
		t.Error("RootCAs is not exactly the CA file's certificate")
	}
	if diff := cmp.Diff([]string{"x-amzn-mqtt-ca"}, cfg.NextProtos); diff != "" {
		t.Errorf("NextProtos (-want +got):\n%s", diff)
	}
	if cfg.ServerName != "example.iot.eu-west-1.amazonaws.com" || len(cfg.Certificates) != 1 || cfg.InsecureSkipVerify {
		t.Errorf("config = %+v", cfg)
	}
	noALPN, err := TLSConfig(dev.CertFile, dev.KeyFile, ca.CertFile, "h", false)
	if err != nil {
		t.Fatal(err)
	}
	if len(noALPN.NextProtos) != 0 {
		t.Errorf("NextProtos without ALPN = %v", noALPN.NextProtos)
	}
}

func TestTLSConfigErrors(t *testing.T) {
	ca := mqtttest.NewCA(t, "test-ca")
	dev := ca.IssueClient(t, "sl-001")
	other := ca.IssueClient(t, "sl-002")
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	cases := []struct {
		name              string
		cert, key, caFile string
		wantIn            []string
		wantNotExist      bool
	}{
		{"missing certificate", missing, dev.KeyFile, ca.CertFile, []string{"certificate file", missing}, true},
		{"certificate not PEM", notPEM, dev.KeyFile, ca.CertFile, []string{"certificate file " + notPEM, "no PEM certificate"}, false},
		{"key is a certificate", dev.CertFile, dev.CertFile, ca.CertFile, []string{"key file " + dev.CertFile, "no PEM private key"}, false},
		{"missing key", dev.CertFile, missing, ca.CertFile, []string{"key file", missing}, true},
		{"key not PEM", dev.CertFile, notPEM, ca.CertFile, []string{"key file " + notPEM, "no PEM private key"}, false},
		{"key of another certificate", dev.CertFile, other.KeyFile, ca.CertFile, []string{"key file " + other.KeyFile, "does not match certificate file " + dev.CertFile}, false},
		{"missing CA", dev.CertFile, dev.KeyFile, missing, []string{"CA file", missing}, true},
		{"CA not PEM", dev.CertFile, dev.KeyFile, notPEM, []string{"CA file " + notPEM, "no PEM certificate"}, false},
		{"no CA", dev.CertFile, dev.KeyFile, "", []string{"no CA file"}, false},
		{"no certificate", "", dev.KeyFile, ca.CertFile, []string{"no device certificate"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := TLSConfig(c.cert, c.key, c.caFile, "h", false)
			if err == nil {
				t.Fatal("no error")
			}
			for _, s := range c.wantIn {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
			if c.wantNotExist && !errors.Is(err, os.ErrNotExist) {
				t.Errorf("error %q does not wrap os.ErrNotExist", err)
			}
		})
	}
}

func TestGeneratorStaysInBounds(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_123)
	g := NewGenerator(streetLight, mrand.New(mrand.NewPCG(1, 2)), func() time.Time { return now })
	ids := map[string]bool{}
	for i := range 2000 {
		msg := g.Next(nil)
		id, _ := msg[KeyMsgID].(string)
		if id == "" || ids[id] {
			t.Fatalf("message %d: msgId %q empty or repeated", i, id)
		}
		ids[id] = true
		if msg[KeyTS] != now.UnixMilli() {
			t.Fatalf("ts = %v, want %d", msg[KeyTS], now.UnixMilli())
		}
		if len(msg) != len(streetLight.Fields)+2 {
			t.Fatalf("message has %d keys, want %d: %v", len(msg), len(streetLight.Fields)+2, msg)
		}
		checkMessage(t, streetLight, msg)
	}
}

// checkMessage fails the test if a field's value is of the wrong type or out of bounds.
func checkMessage(t *testing.T, class fleetspec.DeviceClass, msg map[string]any) {
	t.Helper()
	for _, f := range class.Fields {
		v, ok := msg[f.Name]
		if !ok {
			t.Fatalf("field %s missing from %v", f.Name, msg)
		}
		switch f.Type {
		case fleetspec.TypeBoolean:
			if _, ok := v.(bool); !ok {
				t.Fatalf("%s = %v (%T), want a boolean", f.Name, v, v)
			}
		case fleetspec.TypeString:
			s, ok := v.(string)
			if !ok || s == "" || (f.MaxLength > 0 && len(s) > f.MaxLength) || (len(f.Enum) > 0 && !slices.Contains(f.Enum, s)) {
				t.Fatalf("%s = %v (%T), not a string within %+v", f.Name, v, v, f)
			}
		case fleetspec.TypeNumber, fleetspec.TypeInteger:
			var x float64
			switch n := v.(type) {
			case float64:
				x = n
			case int64:
				x = float64(n)
			case json.Number:
				x, _ = n.Float64()
			default:
				t.Fatalf("%s = %v (%T), want a number", f.Name, v, v)
			}
			if f.Type == fleetspec.TypeInteger && x != float64(int64(x)) {
				t.Fatalf("%s = %v, want an integer", f.Name, v)
			}
			lo, hi := bounds(f)
			if x < lo || x > hi {
				t.Fatalf("%s = %v outside [%v, %v]", f.Name, x, lo, hi)
			}
		}
	}
}

func TestGeneratorOverlaysState(t *testing.T) {
	g := NewGenerator(streetLight, nil, nil)
	msg := g.Next(map[string]any{"on": true, "brightness": int64(40), "not_a_field": 1})
	if msg["on"] != true || msg["brightness"] != int64(40) {
		t.Errorf("state not applied: %v", msg)
	}
	if _, ok := msg["not_a_field"]; ok {
		t.Errorf("a state key that is no field leaked into telemetry: %v", msg)
	}
}

func TestNewDefaultsAndErrors(t *testing.T) {
	ca := mqtttest.NewCA(t, "test-ca")
	dev := ca.IssueClient(t, "sl-001")
	base := Config{
		Endpoint: "example.com", Thing: "sl-001", Class: streetLight, District: "old_town", RulePrefix: "smartcity_dev",
		CertFile: dev.CertFile, KeyFile: dev.KeyFile, CAFile: ca.CertFile, Logger: quietLogger(),
	}
	d, err := New(base)
	if err != nil {
		t.Fatal(err)
	}
	if d.addr != "example.com:8883" {
		t.Errorf("addr = %s, want port 8883", d.addr)
	}
	if got, want := d.TelemetryTopic(), "$aws/rules/smartcity_dev_street_light/districts/old_town/things/sl-001/telemetry"; got != want {
		t.Errorf("telemetry topic = %s, want %s", got, want)
	}
	alpn := base
	alpn.ALPN = true
	if d, err := New(alpn); err != nil || d.addr != "example.com:443" {
		t.Errorf("with ALPN: addr = %v, err = %v; want port 443", d, err)
	}
	bad := []struct {
		name   string
		mutate func(*Config)
		wantIn string
	}{
		{"no endpoint", func(c *Config) { c.Endpoint = "" }, "no endpoint"},
		{"no thing", func(c *Config) { c.Thing = "" }, "no thing"},
		{"wildcard thing", func(c *Config) { c.Thing = "sl-+" }, `thing name "sl-+"`},
		{"no district", func(c *Config) { c.District = "" }, "no district"},
		{"district with a level", func(c *Config) { c.District = "old_town/things/x" }, `district "old_town/things/x"`},
		{"no class", func(c *Config) { c.Class = fleetspec.DeviceClass{} }, "no device class"},
		{"no prefix", func(c *Config) { c.RulePrefix = "" }, "no topic rule prefix"},
		{"rate too high", func(c *Config) { c.Rate = 101 }, "rate 101"},
		{"negative rate", func(c *Config) { c.Rate = -1 }, "rate -1"},
		{"negative count", func(c *Config) { c.Count = -1 }, "count -1"},
		{"port", func(c *Config) { c.Port = 70000 }, "port 70000"},
		{"bad key", func(c *Config) { c.KeyFile = c.CertFile }, "key file"},
	}
	for _, b := range bad {
		cfg := base
		b.mutate(&cfg)
		if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), b.wantIn) {
			t.Errorf("%s: err = %v, want one containing %q", b.name, err, b.wantIn)
		}
	}
}

// deviceFor returns a device of streetLight for thing at addr with a certificate of ca.
func deviceFor(t *testing.T, ca *mqtttest.CA, addr, thing string, timeout time.Duration) *Device {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	kp := ca.IssueClient(t, thing)
	d, err := New(Config{
		Endpoint: host, Port: p, Thing: thing, Class: streetLight, District: "old_town", RulePrefix: "smartcity_dev",
		CertFile: kp.CertFile, KeyFile: kp.KeyFile, CAFile: ca.CertFile,
		Rate: 50, Timeout: timeout, Logger: quietLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestConnectUnreachable(t *testing.T) {
	ca := mqtttest.NewCA(t, "test-ca")

	// A listener that accepts TCP but never answers the TLS handshake, like a black-holed
	// endpoint behind a load balancer.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = silent.Close() }()
	held := make(chan net.Conn, 16)
	t.Cleanup(func() {
		close(held)
		for c := range held {
			_ = c.Close()
		}
	})
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			held <- c // left unanswered until the test ends
		}
	}()
	d := deviceFor(t, ca, silent.Addr().String(), "sl-001", 300*time.Millisecond)
	err = d.Connect(context.Background())
	if err == nil || !strings.Contains(err.Error(), "connect to "+silent.Addr().String()) || !strings.Contains(err.Error(), "no answer within 300ms") {
		t.Errorf("silent endpoint: err = %v", err)
	}

	// A port nobody listens on.
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := closed.Addr().String()
	_ = closed.Close()
	d = deviceFor(t, ca, addr, "sl-001", time.Second)
	err = d.Connect(context.Background())
	if err == nil || !strings.Contains(err.Error(), "connect to "+addr) {
		t.Errorf("closed port: err = %v", err)
	}
}

// scriptedBroker is a TLS listener that speaks just enough MQTT 5 to accept a connection and
// answer every SUBSCRIBE with the given SUBACK reason code. mosquitto's acl_file never refuses
// a subscription (it filters delivery instead), so this is how the device's handling of a
// refusal, which AWS IoT Core does send, is exercised.
func scriptedBroker(t *testing.T, ca *mqtttest.CA, subackReason byte) string {
	t.Helper()
	server := ca.IssueServer(t, "scripted")
	cert, err := tls.LoadX509KeyPair(server.CertFile, server.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer func() { _ = conn.Close() }()
				_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
				for {
					p, err := packets.ReadPacket(conn)
					if err != nil {
						return
					}
					switch c := p.Content.(type) {
					case *packets.Connect:
						ack := packets.NewControlPacket(packets.CONNACK)
						ack.Content.(*packets.Connack).ReasonCode = 0
						_, _ = ack.WriteTo(conn)
					case *packets.Subscribe:
						ack := packets.NewControlPacket(packets.SUBACK)
						sa := ack.Content.(*packets.Suback)
						sa.PacketID = c.PacketID
						for range c.Subscriptions {
							sa.Reasons = append(sa.Reasons, subackReason)
						}
						_, _ = ack.WriteTo(conn)
					case *packets.Disconnect:
						return
					}
				}
			}()
		}
	}()
	return l.Addr().String()
}

func TestConnectSubscriptionRefused(t *testing.T) {
	ca := mqtttest.NewCA(t, "test-ca")
	addr := scriptedBroker(t, ca, 0x87)
	d := deviceFor(t, ca, addr, "sl-002", 5*time.Second)
	err := d.Connect(context.Background())
	want := "subscription to city/things/sl-002/commands refused: not authorized (0x87)"
	if err == nil || err.Error() != want {
		t.Errorf("err = %v, want %q", err, want)
	}
}

func TestReasonName(t *testing.T) {
	if got := reasonName(0x8F); got != "topic filter invalid (0x8f)" {
		t.Errorf("reasonName(0x8F) = %q", got)
	}
	if got := reasonName(0xF0); got != "reason code 0xf0" {
		t.Errorf("reasonName(0xF0) = %q", got)
	}
}
