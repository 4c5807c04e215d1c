package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// The deduplication window (see the package comment, "Deduplication").
const (
	// WindowGenerations is how many of a thing's state writes its window remembers: the
	// item keeps the tokens of its last WindowGenerations writes in WindowAttr(0..n-1).
	WindowGenerations = 8
	// windowAttrPrefix names the generations: "w#0" is the newest. '#' cannot occur in a
	// field name, so no class field can collide with them.
	windowAttrPrefix = "w#"
	// maxBlindIDs is the most new ids one conditional write checks in its condition
	// (WindowGenerations clauses each, within DynamoDB's 4 KB expression limit); a thing
	// with more new records in one batch has its item read first.
	maxBlindIDs = 8
	// maxStateRounds bounds the writes per thing per batch: a first, blind one and, when its
	// condition finds a replay or a duplicate, one with what the refusal returned.
	maxStateRounds = 3
	// cacheLimit bounds the things the state hint cache remembers (stateInterval > 0 only).
	cacheLimit = 200_000
	// DefaultStateConcurrency bounds parallel UpdateItem calls per invocation (one per
	// thing with new records).
	DefaultStateConcurrency = 32
)

// WindowAttr is the state item's attribute holding window generation g (0 is the newest).
func WindowAttr(g int) string { return windowAttrPrefix + strconv.Itoa(g) }

// shortHash is 48 bits of SHA-256, base64url: enough to tell apart a thing's few records
// that share one dedup id, or its few archive objects.
func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return base64.RawURLEncoding.EncodeToString(sum[:6])
}

// token is r's window entry, its claim: "<dedup id>/<hash of its sequence number>/<name
// of the object it goes to>" (the object's key follows from the record's class and
// receivedAt). Dedup ids hold none of ' ' and '/' (validMsgID; "s:<digits>").
func token(r *record) string {
	return r.id + "/" + shortHash(r.seq) + "/" + r.part.name
}

// windowEntry is one token's sequence and object hashes.
type windowEntry struct{ seq, obj string }

// parseWindow reads the generations of an item into dedup id -> entries.
func parseWindow(item map[string]ddbtypes.AttributeValue) map[string][]windowEntry {
	w := map[string][]windowEntry{}
	for g := range WindowGenerations {
		for _, tok := range strings.Fields(str(item[WindowAttr(g)])) {
			parts := strings.Split(tok, "/")
			if len(parts) != 3 {
				continue
			}
			w[parts[0]] = append(w[parts[0]], windowEntry{parts[1], parts[2]})
		}
	}
	return w
}

// genOr is generation g of item, " " when absent.
func genOr(item map[string]ddbtypes.AttributeValue, g int) string {
	if v := str(item[WindowAttr(g)]); v != "" {
		return v
	}
	return " "
}

// allGens is every generation of item, space separated.
func allGens(item map[string]ddbtypes.AttributeValue) string {
	var b strings.Builder
	for g := range WindowGenerations {
		b.WriteString(" ")
		b.WriteString(str(item[WindowAttr(g)]))
		b.WriteString(" ")
	}
	return b.String()
}

// thingWrite is one thing's part of a batch's state writes.
type thingWrite struct {
	thing string
	class *classSchema
	// recs are the thing's candidates (valid, first of their id in the batch, archived),
	// in sequence order.
	recs []int
	// old is the stored item once known (from a refused write or a read); known says
	// whether it is (an absent item is known and empty).
	old   map[string]ddbtypes.AttributeValue
	known bool
	// hint is what this environment last saw of the stored state (stateInterval > 0 only).
	hint *thingCache
	// newRecs are the candidates this write stores; state is the one whose fields it
	// writes, or -1 (a window-only write).
	newRecs []int
	state   int
	in      *dynamodb.UpdateItemInput
	// Outcome of the call.
	refused bool
	item    map[string]ddbtypes.AttributeValue // ALL_OLD when refused, ALL_NEW with a stateInterval
	err     error
	done    bool
}

