package api

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"

	"github.com/secure-smart-city/platform/lambdas/command/contract"
)

func withKey(ev events.APIGatewayProxyRequest, header, key, requestID string) events.APIGatewayProxyRequest {
	ev.Headers = map[string]string{header: key}
	ev.RequestContext.RequestID = requestID
	return ev
}

// TestReplayedPostReturnsFirstAnswer plays a client (or an attacker with a captured request)
// that repeats a POST with its Idempotency-Key: the first answer comes back, marked replayed,
// the command is delivered once, and the replay is audited.
func TestReplayedPostReturnsFirstAnswer(t *testing.T) {
	f := newFixture()
	body := `{"command": "set-brightness", "level": 30}`
	first, err := f.h.Handle(context.Background(), withKey(post("sl-001", body), "Idempotency-Key", "k-1", "req-1"))
	if err != nil || first.StatusCode != 202 {
		t.Fatalf("first: %d %v", first.StatusCode, err)
	}
	for i, header := range []string{"Idempotency-Key", "idempotency-key"} {
		again, err := f.h.Handle(context.Background(), withKey(post("sl-001", body), header, "k-1", "req-"+string(rune('2'+i))))
		if err != nil {
			t.Fatal(err)
		}
		if again.StatusCode != 202 || again.Body != first.Body || again.Headers[ReplayedHeader] != "true" {
			t.Errorf("replay %d: %d %s %v, want the first answer %s", i, again.StatusCode, again.Body, again.Headers, first.Body)
		}
	}
	if len(f.iot.publishes) != 1 {
		t.Fatalf("%d publishes for one key, want 1", len(f.iot.publishes))
	}
	var replays []auditRecord
	for _, a := range f.audits(t) {
		if a.Outcome == OutcomeReplayed {
			replays = append(replays, a)
		}
	}
	if len(replays) != 2 || !strings.Contains(replays[0].Reason, "replay of request req-1") || replays[0].IdempotencyKey != "k-1" {
		t.Errorf("replays audited as %+v", replays)
	}
	wantMetric(t, f, contract.MetricReplayed, "", "")

	// Another role's same key is another request: keys are scoped per operator role.
	other, _ := f.h.Handle(context.Background(), as(withKey(post("sl-001", body), "Idempotency-Key", "k-1", "req-9"), "lighting-operator"))
	if other.StatusCode != 202 || other.Headers[ReplayedHeader] != "" || len(f.iot.publishes) != 2 {
		t.Errorf("another role's key: %d %v, publishes %d", other.StatusCode, other.Headers, len(f.iot.publishes))
	}
}

// TestReplayedRefusalIsReplayed: a refused request's answer is stored too; retrying it gives
// the same refusal without evaluating it again.
func TestReplayedRefusalIsReplayed(t *testing.T) {
	f := newFixture()
	body := `{"command": "set-brightness", "level": 300}`
	first, _ := f.h.Handle(context.Background(), withKey(post("sl-001", body), "Idempotency-Key", "k-2", "req-1"))
	again, _ := f.h.Handle(context.Background(), withKey(post("sl-001", body), "Idempotency-Key", "k-2", "req-2"))
	if first.StatusCode != 400 || again.StatusCode != 400 || again.Body != first.Body || again.Headers[ReplayedHeader] != "true" {
		t.Errorf("first %d %s, again %d %s", first.StatusCode, first.Body, again.StatusCode, again.Body)
	}
}

// TestIdempotencyKeyReusedWithAnotherBody: the same key with another body (or for another
// thing) is refused with 422 and a reason, and nothing is sent.
func TestIdempotencyKeyReusedWithAnotherBody(t *testing.T) {
	f := newFixture()
	if status, _ := f.do(t, withKey(post("sl-001", `{"command": "set-light", "on": true}`), "Idempotency-Key", "k-3", "req-1")); status != 202 {
		t.Fatalf("first: %d", status)
	}
	status, body := f.do(t, withKey(post("sl-001", `{"command": "set-light", "on": false}`), "Idempotency-Key", "k-3", "req-2"))
	if status != 422 || !strings.Contains(body["message"].(string), `"k-3" was first used by request req-1`) {
		t.Errorf("reused key: %d %v", status, body)
	}
	if len(f.iot.publishes) != 1 {
		t.Errorf("%d publishes, want 1", len(f.iot.publishes))
	}
	audits := f.audits(t)
	last := audits[len(audits)-1]
	if last.RequestID != "req-2" || last.Status != 422 || last.Outcome != OutcomeRejected || !strings.Contains(last.Reason, "another request body") {
		t.Errorf("audit = %+v", last)
	}
	wantMetric(t, f, contract.MetricRefused, contract.DimensionReason, contract.ReasonIdempotencyMismatch)
}

// TestIdempotencyKeyWithoutAnswer: while the first request has recorded no answer (in flight,
// or it ended before recording one), a retry gets 409 and nothing is sent again.
func TestIdempotencyKeyWithoutAnswer(t *testing.T) {
	f := newFixture()
	f.db.putErrFor = map[string]error{KindIdemAnswer: errors.New("InternalServerError")}
	body := `{"command": "reboot"}`
	if status, _ := f.do(t, withKey(post("sl-001", body), "Idempotency-Key", "k-4", "req-1")); status != 202 {
		t.Fatalf("first: %d", status)
	}
	wantMetric(t, f, contract.MetricAuditWriteFailed, contract.DimensionPhase, KindIdemAnswer)
	status, resp := f.do(t, withKey(post("sl-001", body), "Idempotency-Key", "k-4", "req-2"))
	if status != 409 || !strings.Contains(resp["message"].(string), "request req-1") || !strings.Contains(resp["message"].(string), "nothing was sent again") {
		t.Errorf("retry: %d %v", status, resp)
	}
	if len(f.iot.publishes) != 1 {
		t.Errorf("%d publishes, want 1", len(f.iot.publishes))
	}
	wantMetric(t, f, contract.MetricRefused, contract.DimensionReason, contract.ReasonIdempotencyInProgress)
}

