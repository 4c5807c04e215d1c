package sim

import (
	"testing"
	"time"

	"github.com/secure-smart-city/platform/lambdas/command/api"
)

func TestCommandGuard(t *testing.T) {
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	ms := func(d time.Duration) int64 { return now.Add(d).UnixMilli() }
	g := newCommandGuard(DefaultMaxCommandAge, 3)
	steps := []struct {
		id       string
		issuedAt int64
		want     string
	}{
		{"c1", ms(-time.Second), ""},
		{"c1", ms(-time.Second), RefusedDuplicate},
		{"c1", ms(0), RefusedDuplicate}, // same id, another issue time: still a replay
		{"c2", ms(-DefaultMaxCommandAge - time.Millisecond), RefusedStale},
		{"c3", ms(-DefaultMaxCommandAge), ""},
		{"c4", ms(MaxCommandClockSkew + time.Millisecond), RefusedFuture},
		{"", ms(0), RefusedNoID},
		{"c5", 0, RefusedStale}, // no issuedAt
		{"c6", ms(0), ""},
		{"c7", ms(0), RefusedTooMany}, // three remembered, none expired
	}
	for i, s := range steps {
		if got := g.admit(s.id, s.issuedAt, now); got != s.want {
			t.Errorf("step %d: admit(%q, %d) = %q, want %q", i, s.id, s.issuedAt, got, s.want)
		}
	}
	// Once c3 is past the bound it is forgotten (it would be stale anyway) and makes room.
	later := now.Add(time.Second)
	if got := g.admit("c7", later.UnixMilli(), later); got != "" {
		t.Errorf("after c3 expired: %q", got)
	}
	if got := g.admit("c3", ms(-DefaultMaxCommandAge), later); got != RefusedStale {
		t.Errorf("forgotten c3 replayed: %q, want stale", got)
	}
	st := g.stats()
	if st.Refused[RefusedDuplicate] != 2 || st.Refused[RefusedStale] != 3 || st.Refused[RefusedFuture] != 1 || st.Refused[RefusedTooMany] != 1 {
		t.Errorf("stats %+v", st)
	}
}

// TestMaxCommandAgeIsTheAPIExpiry: the device refuses exactly what the broker would have
// expired had it held the command.
func TestMaxCommandAgeIsTheAPIExpiry(t *testing.T) {
	if DefaultMaxCommandAge != api.CommandExpiry {
		t.Errorf("DefaultMaxCommandAge %v, api.CommandExpiry %v", DefaultMaxCommandAge, api.CommandExpiry)
	}
}