// thingCache is what this execution environment last saw of a thing's stored state: the
// receivedAt of the message it holds. It is a hint that only decides whether a write carries
// the state's fields (stateInterval > 0); the claims are written on every batch whatever it
// says, so exactly-once never depends on it. The stored receivedAt only grows (a state write
// requires the stored one to be at least stateInterval older), so a stale hint can only make
// a state look due when it is not, which the write's condition then refuses; it never makes
// a due state look not due.
type thingCache struct {
	receivedAt int64
	hasState   bool
}

type stateCache struct {
	mu sync.Mutex
	m  map[string]thingCache
}

func (c *stateCache) get(thing string) *thingCache {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[thing]; ok {
		return &e
	}
	return nil
}

func (c *stateCache) put(thing string, e thingCache) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]thingCache{}
	}
	if _, ok := c.m[thing]; !ok && len(c.m) >= cacheLimit {
		for k := range c.m { // map order: an arbitrary victim
			delete(c.m, k)
			break
		}
	}
	c.m[thing] = e
}

func cacheFromItem(item map[string]ddbtypes.AttributeValue) thingCache {
	var e thingCache
	e.receivedAt, e.hasState = num(item[KeyReceivedAt])
	return e
}

func num(av ddbtypes.AttributeValue) (int64, bool) {
	if n, ok := av.(*ddbtypes.AttributeValueMemberN); ok {
		v, err := strconv.ParseInt(n.Value, 10, 64)
		return v, err == nil
	}
	return 0, false
}

// writeState settles the batch's candidates against each thing's window and writes each
// thing's item at most once (plus once more after a refusal): the new records' tokens,
// and the newest record's fields when it is newer than the stored state and the class's
// stateInterval has passed. It runs after the PUTs, so a token always names an object
// that exists.
func (b *batch) writeState() {
	byThing := map[string]*thingWrite{}
	var order []*thingWrite
	for i := range b.recs {
		r := &b.recs[i]
		if r.outcome != pending || r.thing == "" {
			continue
		}
		tw := byThing[r.thing]
		if tw == nil {
			tw = &thingWrite{thing: r.thing, class: r.msg.class}
			byThing[r.thing] = tw
			order = append(order, tw)
		}
		tw.recs = append(tw.recs, i)
	}
	var todo []*thingWrite
	for _, tw := range order {
		// A thing with a record that failed (its object's PUT, KMS) is retried whole (see
		// retryFrom); writing its other records now would only be undone.
		failed := false
		for _, i := range tw.recs {
			failed = failed || b.recs[i].err != nil
		}
		if failed {
			for _, i := range tw.recs {
				b.recs[i].fail(errors.New("another record of the thing failed"))
			}
			continue
		}
		if tw.class.stateEvery > 0 {
			tw.hint = b.p.cache.get(tw.thing)
		}
		// Too many ids for one condition: read the item first.
		tw.known = len(tw.recs) > maxBlindIDs
		todo = append(todo, tw)
	}
	for round := 0; round < maxStateRounds && len(todo) > 0; round++ {
		b.readUnknown(todo, round > 0)
		b.headClaims(todo)
		var calls []*thingWrite
		for _, tw := range todo {
			if tw.err != nil || tw.done {
				continue
			}
			b.plan(tw)
			if tw.in != nil {
				calls = append(calls, tw)
			}
		}
		forEach(len(calls), b.p.cfg.StateConcurrency, func(i int) {
			tw := calls[i]
			tw.item, tw.refused, tw.err = b.p.updateState(b.ctx, tw.in)
		})
		var again []*thingWrite
		for _, tw := range todo {
			switch {
			case tw.err != nil:
				for _, i := range tw.recs {
					b.recs[i].fail(fmt.Errorf("write state: %w", tw.err))
				}
			case tw.done:
			case tw.refused:
				// The refusal carries the stored item (ALL_OLD); without it, read it.
				tw.old, tw.known = tw.item, tw.item != nil
				tw.in, tw.refused, tw.item = nil, false, nil
				again = append(again, tw)
			default:
				b.stored(tw)
			}
		}
		todo = again
	}
	for _, tw := range todo {
		for _, i := range tw.recs {
			b.recs[i].fail(errors.New("write state: the item kept changing under the condition"))
		}
	}
}

