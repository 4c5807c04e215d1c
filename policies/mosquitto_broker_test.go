package policies

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/secure-smart-city/platform/topics"
)

// startMosquitto runs a loopback broker with the given ACL and returns its address. Clients
// authenticate by username only (allow_anonymous keeps the username), standing in for the
// certificate CN that use_identity_as_username gives in the simulator's TLS setup.
func startMosquitto(t *testing.T, acl string) string {
	t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		if _, statErr := os.Stat("/usr/sbin/mosquitto"); statErr != nil {
			t.Skip("mosquitto not installed")
		}
		bin = "/usr/sbin/mosquitto"
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()

	dir := t.TempDir()
	aclPath := filepath.Join(dir, "acl")
	if err := os.WriteFile(aclPath, []byte(acl), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\nacl_file %s\npersistence false\n", port, aclPath)
	if os.Geteuid() == 0 {
		// Run as root, mosquitto would switch to the mosquitto user, who cannot read TempDir.
		conf += "user root\n"
	}
	confPath := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", confPath)
	out, err := os.Create(filepath.Join(dir, "mosquitto.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		out.Close()
	})
	// Readiness, not speed: wait for the listener, give up after a generous bound.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(out.Name())
			t.Fatalf("mosquitto did not start: %v\n%s", err, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type mqttClient struct {
	*paho.Client
	received chan string
}

func connect(t *testing.T, addr, thing string) mqttClient {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	received := make(chan string, 16)
	c := paho.NewClient(paho.ClientConfig{
		ClientID: thing,
		Conn:     conn,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(p paho.PublishReceived) (bool, error) {
			received <- p.Packet.Topic + " " + string(p.Packet.Payload)
			return true, nil
		}},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Connect(ctx, &paho.Connect{ClientID: thing, KeepAlive: 30, CleanStart: true, UsernameFlag: true, Username: thing}); err != nil {
		t.Fatalf("connect %s: %v", thing, err)
	}
	t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
	return mqttClient{c, received}
}

func (c mqttClient) subscribe(filter string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: 1}}})
	return err
}

func (c mqttClient) publish(t *testing.T, topic, payload string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// A denied publish may still be acknowledged (mosquitto drops it silently for some
	// protocol versions), so the tests judge by what subscribers receive.
	_, _ = c.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: []byte(payload)})
}

func (c mqttClient) next(t *testing.T) string {
	t.Helper()
	select {
	case m := <-c.received:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message")
		return ""
	}
}

// TestMosquittoACLOnBroker loads the device ACL into a real broker: a device may publish on
// and receive from its own topics only.
func TestMosquittoACLOnBroker(t *testing.T) {
	acl, err := MosquittoACL(Device(streetLight, "smartcity_dev_street_light"))
	if err != nil {
		t.Fatal(err)
	}
	addr := startMosquitto(t, acl)
	a := connect(t, addr, "sl-a")
	b := connect(t, addr, "sl-b")

	for _, f := range []string{topics.Command("sl-a"), topics.ShadowPrefix("sl-a") + "#", topics.JobsPrefix("sl-a") + "#"} {
		if err := a.subscribe(f); err != nil {
			t.Errorf("sl-a may not subscribe to its own %s: %v", f, err)
		}
	}
	// mosquitto 2.0 grants these subscriptions and withholds the messages on delivery (read
	// access); newer versions refuse them. Either way sl-a must never receive sl-b's traffic.
	for _, f := range []string{topics.Command("+"), topics.ShadowPrefix("sl-b") + "#", "$aws/things/#"} {
		_ = a.subscribe(f)
	}
	if err := b.subscribe(topics.ShadowPrefix("sl-b") + "#"); err != nil {
		t.Fatal(err)
	}

	// Each publish is acknowledged before the next is sent and the broker handles one packet
	// at a time, so a message that should not have been delivered would arrive first.
	a.publish(t, topics.ShadowUpdate("sl-b"), "from-a") // write denied
	b.publish(t, topics.ShadowUpdate("sl-b"), "from-b") // write allowed; read denied to sl-a
	if got, want := b.next(t), topics.ShadowUpdate("sl-b")+" from-b"; got != want {
		t.Errorf("sl-b received %q first, want %q", got, want)
	}
	a.publish(t, topics.ShadowUpdate("sl-a"), "own")
	if got, want := a.next(t), topics.ShadowUpdate("sl-a")+" own"; got != want {
		t.Errorf("sl-a received %q first, want %q", got, want)
	}
}
