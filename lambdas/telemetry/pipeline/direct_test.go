package pipeline

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestHandleMessageDirectMode: one rule message is stored once; Lambda's retry of the same
// delivery stores nothing more; the device's re-send (a new delivery with the same msgId) is a
// duplicate; a bad message is rejected and archived, not retried; a transient failure returns
// an error so Lambda retries and its on-failure destination keeps the message.
func TestHandleMessageDirectMode(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	m := msg("sl-1", "a1", `"on":true,"brightness":80`)
	if err := e.p.HandleMessage(ctx, m); err != nil {
		t.Fatalf("first delivery: %v", err)
	}
	if n := len(e.s3.allLines(t, "accepted/")); n != 1 {
		t.Fatalf("%d lines archived, want 1", n)
	}
	written := e.ddb.written
	if err := e.p.HandleMessage(ctx, m); err != nil {
		t.Fatalf("retried delivery: %v", err)
	}
	if n := len(e.s3.allLines(t, "accepted/")); n != 1 || e.ddb.written != written {
		t.Errorf("Lambda's retry of the same delivery: %d lines archived (want 1), %d state writes (want 0)", n, e.ddb.written-written)
	}
	resend := msgAt("sl-1", "a1", baseTime.Add(time.Second), `"on":true,"brightness":80`)
	if err := e.p.HandleMessage(ctx, resend); err != nil {
		t.Fatalf("re-send: %v", err)
	}
	if n := len(e.s3.allLines(t, "accepted/")); n != 1 {
		t.Errorf("after a device re-send %d lines archived, want still 1", n)
	}
	if err := e.p.HandleMessage(ctx, []byte(`{"msgId":"x","clientId":"sl-1"`)); err != nil {
		t.Errorf("a malformed message must be rejected and archived, not retried: %v", err)
	}
	if n := len(e.s3.allLines(t, "rejected/")); n != 1 {
		t.Errorf("%d rejected lines archived, want 1", n)
	}

	failing := newEnv(t)
	failing.s3.putHook = func(string) (bool, error) { return false, errors.New("SlowDown") }
	if err := failing.p.HandleMessage(ctx, msg("sl-2", "b1", `"on":false,"brightness":0`)); err == nil {
		t.Error("a transient S3 failure returned no error: Lambda would not retry and the message would be lost")
	}
}

func TestDirectSeqIsFixedWidthAndStable(t *testing.T) {
	a, b := directSeq([]byte("one")), directSeq([]byte("two"))
	if len(a) != directSeqDigits || len(b) != directSeqDigits || a == b || a != directSeq([]byte("one")) {
		t.Errorf("directSeq: %q, %q", a, b)
	}
}

// TestHandleMessageBoundsReceivedAtByTheInvocation: direct mode has no stream arrival, so
// receivedAt is bounded by the invocation: an asynchronous retry hours later is accepted, a
// message older than the oldest retry Lambda delivers (MaxEventAge) or stamped after the
// invocation is rejected as arrival_skew and archived.
func TestHandleMessageBoundsReceivedAtByTheInvocation(t *testing.T) {
	for _, tc := range []struct {
		name string
		now  time.Duration // invocation time after receivedAt
		want string        // "accepted" or the reason
	}{
		{"retry five hours late", 5 * time.Hour, "accepted"},
		{"at the oldest retry", DefaultMaxEventAge + DefaultArrivalTolerance, "accepted"},
		{"older than any retry", DefaultMaxEventAge + DefaultArrivalTolerance + time.Second, string(ReasonArrivalSkew)},
		{"stamped after the invocation", -DefaultArrivalTolerance - time.Second, string(ReasonArrivalSkew)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.now = baseTime.Add(tc.now)
			if err := e.p.HandleMessage(context.Background(), msg("sl-1", "a1", `"on":true,"brightness":80`)); err != nil {
				t.Fatal(err)
			}
			got := "accepted"
			if lines := e.s3.allLines(t, "rejected/"); len(lines) == 1 {
				got = lines[0]["reason"].(string)
			} else if n := len(e.s3.allLines(t, "accepted/")); n != 1 {
				t.Fatalf("%d accepted and %d rejected lines", n, len(lines))
			}
			if got != tc.want {
				t.Errorf("outcome %s, want %s", got, tc.want)
			}
		})
	}
}