// readUnknown reads the items of the things whose item must be known before writing: many
// new ids (first round) or a refusal that returned no item (later rounds).
func (b *batch) readUnknown(todo []*thingWrite, refusals bool) {
	var keys []itemKey
	for _, tw := range todo {
		if tw.err == nil && !tw.done && tw.old == nil && (tw.known || refusals) {
			keys = append(keys, itemKey{tw.thing, stateSK})
		}
	}
	if len(keys) == 0 {
		return
	}
	found, failed := b.p.readItems(b.ctx, keys, "", nil)
	for _, tw := range todo {
		k := itemKey{tw.thing, stateSK}
		if err := failed[k]; err != nil {
			tw.err = fmt.Errorf("read state: %w", err)
			continue
		}
		if item, ok := found[k]; ok {
			tw.old, tw.known = item, true
		} else if tw.known || refusals {
			tw.old, tw.known = map[string]ddbtypes.AttributeValue{}, true
		}
	}
}

// headClaims asks S3 whether the objects named by the claims of known things' replayed
// records exist (HeadObject; only a 404 means absent).
func (b *batch) headClaims(todo []*thingWrite) {
	var keys []string
	owners := map[string][]*thingWrite{}
	for _, tw := range todo {
		if tw.err != nil || tw.done || !tw.known {
			continue
		}
		window := parseWindow(tw.old)
		for _, i := range tw.recs {
			r := &b.recs[i]
			sh := shortHash(r.seq)
			for _, e := range window[r.id] {
				if e.seq != sh {
					continue
				}
				k := recordKey(r, e.obj)
				if _, seen := owners[k]; !seen {
					if _, done := b.heads[k]; !done {
						keys = append(keys, k)
					}
				}
				owners[k] = append(owners[k], tw)
			}
		}
	}
	exists := make([]bool, len(keys))
	errs := make([]error, len(keys))
	forEach(len(keys), b.p.cfg.Concurrency, func(i int) {
		exists[i], errs[i] = b.p.objectExists(b.ctx, keys[i])
	})
	if b.heads == nil {
		b.heads = map[string]bool{}
	}
	for i, k := range keys {
		if errs[i] != nil {
			for _, tw := range owners[k] {
				tw.err = fmt.Errorf("check archive object: %w", errs[i])
			}
			continue
		}
		b.heads[k] = exists[i]
	}
}

// plan decides tw's write. Unknown item: every candidate is presumed new, and the
// condition refuses the write if any of their ids is in the window (or the state is not
// due). Known item: each candidate is settled against the window (a replay of a stored
// record is accepted again, another record with a stored id is a duplicate), and the write
// is conditioned on the item being unchanged.
func (b *batch) plan(tw *thingWrite) {
	every := tw.class.stateEvery
	var cands []int
	if !tw.known {
		cands = tw.recs
	} else {
		window := parseWindow(tw.old)
		for _, i := range tw.recs {
			r := &b.recs[i]
			entries, seen := window[r.id]
			if !seen {
				cands = append(cands, i)
				continue
			}
			sh, replay, stored := shortHash(r.seq), false, false
			for _, e := range entries {
				if e.seq != sh {
					continue
				}
				// The same stream record (or direct delivery), claimed before: stored if an
				// object a claim names exists, else its attempt failed before the PUT.
				replay = true
				if b.heads[recordKey(r, e.obj)] {
					stored = true
					if e.obj == r.part.name {
						r.part.exists = true
					}
				}
			}
			switch {
			case !replay:
				r.outcome = duplicate
			case stored:
				r.outcome = accepted
			default:
				cands = append(cands, i) // claimed into an object never written: claim again
			}
		}
	}
	if len(cands) == 0 {
		tw.done = true
		return
	}
	newest := cands[0]
	for _, i := range cands[1:] {
		if b.recs[i].msg.ts >= b.recs[newest].msg.ts {
			newest = i
		}
	}
	nr := &b.recs[newest]
	tw.newRecs, tw.state = cands, newest
	switch {
	case tw.known:
		oldTS, hasState := num(tw.old[KeyTS])
		oldRA, _ := num(tw.old[KeyReceivedAt])
		newer := !hasState || nr.msg.ts > oldTS
		due := every == 0 || !hasState || nr.msg.receivedAt-oldRA >= every.Milliseconds()
		if !newer || !due {
			// A backlog message, or a state not due: the ids still enter the window, so a
			// re-send is refused by any execution environment.
			tw.state = -1
		}
	case tw.hint != nil && tw.hint.hasState && nr.msg.receivedAt-tw.hint.receivedAt < every.Milliseconds():
		// Not due by what this environment saw last (never wrong in that direction, see
		// thingCache): a blind claims-only write, so no refusal costs a second write.
		tw.state = -1
	}
	tw.in = b.updateInput(tw, nr)
	if tw.in == nil {
		tw.done = true
	}
}

