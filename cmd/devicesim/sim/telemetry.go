package sim

import (
	"crypto/rand"
	"encoding/hex"
	"math"
	mrand "math/rand/v2"
	"time"

	"github.com/secure-smart-city/platform/fleetspec"
)

// Keys every telemetry message carries beside the class's fields.
const (
	// KeyMsgID is unique per message so that processors can drop duplicate deliveries.
	KeyMsgID = "msgId"
	// KeyTS is the device's clock at publish time, in Unix milliseconds.
	KeyTS = "ts"
)

// defaultSpan is the range given to a number field that declares no bound on one side, so a
// value stays plausible rather than spanning float64.
const defaultSpan = 100.0

// Generator produces a device class's telemetry. Numbers follow a bounded random walk and
// booleans and enums change now and then, because a sensor's readings are correlated in time;
// uniform noise would make dashboards and anomaly detection meaningless.
type Generator struct {
	class fleetspec.DeviceClass
	rnd   *mrand.Rand
	now   func() time.Time
	last  map[string]any
}

// NewGenerator returns a generator for class. rnd and now may be nil (a randomly seeded source
// and time.Now); tests pass fixed ones.
func NewGenerator(class fleetspec.DeviceClass, rnd *mrand.Rand, now func() time.Time) *Generator {
	if rnd == nil {
		rnd = mrand.New(mrand.NewPCG(mrand.Uint64(), mrand.Uint64()))
	}
	if now == nil {
		now = time.Now
	}
	return &Generator{class: class, rnd: rnd, now: now, last: map[string]any{}}
}

// Next returns the next message: every field of the class with a value within its bounds,
// overridden by the commanded state for fields the state sets, plus msgId and ts.
func (g *Generator) Next(state map[string]any) map[string]any {
	msg := make(map[string]any, len(g.class.Fields)+2)
	for _, f := range g.class.Fields {
		v := g.value(f)
		g.last[f.Name] = v
		msg[f.Name] = v
	}
	for k, v := range state {
		if _, ok := msg[k]; ok {
			msg[k] = v
		}
	}
	msg[KeyMsgID] = NewMessageID()
	msg[KeyTS] = g.now().UnixMilli()
	return msg
}

func (g *Generator) value(f fleetspec.Field) any {
	prev, seen := g.last[f.Name]
	switch f.Type {
	case fleetspec.TypeNumber, fleetspec.TypeInteger:
		lo, hi := bounds(f)
		var x float64
		if p, ok := prev.(float64); ok && seen {
			// Step up to 5% of the range either way.
			x = p + (g.rnd.Float64()*2-1)*0.05*(hi-lo)
		} else if p, ok := prev.(int64); ok && seen {
			x = float64(p) + (g.rnd.Float64()*2-1)*0.05*(hi-lo)
		} else {
			x = lo + g.rnd.Float64()*(hi-lo)
		}
		x = math.Min(hi, math.Max(lo, x))
		if f.Type == fleetspec.TypeInteger {
			n := int64(math.Round(x))
			// Rounding may cross a fractional bound; stay inside.
			if float64(n) > hi {
				n = int64(math.Floor(hi))
			}
			if float64(n) < lo {
				n = int64(math.Ceil(lo))
			}
			return n
		}
		return math.Round(x*100) / 100
	case fleetspec.TypeBoolean:
		if p, ok := prev.(bool); ok && g.rnd.IntN(10) != 0 {
			return p
		}
		return g.rnd.IntN(2) == 1
	case fleetspec.TypeString:
		if len(f.Enum) > 0 {
			if p, ok := prev.(string); ok && g.rnd.IntN(5) != 0 {
				return p
			}
			return f.Enum[g.rnd.IntN(len(f.Enum))]
		}
		return g.randomString(f)
	}
	return nil
}

// bounds returns a field's inclusive range, filling an open side with defaultSpan.
func bounds(f fleetspec.Field) (lo, hi float64) {
	switch {
	case f.Min != nil && f.Max != nil:
		lo, hi = *f.Min, *f.Max
	case f.Min != nil:
		lo, hi = *f.Min, *f.Min+defaultSpan
	case f.Max != nil:
		lo, hi = *f.Max-defaultSpan, *f.Max
	default:
		lo, hi = 0, defaultSpan
	}
	if f.Type == fleetspec.TypeInteger {
		// An integer field's bounds may be fractional; keep at least one integer inside.
		if math.Ceil(lo) <= math.Floor(hi) {
			lo, hi = math.Ceil(lo), math.Floor(hi)
		}
	}
	if hi < lo {
		hi = lo
	}
	return lo, hi
}

const alphabet = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"

// randomString makes a plate-like token, short enough for any MaxLength of at least 1.
func (g *Generator) randomString(f fleetspec.Field) string {
	n := 8
	if f.MaxLength > 0 && f.MaxLength < n {
		n = f.MaxLength
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[g.rnd.IntN(len(alphabet))]
	}
	return string(b)
}

// NewMessageID returns a random 128-bit id in UUID version 4 form.
func NewMessageID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
