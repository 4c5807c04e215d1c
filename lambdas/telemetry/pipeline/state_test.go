package pipeline

import (
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// TestSteadyStateOneWriteNoRead: devices sending once a minute cost one DynamoDB write per
// message and no read, batch after batch (the figure ./cmd/cost prices).
func TestSteadyStateOneWriteNoRead(t *testing.T) {
	e := newEnv(t)
	n := 0
	for minute := range 5 {
		var recs []events.KinesisEventRecord
		for d := range 50 {
			n++
			thing := fmt.Sprintf("sl-%03d", d)
			recs = append(recs, kinRec(n, thing, msgAt(thing, fmt.Sprint("m", n), baseTime.Add(time.Duration(minute)*time.Minute), `"on":true,"brightness":1`)))
		}
		if res := e.run(t, recs...); res.Accepted != 50 {
			t.Fatalf("minute %d: %+v", minute, res)
		}
	}
	if e.ddb.updates != n || e.ddb.refused != 0 || e.ddb.keysRead != 0 || e.s3.heads != 0 {
		t.Errorf("%d messages: %d UpdateItem calls (%d refused), %d keys read, %d HEADs; want one write per message, nothing else",
			n, e.ddb.updates, e.ddb.refused, e.ddb.keysRead, e.s3.heads)
	}
}

// TestStateIntervalWritesAtMostThatOften: a device sending every 10 s in a class with a
// 1-minute stateInterval has its state replaced once a minute; every message is archived and
// claimed in the same single write per batch; the stored state is never a minute or more
// behind the newest message; and a re-send of a message whose state was not written is a
// duplicate in any execution environment, also one that never saw the original.
func TestStateIntervalWritesAtMostThatOften(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Fleet.Classes[0].StateInterval = "1m" }) // street_light
	states := map[int64]bool{}
	for i := range 19 { // 0 s to 180 s
		at := baseTime.Add(time.Duration(i) * 10 * time.Second)
		if res := e.run(t, kinRec(i+1, "sl-1", msgAt("sl-1", fmt.Sprint("m", i), at, `"on":true,"brightness":1`))); res.Accepted != 1 {
			t.Fatalf("message %d: %+v", i, res)
		}
		ra, _ := num(e.ddb.item("sl-1", stateSK)[KeyReceivedAt])
		if lag := at.UnixMilli() - ra; lag >= time.Minute.Milliseconds() {
			t.Errorf("after message %d the state is %d ms behind", i, lag)
		}
		states[ra] = true
	}
	if len(states) != 4 { // at 0, 60, 120 and 180 s
		t.Errorf("the state was replaced %d times for 19 messages over 3 minutes, want 4", len(states))
	}
	// One write per batch, never refused: this environment knows when the state is not due.
	if e.ddb.updates != 19 || e.ddb.refused != 0 || e.ddb.keysRead != 0 {
		t.Errorf("%d UpdateItem calls (%d refused), %d keys read; want 19, 0, 0", e.ddb.updates, e.ddb.refused, e.ddb.keysRead)
	}
	if n := len(e.s3.allLines(t, "accepted/")); n != 19 {
		t.Errorf("%d messages archived, want 19", n)
	}
	// m17 (170 s) was claimed without its state being written. Its re-send reaches a new
	// execution environment, which has no memory of it: the claim in the item refuses it.
	cold, err := New(e.p.cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.p = cold
	res := e.run(t, kinRec(100, "sl-1", msgAt("sl-1", "m17", baseTime.Add(185*time.Second), `"on":true,"brightness":1`)))
	if res.Duplicates != 1 {
		t.Errorf("re-send of a message whose state was skipped, in a cold environment: %+v, want a duplicate", res)
	}
	if n := len(e.s3.allLines(t, "accepted/")); n != 19 {
		t.Errorf("%d messages archived after the re-send, want 19", n)
	}
}

// TestRegroupedRedeliveryStoresOnce: Lambda splits a stored batch (bisect after a timeout)
// and delivers the halves again: each record is found by its claim and stored once, also
// when the first attempt claimed everything and died before its PUT.
func TestRegroupedRedeliveryStoresOnce(t *testing.T) {
	for _, putFails := range []bool{false, true} {
		t.Run(fmt.Sprint("put fails ", putFails), func(t *testing.T) {
			e := newEnv(t)
			var recs []events.KinesisEventRecord
			var want []string
			for i := range 10 {
				thing := fmt.Sprintf("sl-%d", i%4)
				recs = append(recs, kinRec(i+1, thing, msg(thing, fmt.Sprint("m", i), `"on":true,"brightness":1`)))
				want = append(want, fmt.Sprintf("%s/m%d", thing, i))
			}
			if putFails {
				e.s3.putHook = onceFor("class=street_light", false)
			}
			e.run(t, recs...)
			total := 0
			for _, half := range [][]events.KinesisEventRecord{recs[:5], recs[5:]} {
				res := e.run(t, half...)
				if len(res.BatchItemFailures) != 0 {
					t.Fatalf("half: %+v", res)
				}
				total += res.Accepted
			}
			if total != 10 {
				t.Errorf("halves accepted %d, want 10", total)
			}
			checkStoredOnce(t, e, want, 0)
		})
	}
}
