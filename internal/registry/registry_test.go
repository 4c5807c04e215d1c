package registry

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	iottypes "github.com/aws/aws-sdk-go-v2/service/iot/types"
)

// fakeRegistry answers DescribeThing from a map and counts the calls per name.
type fakeRegistry struct {
	mu     sync.Mutex
	things map[string]*iot.DescribeThingOutput
	err    error
	calls  map[string]int
}

func (f *fakeRegistry) DescribeThing(_ context.Context, in *iot.DescribeThingInput, _ ...func(*iot.Options)) (*iot.DescribeThingOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	name := aws.ToString(in.ThingName)
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	f.calls[name]++
	if f.err != nil {
		return nil, f.err
	}
	out, ok := f.things[name]
	if !ok {
		return nil, &iottypes.ResourceNotFoundException{Message: aws.String("Thing " + name + " cannot be found.")}
	}
	return out, nil
}

func described(typ, district string) *iot.DescribeThingOutput {
	out := &iot.DescribeThingOutput{Attributes: map[string]string{"serial": "S1"}}
	if typ != "" {
		out.ThingTypeName = aws.String(typ)
	}
	if district != "" {
		out.Attributes["district"] = district
	}
	return out
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newRig() (*fakeRegistry, *clock, *Cache) {
	f := &fakeRegistry{things: map[string]*iot.DescribeThingOutput{
		"sl-009": described("smartcity_dev_street_light", "old_town"),
		"bare":   described("", ""),
	}}
	c := &clock{t: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}
	return f, c, NewCache(f, Options{TTL: time.Minute, MaxEntries: 3, Now: c.now})
}

func TestLookupHitServedFromCache(t *testing.T) {
	f, _, c := newRig()
	for range 3 {
		got, err := c.Lookup(context.Background(), "sl-009")
		if err != nil {
			t.Fatal(err)
		}
		if want := (Thing{Name: "sl-009", Type: "smartcity_dev_street_light", District: "old_town"}); got != want {
			t.Errorf("Lookup = %+v, want %+v", got, want)
		}
	}
	if f.calls["sl-009"] != 1 {
		t.Errorf("%d DescribeThing calls for three lookups within the TTL, want 1", f.calls["sl-009"])
	}
	bare, err := c.Lookup(context.Background(), "bare")
	if err != nil || bare != (Thing{Name: "bare"}) {
		t.Errorf("thing without type or district: %+v, %v", bare, err)
	}
}

func TestLookupExpiry(t *testing.T) {
	f, clk, c := newRig()
	if _, err := c.Lookup(context.Background(), "sl-009"); err != nil {
		t.Fatal(err)
	}
	clk.t = clk.t.Add(time.Minute - time.Nanosecond)
	_, _ = c.Lookup(context.Background(), "sl-009")
	if f.calls["sl-009"] != 1 {
		t.Fatalf("looked up again before the TTL ran out: %d calls", f.calls["sl-009"])
	}
	// The registry changes (the thing is retyped); after the TTL the cache sees it.
	f.things["sl-009"] = described("smartcity_dev_parking", "harbour")
	clk.t = clk.t.Add(time.Nanosecond)
	got, err := c.Lookup(context.Background(), "sl-009")
	if err != nil || got.Type != "smartcity_dev_parking" || got.District != "harbour" || f.calls["sl-009"] != 2 {
		t.Errorf("after the TTL: %+v, %v, %d calls; want the new type and district from a second call", got, err, f.calls["sl-009"])
	}
	// A thing deleted from the registry is gone once its entry expires.
	delete(f.things, "sl-009")
	clk.t = clk.t.Add(time.Minute)
	if _, err := c.Lookup(context.Background(), "sl-009"); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleted thing after the TTL: %v, want ErrNotFound", err)
	}
}

