package sim_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/secure-smart-city/platform/cmd/devicesim/sim"
	"github.com/secure-smart-city/platform/lambdas/command/message"
	"github.com/secure-smart-city/platform/topics"
)

func sendIssued(t *testing.T, c *paho.Client, thing string, cmd message.Command) {
	t.Helper()
	payload, err := json.Marshal(cmd)
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Publish(context.Background(), c, topics.Command(thing), payload, wait); err != nil {
		t.Fatalf("send %s: %v", cmd.ID, err)
	}
}

// TestDeviceRefusesReplayedAndStaleCommands plays a replayed command message (same command
// id, even with other parameters) and a stale one against the simulator over mosquitto:
// neither is applied, each is counted with its reason, and commands after them still are.
func TestDeviceRefusesReplayedAndStaleCommands(t *testing.T) {
	b := startBroker(t)
	const a = runtimeThing
	observer, seen := b.client(t, b.tlsFor(t, b.ca.IssueClient(t, "observer")), "observer")
	if err := sim.Subscribe(context.Background(), observer, "$aws/things/+/shadow/update", wait); err != nil {
		t.Fatal(err)
	}
	d := b.device(t, b.ca.IssueClient(t, a), a, streetLight, runtimeDistrict)
	if err := d.Connect(context.Background()); err != nil {
		t.Fatalf("connect: %v", err)
	}
	ctx, stop := context.WithCancel(context.Background())
	// Run's error after stop is the cancellation itself; only its return matters here.
	done := make(chan struct{})
	go func() { defer close(done); _ = d.Run(ctx) }()
	defer func() {
		stop()
		<-done
	}()
	shadow := topics.ShadowUpdate(a)
	now := time.Now().UnixMilli()

	sendIssued(t, observer, a, message.Command{ID: "c1", Name: "set-light", Params: map[string]any{"on": true}, IssuedAt: now})
	seen.until(t, "on=true", onTopic(shadow, func(m map[string]any) bool { return reported(m)["on"] == true }))

	// The replay of c1 with other params, and a command issued ten minutes ago.
	sendIssued(t, observer, a, message.Command{ID: "c1", Name: "set-light", Params: map[string]any{"on": false}, IssuedAt: now})
	sendIssued(t, observer, a, message.Command{ID: "c2", Name: "set-light", Params: map[string]any{"on": false}, IssuedAt: now - (10 * time.Minute).Milliseconds()})
	// A fresh command after them: once it is reported, the two before it were handled.
	sendIssued(t, observer, a, message.Command{ID: "c3", Name: "set-brightness", Params: map[string]any{"level": 70}, IssuedAt: time.Now().UnixMilli()})
	msgs := seen.until(t, "brightness=70", onTopic(shadow, func(m map[string]any) bool { return reported(m)["brightness"] == 70.0 }))
	for _, p := range msgs {
		var m map[string]any
		if json.Unmarshal(p.Payload, &m) == nil && reported(m)["on"] == false {
			t.Errorf("a refused command was applied: %s", p.Payload)
		}
	}
	if on := d.State()["on"]; on != true {
		t.Errorf("state on = %v after the replay and the stale command, want true", on)
	}
	st := d.CommandStats()
	if st.Applied != 2 || st.Refused[sim.RefusedDuplicate] != 1 || st.Refused[sim.RefusedStale] != 1 {
		t.Errorf("command stats %+v, want 2 applied, 1 duplicate, 1 stale", st)
	}
}