// stored records a successful write: its records are accepted; with a stateInterval the
// hint cache learns the stored state.
func (b *batch) stored(tw *thingWrite) {
	for _, i := range tw.newRecs {
		b.recs[i].outcome, b.recs[i].store = accepted, true
	}
	if tw.class.stateEvery > 0 && tw.item != nil {
		b.p.cache.put(tw.thing, cacheFromItem(tw.item))
	}
}

// updateInput builds tw's UpdateItem: shift the window generations and put the new tokens
// in the newest; with a state record, SET its metadata and fields and REMOVE the class's
// fields it lacks.
func (b *batch) updateInput(tw *thingWrite, nr *record) *dynamodb.UpdateItemInput {
	x := &exprBuilder{names: map[string]string{}, values: map[string]ddbtypes.AttributeValue{}}
	var set, remove, cond []string
	var toks []string
	fresh := !tw.known
	for _, i := range tw.newRecs {
		r := &b.recs[i]
		toks = append(toks, token(r))
		if tw.known && !strings.Contains(str(tw.old[WindowAttr(0)])+allGens(tw.old), " "+r.id+"/") {
			fresh = true
		}
	}
	switch {
	case !tw.known:
		// Blind: shift the generations as they are.
		empty := x.value(&ddbtypes.AttributeValueMemberS{Value: " "})
		for g := WindowGenerations - 1; g > 0; g-- {
			set = append(set, fmt.Sprintf("%s = if_not_exists(%s, %s)", x.name(WindowAttr(g)), x.name(WindowAttr(g-1)), empty))
		}
		set = append(set, x.name(WindowAttr(0))+" = "+x.value(&ddbtypes.AttributeValueMemberS{Value: " " + strings.Join(toks, " ") + " "}))
	case fresh:
		// Known: shift explicitly.
		for g := WindowGenerations - 1; g > 0; g-- {
			set = append(set, x.name(WindowAttr(g))+" = "+x.value(&ddbtypes.AttributeValueMemberS{Value: genOr(tw.old, g-1)}))
		}
		set = append(set, x.name(WindowAttr(0))+" = "+x.value(&ddbtypes.AttributeValueMemberS{Value: " " + strings.Join(toks, " ") + " "}))
	default:
		// Only claims again of ids the window holds (their objects were never written):
		// added to the newest generation, so retries do not push older ids out.
		set = append(set, x.name(WindowAttr(0))+" = "+x.value(&ddbtypes.AttributeValueMemberS{Value: genOr(tw.old, 0) + strings.Join(toks, " ") + " "}))
	}
	if tw.state >= 0 {
		item, err := b.stateItem(nr)
		if err != nil {
			for _, i := range tw.recs {
				b.recs[i].fail(err)
			}
			return nil
		}
		for k, v := range item {
			if k == AttrPK || k == AttrSK {
				continue
			}
			set = append(set, x.name(k)+" = "+x.value(v))
		}
		for _, k := range []string{KeyMsgID, KeySeq} {
			if _, ok := item[k]; !ok {
				remove = append(remove, x.name(k))
			}
		}
		for _, f := range nr.msg.class.fields {
			if _, ok := item[f.name]; !ok {
				remove = append(remove, x.name(f.name))
			}
		}
	}
	if !tw.known {
		for _, i := range tw.newRecs {
			id := x.value(&ddbtypes.AttributeValueMemberS{Value: " " + b.recs[i].id + "/"})
			for g := range WindowGenerations {
				cond = append(cond, fmt.Sprintf("NOT contains(%s, %s)", x.name(WindowAttr(g)), id))
			}
		}
		if tw.state >= 0 {
			ts := x.name(KeyTS)
			cond = append(cond, fmt.Sprintf("(attribute_not_exists(%s) OR %s < %s)", ts, ts,
				x.value(&ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(nr.msg.ts, 10)})))
			if every := tw.class.stateEvery; every > 0 {
				ra := x.name(KeyReceivedAt)
				cond = append(cond, fmt.Sprintf("(attribute_not_exists(%s) OR %s <= %s)", ra, ra,
					x.value(&ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(nr.msg.receivedAt-every.Milliseconds(), 10)})))
			}
		}
	} else if w0, ok := tw.old[WindowAttr(0)]; ok {
		// Newest generation unchanged: nobody wrote the item since it was read or refused.
		cond = append(cond, x.name(WindowAttr(0))+" = "+x.value(w0))
	} else {
		cond = append(cond, "attribute_not_exists("+x.name(WindowAttr(0))+")")
	}
	update := "SET " + strings.Join(set, ", ")
	if len(remove) > 0 {
		update += " REMOVE " + strings.Join(remove, ", ")
	}
	in := &dynamodb.UpdateItemInput{
		TableName:                           &b.p.cfg.Table,
		Key:                                 keyAttrs(itemKey{tw.thing, stateSK}),
		UpdateExpression:                    &update,
		ConditionExpression:                 ptr(strings.Join(cond, " AND ")),
		ExpressionAttributeNames:            x.names,
		ExpressionAttributeValues:           x.values,
		ReturnValuesOnConditionCheckFailure: ddbtypes.ReturnValuesOnConditionCheckFailureAllOld,
	}
	if tw.class.stateEvery > 0 {
		// No extra capacity is consumed for returned values (UpdateItem API reference).
		in.ReturnValues = ddbtypes.ReturnValueAllNew
	}
	return in
}