// A miss is not cached: a device provisioned a moment later must be found at once.
func TestLookupMissNotCached(t *testing.T) {
	f, _, c := newRig()
	for range 2 {
		_, err := c.Lookup(context.Background(), "sl-new")
		if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "sl-new") {
			t.Fatalf("missing thing: %v, want ErrNotFound naming it", err)
		}
	}
	if f.calls["sl-new"] != 2 {
		t.Errorf("%d calls for two misses, want 2 (misses are not cached)", f.calls["sl-new"])
	}
	f.things["sl-new"] = described("smartcity_dev_street_light", "old_town")
	if got, err := c.Lookup(context.Background(), "sl-new"); err != nil || got.Type != "smartcity_dev_street_light" {
		t.Errorf("thing provisioned after a miss: %+v, %v; want it found at once", got, err)
	}
}

func TestLookupInvalidNameNeverCallsTheRegistry(t *testing.T) {
	f, _, c := newRig()
	for _, name := range []string{"", "a/b", "sl 1", "../x", strings.Repeat("a", 129), "é"} {
		if _, err := c.Lookup(context.Background(), name); !errors.Is(err, ErrNotFound) {
			t.Errorf("Lookup(%q) = %v, want ErrNotFound", name, err)
		}
	}
	if len(f.calls) != 0 {
		t.Errorf("registry called for invalid names: %v", f.calls)
	}
}

func TestLookupFailureIsNotNotFound(t *testing.T) {
	f, _, c := newRig()
	f.err = &iottypes.ThrottlingException{Message: aws.String("Rate exceeded")}
	_, err := c.Lookup(context.Background(), "sl-009")
	if err == nil || errors.Is(err, ErrNotFound) {
		t.Fatalf("throttled lookup: %v, want an error that is not ErrNotFound", err)
	}
	var th *iottypes.ThrottlingException
	if !errors.As(err, &th) {
		t.Errorf("error %v does not wrap the service error", err)
	}
	// Failures are not cached.
	f.err = nil
	if _, err := c.Lookup(context.Background(), "sl-009"); err != nil {
		t.Errorf("lookup after the failure: %v", err)
	}
}

func TestCacheIsBounded(t *testing.T) {
	f, clk, c := newRig()
	for i := range 10 {
		name := fmt.Sprintf("t-%d", i)
		f.things[name] = described("smartcity_dev_street_light", "old_town")
		if _, err := c.Lookup(context.Background(), name); err != nil {
			t.Fatal(err)
		}
		if n := c.Len(); n > 3 {
			t.Fatalf("cache holds %d entries, over its bound of 3", n)
		}
	}
	// Expired entries are evicted before live ones.
	clk.t = clk.t.Add(2 * time.Minute)
	_, _ = c.Lookup(context.Background(), "sl-009")
	_, _ = c.Lookup(context.Background(), "bare")
	if c.Len() != 2 {
		t.Errorf("cache holds %d entries after the others expired, want 2", c.Len())
	}
}

func TestThingClass(t *testing.T) {
	for _, c := range []struct {
		typ, prefix, class string
		ok                 bool
	}{
		{"smartcity_dev_street_light", "smartcity_dev", "street_light", true},
		{"smartcity_prod_street_light", "smartcity_dev", "", false},
		{"smartcity_devx_street_light", "smartcity_dev", "", false},
		{"smartcity_dev_", "smartcity_dev", "", false},
		{"smartcity_dev", "smartcity_dev", "", false},
		{"", "smartcity_dev", "", false},
		{"street_light", "", "", false},
	} {
		got, ok := (Thing{Type: c.typ}).Class(c.prefix)
		if got != c.class || ok != c.ok {
			t.Errorf("Thing{Type: %q}.Class(%q) = %q, %v; want %q, %v", c.typ, c.prefix, got, ok, c.class, c.ok)
		}
	}
}

func TestDefaults(t *testing.T) {
	c := NewCache(&fakeRegistry{}, Options{})
	if c.ttl != DefaultTTL || c.maxEntries != DefaultMaxEntries || c.now == nil {
		t.Errorf("defaults: ttl %v, max %d", c.ttl, c.maxEntries)
	}
}