// TestIdempotencyClaimFailureFailsClosed: when the key cannot be recorded, nothing is sent.
func TestIdempotencyClaimFailureFailsClosed(t *testing.T) {
	f := newFixture()
	f.db.putErrFor = map[string]error{KindIdemClaim: errors.New("ThrottlingException")}
	status, body := f.do(t, withKey(post("sl-001", `{"command": "reboot"}`), "Idempotency-Key", "k-5", "req-1"))
	if status != 503 || !strings.Contains(body["message"].(string), "nothing was sent") || len(f.iot.publishes) != 0 {
		t.Errorf("%d %v, publishes %d", status, body, len(f.iot.publishes))
	}
	wantMetric(t, f, contract.MetricAuditWriteFailed, contract.DimensionPhase, KindIdemClaim)
	// Nothing claimed: the same key works once the table does.
	f.db.putErrFor = nil
	if status, _ := f.do(t, withKey(post("sl-001", `{"command": "reboot"}`), "Idempotency-Key", "k-5", "req-2")); status != 202 {
		t.Errorf("retry after recovery: %d", status)
	}
}

func TestIdempotencyKeyFormat(t *testing.T) {
	for _, key := range []string{"", "a#b", strings.Repeat("x", 129), "with space"} {
		f := newFixture()
		status, body := f.do(t, withKey(post("sl-001", `{"command": "reboot"}`), "Idempotency-Key", key, "req-1"))
		if status != 400 || !strings.Contains(body["message"].(string), IdempotencyHeader) || len(f.iot.publishes) != 0 {
			t.Errorf("key %q: %d %v", key, status, body)
		}
	}
	ev := post("sl-001", `{"command": "reboot"}`)
	ev.MultiValueHeaders = map[string][]string{"Idempotency-Key": {"a", "b"}}
	f := newFixture()
	if status, _ := f.do(t, ev); status != 400 {
		t.Errorf("two keys: %d", status)
	}
}

// TestIdempotencyItemsNeverOverwrite: every item written with a key is put once.
func TestIdempotencyItemsNeverOverwrite(t *testing.T) {
	f := newFixture()
	f.do(t, withKey(post("sl-001", `{"command": "reboot"}`), "Idempotency-Key", "k-6", "req-1"))
	for _, p := range f.db.puts {
		if c := p.ConditionExpression; c == nil || !strings.Contains(*c, "attribute_not_exists") {
			t.Errorf("put of %v without attribute_not_exists", p.Item[AuditSortKey])
		}
	}
	want := []string{IdempotencySortKey(operatorRole, "k-6"), "2026-03-04T05:06:07.891Z#req-1#intent", "2026-03-04T05:06:07.891Z#req-1#outcome", IdempotencySortKey(operatorRole, "k-6") + "#answer"}
	var got []string
	for _, p := range f.db.puts {
		k, _ := itemKey("audit", p.Item)
		got = append(got, strings.TrimPrefix(k, "audit/sl-001#"))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("audit items (-want +got):\n%s", diff)
	}
}

// TestIdempotencyKeyInBody: the key may come in the body instead of the header; it is not a
// command param, and header and body may not disagree.
func TestIdempotencyKeyInBody(t *testing.T) {
	f := newFixture()
	body := `{"command": "set-light", "on": true, "idempotencyKey": "k-7"}`
	first := post("sl-001", body)
	if status, resp := f.do(t, first); status != 202 {
		t.Fatalf("first: %d %v", status, resp)
	}
	again := post("sl-001", body)
	again.RequestContext.RequestID = "req-2"
	resp, _ := f.h.Handle(context.Background(), again)
	if resp.StatusCode != 202 || resp.Headers[ReplayedHeader] != "true" || len(f.iot.publishes) != 1 {
		t.Errorf("replay by body key: %d %v, publishes %d", resp.StatusCode, resp.Headers, len(f.iot.publishes))
	}
	if a := f.audits(t); a[1].Kind != KindIntent || a[1].IdempotencyKey != "k-7" || a[1].Params["idempotencyKey"] != nil {
		t.Errorf("intent %+v: the key must be the request's, not a param", a[1])
	}
	// The same key in the header names the same request.
	same := withKey(post("sl-001", body), "Idempotency-Key", "k-7", "req-3")
	if resp, _ := f.h.Handle(context.Background(), same); resp.Headers[ReplayedHeader] != "true" {
		t.Errorf("header and body with one key: %d %v", resp.StatusCode, resp.Headers)
	}
	for _, c := range []struct{ header, body, want string }{
		{"k-8", `{"command": "reboot", "idempotencyKey": "k-9"}`, "differ"},
		{"", `{"command": "reboot", "idempotencyKey": 7}`, `"idempotencyKey" 7 must be a string`},
		{"", `{"command": "reboot", "idempotencyKey": "a b"}`, "must be a string of 1-128"},
	} {
		f := newFixture()
		ev := post("sl-001", c.body)
		if c.header != "" {
			ev = withKey(ev, "Idempotency-Key", c.header, "req-1")
		}
		status, resp := f.do(t, ev)
		if status != 400 || !strings.Contains(resp["message"].(string), c.want) || len(f.iot.publishes) != 0 {
			t.Errorf("%s: %d %v", c.body, status, resp)
		}
	}
}