// exprBuilder hands out placeholders: every name goes through one, since field names may
// be DynamoDB reserved words.
type exprBuilder struct {
	names  map[string]string
	values map[string]ddbtypes.AttributeValue
	byName map[string]string
}

func (x *exprBuilder) name(n string) string {
	if x.byName == nil {
		x.byName = map[string]string{}
	}
	if p, ok := x.byName[n]; ok {
		return p
	}
	p := "#n" + strconv.Itoa(len(x.names))
	x.names[p] = n
	x.byName[n] = p
	return p
}

func (x *exprBuilder) value(v ddbtypes.AttributeValue) string {
	p := ":v" + strconv.Itoa(len(x.values))
	x.values[p] = v
	return p
}

// updateState runs one conditional UpdateItem. A refused condition is not an error: it
// returns refused and the stored item when DynamoDB returned it (ALL_OLD).
func (p *Pipeline) updateState(ctx context.Context, in *dynamodb.UpdateItemInput) (map[string]ddbtypes.AttributeValue, bool, error) {
	out, err := p.cfg.StateWriter.UpdateItem(ctx, in)
	var ccf *ddbtypes.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return ccf.Item, true, nil
	}
	if err != nil {
		return nil, false, err
	}
	if out == nil {
		return nil, false, errors.New("empty UpdateItem response")
	}
	return out.Attributes, false, nil
}
