package envelope_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/secure-smart-city/platform/internal/fakekms"
	"github.com/secure-smart-city/platform/lambdas/telemetry/envelope"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func seal(t *testing.T, c *envelope.Cache, thing, class, field string, plain []byte) []byte {
	t.Helper()
	k, err := c.Key(context.Background(), thing, class)
	if err != nil {
		t.Fatalf("Key(%s, %s): %v", thing, class, err)
	}
	var s envelope.Sealer
	return s.AppendSeal(nil, k, field, plain)
}

func TestRoundTrip(t *testing.T) {
	kms := fakekms.New()
	c := envelope.NewCache(kms, "alias/telemetry-fields", envelope.Options{})
	for _, plain := range []string{`"AB-123-CD"`, `42.5`, `""`, `true`, `"ünïcode \" \\ "`} {
		raw := seal(t, c, "cam-001", "camera", "plate_reads", []byte(plain))
		var env envelope.Envelope
		if err := json.Unmarshal(raw, &env); err != nil {
			t.Fatalf("envelope %s is not JSON: %v", raw, err)
		}
		if diff := cmp.Diff(map[string]string{"thing": "cam-001", "class": "camera"}, env.Context); diff != "" {
			t.Errorf("context (-want +got):\n%s", diff)
		}
		if env.V != envelope.Version || env.Alg != envelope.Algorithm || env.KeyID != fakekms.KeyARN {
			t.Errorf("header = %d %q %q", env.V, env.Alg, env.KeyID)
		}
		if len(env.Nonce) != 12 || len(env.Ciphertext) != len(plain)+16 {
			t.Errorf("nonce %d bytes, ciphertext %d bytes for %d plaintext bytes", len(env.Nonce), len(env.Ciphertext), len(plain))
		}
		got, err := envelope.DecryptJSON(context.Background(), kms, "plate_reads", raw)
		if err != nil {
			t.Fatalf("DecryptJSON: %v", err)
		}
		if string(got) != plain {
			t.Errorf("decrypted %q, want %q", got, plain)
		}
	}
}

func TestDecryptRefusesTampering(t *testing.T) {
	kms := fakekms.New()
	c := envelope.NewCache(kms, "k", envelope.Options{})
	raw := seal(t, c, "cam-001", "camera", "plate_reads", []byte(`"AB-123"`))
	parse := func() *envelope.Envelope {
		var env envelope.Envelope
		if err := json.Unmarshal(raw, &env); err != nil {
			t.Fatal(err)
		}
		return &env
	}
	tests := map[string]struct {
		field  string
		mutate func(*envelope.Envelope)
	}{
		"other field":      {"snapshot_ref", func(*envelope.Envelope) {}},
		"other thing":      {"plate_reads", func(e *envelope.Envelope) { e.Context["thing"] = "cam-002" }},
		"other class":      {"plate_reads", func(e *envelope.Envelope) { e.Context["class"] = "parking" }},
		"extra context":    {"plate_reads", func(e *envelope.Envelope) { e.Context["x"] = "y" }},
		"flipped bit":      {"plate_reads", func(e *envelope.Envelope) { e.Ciphertext[0] ^= 1 }},
		"other nonce":      {"plate_reads", func(e *envelope.Envelope) { e.Nonce[11] ^= 1 }},
		"short nonce":      {"plate_reads", func(e *envelope.Envelope) { e.Nonce = e.Nonce[:8] }},
		"truncated":        {"plate_reads", func(e *envelope.Envelope) { e.Ciphertext = e.Ciphertext[:10] }},
		"unknown version":  {"plate_reads", func(e *envelope.Envelope) { e.V = 2 }},
		"unknown key":      {"plate_reads", func(e *envelope.Envelope) { e.KeyID = "arn:aws:kms:eu-west-1:111122223333:key/other" }},
		"no encrypted key": {"plate_reads", func(e *envelope.Envelope) { e.EncryptedKey = nil }},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			env := parse()
			tc.mutate(env)
			if got, err := envelope.Decrypt(context.Background(), kms, tc.field, env); err == nil {
				t.Errorf("Decrypt succeeded with %q, want an error", got)
			}
		})
	}
	if _, err := envelope.Decrypt(context.Background(), kms, "plate_reads", nil); err == nil {
		t.Error("Decrypt(nil) succeeded")
	}
	if _, err := envelope.DecryptJSON(context.Background(), kms, "plate_reads", []byte("{")); err == nil {
		t.Error("DecryptJSON of broken JSON succeeded")
	}
}

