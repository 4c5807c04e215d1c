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
	puts := e.s3.puts
	if err := e.p.HandleMessage(ctx, m); err != nil {
		t.Fatalf("retried delivery: %v", err)
	}
	if e.s3.puts != puts {
		t.Errorf("Lambda's retry of the same delivery wrote %d more objects", e.s3.puts-puts)
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