func TestCacheMessageBound(t *testing.T) {
	kms := fakekms.New()
	c := envelope.NewCache(kms, "k", envelope.Options{MaxMessages: 3})
	var keys []*envelope.Key
	for range 7 {
		k, err := c.Key(context.Background(), "cam-001", "camera")
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	if got := kms.Generated.Load(); got != 3 {
		t.Errorf("7 messages with 3 per key made %d KMS calls, want 3", got)
	}
	if keys[0] != keys[2] || keys[2] == keys[3] || keys[3] != keys[5] || keys[5] == keys[6] {
		t.Error("keys did not rotate after every 3 messages")
	}
}

func TestCacheAgeBound(t *testing.T) {
	kms := fakekms.New()
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	c := envelope.NewCache(kms, "k", envelope.Options{MaxAge: 5 * time.Minute, Now: clk.now})
	first, _ := c.Key(context.Background(), "cam-001", "camera")
	clk.t = clk.t.Add(5*time.Minute - time.Nanosecond)
	same, _ := c.Key(context.Background(), "cam-001", "camera")
	clk.t = clk.t.Add(time.Nanosecond)
	fresh, err := c.Key(context.Background(), "cam-001", "camera")
	if err != nil {
		t.Fatal(err)
	}
	if first != same {
		t.Error("key replaced before MaxAge")
	}
	if fresh == first {
		t.Error("key used at MaxAge")
	}
	if got := kms.Generated.Load(); got != 2 {
		t.Errorf("KMS calls = %d, want 2", got)
	}
}

func TestCacheIsPerContext(t *testing.T) {
	kms := fakekms.New()
	c := envelope.NewCache(kms, "k", envelope.Options{})
	a, _ := c.Key(context.Background(), "cam-001", "camera")
	b, _ := c.Key(context.Background(), "cam-002", "camera")
	a2, _ := c.Key(context.Background(), "cam-001", "camera")
	if a == b || a != a2 {
		t.Error("contexts share keys or a context lost its key")
	}
	if got := kms.Generated.Load(); got != 2 {
		t.Errorf("KMS calls = %d, want 2", got)
	}
	// An envelope made for one context does not open as another's.
	raw := seal(t, c, "cam-001", "camera", "plate_reads", []byte(`"x"`))
	var env envelope.Envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		t.Fatal(err)
	}
	env.Context["thing"] = "cam-002"
	if _, err := envelope.Decrypt(context.Background(), kms, "plate_reads", &env); err == nil {
		t.Error("envelope opened under another thing's context")
	}
}

func TestCacheEntryBound(t *testing.T) {
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	c := envelope.NewCache(fakekms.New(), "k", envelope.Options{MaxEntries: 2, Now: clk.now})
	for _, thing := range []string{"a", "b", "c", "d"} {
		clk.t = clk.t.Add(time.Second)
		if _, err := c.Key(context.Background(), thing, "camera"); err != nil {
			t.Fatal(err)
		}
	}
	if got := c.Len(); got != 2 {
		t.Errorf("cache holds %d contexts, want 2", got)
	}
}

func TestCacheDoesNotKeepFailures(t *testing.T) {
	kms := fakekms.New()
	c := envelope.NewCache(kms, "k", envelope.Options{})
	kms.FailNext(1)
	if _, err := c.Key(context.Background(), "cam-001", "camera"); !errors.Is(err, fakekms.ErrUnavailable) {
		t.Fatalf("Key error = %v, want the KMS error", err)
	}
	if _, err := c.Key(context.Background(), "cam-001", "camera"); err != nil {
		t.Fatalf("Key after a KMS failure: %v", err)
	}
	if _, err := c.Key(context.Background(), "", "camera"); err == nil {
		t.Error("Key accepted an empty thing")
	}
}

func TestNoncesDoNotRepeat(t *testing.T) {
	c := envelope.NewCache(fakekms.New(), "k", envelope.Options{})
	k, _ := c.Key(context.Background(), "cam-001", "camera")
	var s envelope.Sealer
	seen := map[string]bool{}
	for range 1000 {
		var env envelope.Envelope
		if err := json.Unmarshal(s.AppendSeal(nil, k, "f", []byte("1")), &env); err != nil {
			t.Fatal(err)
		}
		if seen[string(env.Nonce)] {
			t.Fatalf("nonce %x repeated", env.Nonce)
		}
		seen[string(env.Nonce)] = true
	}
}

// BenchmarkSealSteadyState seals one value per message for one busy device and reports the
// KMS requests per 10,000 messages, which the cache bounds at 1.
func BenchmarkSealSteadyState(b *testing.B) {
	kms := fakekms.New()
	c := envelope.NewCache(kms, "k", envelope.Options{})
	var s envelope.Sealer
	plain := []byte(`"AB-123-CD,EF-456-GH"`)
	buf := make([]byte, 0, 1024)
	// The first key of a cold start is not steady state.
	if _, err := c.Key(context.Background(), "cam-001", "camera"); err != nil {
		b.Fatal(err)
	}
	kms.Generated.Store(0)
	b.ReportAllocs()
	for b.Loop() {
		k, err := c.Key(context.Background(), "cam-001", "camera")
		if err != nil {
			b.Fatal(err)
		}
		buf = s.AppendSeal(buf[:0], k, "plate_reads", plain)
	}
	b.ReportMetric(float64(kms.Generated.Load())*10000/float64(b.N), "kms-req/10k-msgs")
}

func TestCacheIsSafeForConcurrentUse(t *testing.T) {
	kms := fakekms.New()
	c := envelope.NewCache(kms, "k", envelope.Options{MaxMessages: 50})
	type sealed struct {
		thing string
		raw   []byte
	}
	out := make(chan sealed, 800)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var s envelope.Sealer
			thing := fmt.Sprint("cam-", g%2)
			for range 100 {
				k, err := c.Key(context.Background(), thing, "camera")
				if err != nil {
					t.Error(err)
					return
				}
				out <- sealed{thing, s.AppendSeal(nil, k, "f", []byte(`"`+thing+`"`))}
			}
		}()
	}
	wg.Wait()
	close(out)
	nonces := map[string]bool{}
	for s := range out {
		var env envelope.Envelope
		if err := json.Unmarshal(s.raw, &env); err != nil {
			t.Fatal(err)
		}
		id := string(env.EncryptedKey) + string(env.Nonce)
		if nonces[id] {
			t.Fatal("a nonce repeated under one data key")
		}
		nonces[id] = true
		plain, err := envelope.Decrypt(context.Background(), kms, "f", &env)
		if err != nil || string(plain) != `"`+s.thing+`"` {
			t.Fatalf("decrypt: %s, %v", plain, err)
		}
	}
	// 400 messages per context at 50 per key: 8 keys per context, plus at most a few made by
	// callers racing on an expired key.
	if got := kms.Generated.Load(); got < 16 || got > 32 {
		t.Errorf("%d KMS calls for 800 messages at 50 per key", got)
	}
}
