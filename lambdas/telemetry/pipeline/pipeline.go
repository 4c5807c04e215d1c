package pipeline

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/secure-smart-city/platform/fleetspec"
	"github.com/secure-smart-city/platform/lambdas/telemetry/envelope"
)

// Defaults of Config.
const (
	DefaultDedupTTL    = 7 * 24 * time.Hour
	DefaultMaxAttempts = 6
	DefaultBaseBackoff = 50 * time.Millisecond
	DefaultMaxBackoff  = 2 * time.Second
	DefaultConcurrency = 4
)

// Sort keys of the state table's items besides dedup markers (markerPrefix + dedup id).
const (
	stateSK      = "state"
	markerPrefix = "msg#"
)

// unknownClass is the Class dimension of records whose class could not be told.
const unknownClass = "unknown"

// Config configures a Pipeline.
type Config struct {
	// Fleet gives the device classes and districts. Required. Its things, if any, are not
	// used: a record names its own thing, class and district (see RuleKeys).
	Fleet *fleetspec.Fleet
	// RulePrefix prefixes the classes' topic rule names (topics.RuleName(RulePrefix, class)).
	// When a record's topic carries the Basic Ingest prefix, its rule must be the record
	// class's rule. Default: "" - the rule name must end with "_<class>".
	RulePrefix string
	// Table is the state table (pk, sk strings; TTL on expiresAt). Required.
	Table string
	// Bucket is the archive bucket. Required.
	Bucket string
	// KeyID is the KMS key for sensitive fields and sensitive rejected payloads. Required.
	KeyID string

	StateReader StateReader
	StateWriter StateWriter
	Objects     ObjectPutter
	Heads       ObjectChecker
	DataKeys    envelope.DataKeyGenerator
	// KeyCache bounds the data key cache. Default: envelope's defaults (5 min, 10,000
	// messages per key).
	KeyCache envelope.Options

	// MaxFutureSkew and MaxPastSkew bound ts against receivedAt. Default: 5 min and 24 h.
	MaxFutureSkew, MaxPastSkew time.Duration
	// ArrivalTolerance bounds receivedAt against the record's Kinesis arrival (stream mode)
	// or, on the late side only beyond MaxEventAge, against the invocation (direct mode).
	// Default: DefaultArrivalTolerance (1 min).
	ArrivalTolerance time.Duration
	// MaxEventAge is the oldest a direct-mode (asynchronous) delivery can be: the function's
	// maximum event age. Default: DefaultMaxEventAge (6 h, what constructs/processor sets).
	MaxEventAge time.Duration
	// DedupTTL is how long a dedup marker lives; it must exceed the stream's retention so a
	// redelivered record still finds its marker. Default: 7 days.
	DedupTTL time.Duration
	// MaxAttempts bounds the calls per DynamoDB batch when items stay unprocessed. Default: 6.
	MaxAttempts int
	// BaseBackoff and MaxBackoff shape the jittered exponential backoff between those calls.
	// Default: 50 ms and 2 s.
	BaseBackoff, MaxBackoff time.Duration
	// Concurrency bounds parallel DynamoDB and S3 calls per invocation. Default: 4.
	Concurrency int

	// Logger receives structured logs. Default: JSON to stderr.
	Logger *slog.Logger
	// Metrics receives CloudWatch embedded metric format lines. Default: stdout.
	Metrics io.Writer
	// Now and Sleep are the clock. Default: time.Now and a context-aware timer.
	Now   func() time.Time
	Sleep func(context.Context, time.Duration) error
}

// Pipeline validates, deduplicates, archives and stores telemetry batches. It is safe for
// concurrent use.
type Pipeline struct {
	cfg       Config
	schema    *schema
	v         *validator
	keys      *envelope.Cache
	pool      sync.Pool
	metricsMu sync.Mutex
}

// New checks cfg and compiles the fleet.
func New(cfg Config) (*Pipeline, error) {
	var missing []string
	for name, ok := range map[string]bool{
		"Table": cfg.Table != "", "Bucket": cfg.Bucket != "", "KeyID": cfg.KeyID != "",
		"StateReader": cfg.StateReader != nil, "StateWriter": cfg.StateWriter != nil,
		"Objects": cfg.Objects != nil, "Heads": cfg.Heads != nil, "DataKeys": cfg.DataKeys != nil,
	} {
		if !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("pipeline config: missing %v", missing)
	}
	s, err := compile(cfg.Fleet, cfg.RulePrefix)
	if err != nil {
		return nil, fmt.Errorf("pipeline config: %w", err)
	}
	if cfg.MaxFutureSkew <= 0 {
		cfg.MaxFutureSkew = DefaultMaxFutureSkew
	}
	if cfg.MaxPastSkew <= 0 {
		cfg.MaxPastSkew = DefaultMaxPastSkew
	}
	if cfg.ArrivalTolerance <= 0 {
		cfg.ArrivalTolerance = DefaultArrivalTolerance
	}
	if cfg.MaxEventAge <= 0 {
		cfg.MaxEventAge = DefaultMaxEventAge
	}
	if cfg.DedupTTL <= 0 {
		cfg.DedupTTL = DefaultDedupTTL
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.BaseBackoff <= 0 {
		cfg.BaseBackoff = DefaultBaseBackoff
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	if cfg.Metrics == nil {
		cfg.Metrics = os.Stdout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleepCtx
	}
	if cfg.KeyCache.Now == nil {
		cfg.KeyCache.Now = cfg.Now
	}
	p := &Pipeline{
		cfg:    cfg,
		schema: s,
		v:      newValidator(s, cfg.MaxFutureSkew, cfg.MaxPastSkew, cfg.ArrivalTolerance, cfg.MaxEventAge),
		keys:   envelope.NewCache(cfg.DataKeys, cfg.KeyID, cfg.KeyCache),
	}
	p.pool.New = func() any { return new(scratch) }
	return p, nil
}

// Handler is the Lambda entry point for a Kinesis event source mapping with
// ReportBatchItemFailures. It never returns an error: records that failed for a transient
// reason come back as one batch item failure, the lowest failed sequence number, from which
// Lambda retries.
func (p *Pipeline) Handler(ctx context.Context, ev events.KinesisEvent) (events.KinesisEventResponse, error) {
	res := p.Process(ctx, ev)
	return events.KinesisEventResponse{BatchItemFailures: res.BatchItemFailures}, nil
}

// Result summarizes one batch. Counts cover the records before the retry point (the first
// failed record); those from it on are Retried and counted when Lambda delivers them again,
// so Received == Accepted + Rejected + Duplicates and Received + Retried == len(records).
type Result struct {
	Received, Accepted, Rejected, Duplicates, Retried int
	// BatchItemFailures holds the lowest failed sequence number, or nothing.
	BatchItemFailures []events.KinesisBatchItemFailure
	// Objects are the S3 keys written.
	Objects []string
}

type outcome uint8

const (
	pending outcome = iota
	accepted
	rejected
	duplicate
)

type record struct {
	seq     string
	data    []byte
	pkey    string
	arrival time.Time
	// thing is the validated thing name (the partition key in stream mode), "" until then.
	thing string

	msg     message
	reason  Reason
	detail  string
	class   string // metrics dimension
	id      string // dedup id: "m:<msgId>" or "s:<seq>"
	outcome outcome
	err     error // transient failure; the record is retried

	markerObj, markerSeq string
	obj                  string        // the archive object holding the record once stored
	key                  *envelope.Key // the data key its line was sealed with
	line                 []byte        // a rejected record's line
}

func (r *record) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

// scratch is per-invocation working memory, pooled across invocations.
type scratch struct {
	dec  decoder
	lw   lineWriter
	vals []int32
	recs []record
	gz   *gzip.Writer
}

type partKey struct {
	prefix, name  string // "accepted"/"rejected", class or reason
	y, m, d, hour int
}

type partition struct {
	key   partKey
	recs  []int
	lines []byte
	hash  []byte
	obj   string
	body  []byte
	err   error
}

type batch struct {
	p    *Pipeline
	ctx  context.Context
	s    *scratch
	recs []record
	now  time.Time
	// stateTS holds each thing's stored state ts (absent: no state item).
	stateTS map[string]int64
	objects []string
}

// Process handles one batch of Kinesis records and reports what happened.
func (p *Pipeline) Process(ctx context.Context, ev events.KinesisEvent) Result {
	return p.process(ctx, ev, false)
}

// process handles a batch; direct says its records come from a topic rule's asynchronous
// invocation rather than a stream (see origin).
func (p *Pipeline) process(ctx context.Context, ev events.KinesisEvent, direct bool) Result {
	start := p.cfg.Now()
	s := p.pool.Get().(*scratch)
	defer func() {
		// Drop references to this batch's data before the scratch waits in the pool.
		clear(s.recs)
		clear(s.dec.members)
		s.dec.data = nil
		p.pool.Put(s)
	}()
	s.vals = s.vals[:0]
	s.dec.reset()
	if cap(s.recs) < len(ev.Records) {
		s.recs = make([]record, len(ev.Records))
	}
	s.recs = s.recs[:len(ev.Records)]
	clear(s.recs)
	b := &batch{p: p, ctx: ctx, s: s, recs: s.recs, now: start}
	b.validate(ev.Records, direct)
	b.dedupInBatch()
	b.lookup()
	b.archiveAccepted()
	b.writeState()
	b.archiveRejected()
	return b.finish(start)
}

func (b *batch) validate(evs []events.KinesisEventRecord, direct bool) {
	for i := range evs {
		r, k := &b.recs[i], &evs[i].Kinesis
		r.seq, r.data, r.pkey, r.arrival = k.SequenceNumber, k.Data, k.PartitionKey, k.ApproximateArrivalTimestamp.Time
		o := origin{direct: direct, partitionKey: r.pkey, arrival: r.arrival.UnixMilli()}
		var reason Reason
		b.s.vals, reason, r.detail = b.p.v.check(&b.s.dec, r.data, &o, &r.msg, b.s.vals)
		r.class = unknownClass
		if r.msg.class != nil {
			r.class = r.msg.class.id
		}
		if reason != "" {
			r.outcome, r.reason = rejected, reason
			continue
		}
		// In stream mode the partition key is the thing name (checked): share its string.
		if r.thing = r.pkey; r.pkey != string(r.msg.thing) {
			r.thing = string(r.msg.thing)
		}
		if r.msg.hasMsgID {
			r.id = "m:" + string(r.msg.msgID)
		} else {
			r.id = "s:" + strconv.FormatInt(r.msg.seq, 10)
		}
	}
}

type dedupKey struct{ thing, id string }

// dedupInBatch keeps the first of several records with one (thing, dedup id).
func (b *batch) dedupInBatch() {
	seen := make(map[dedupKey]struct{}, len(b.recs))
	for i := range b.recs {
		r := &b.recs[i]
		if r.outcome != pending {
			continue
		}
		k := dedupKey{r.thing, r.id}
		if _, dup := seen[k]; dup {
			r.outcome = duplicate
			continue
		}
		seen[k] = struct{}{}
	}
}

func markerKey(r *record) itemKey { return itemKey{r.thing, markerPrefix + r.id} }

// lookup reads the dedup markers of this batch's candidates and the state items of their
// things, then settles each candidate that has a marker: its object exists, so the record is
// stored (a redelivery of the same stream record, counted as accepted now) or a duplicate
// (another record with the same id); or its object does not exist, so the attempt that
// claimed it failed and the record is processed afresh.
func (b *batch) lookup() {
	var keys []itemKey
	things := map[string]bool{}
	for i := range b.recs {
		r := &b.recs[i]
		if r.outcome != pending {
			continue
		}
		keys = append(keys, markerKey(r))
		if !things[r.thing] {
			things[r.thing] = true
			keys = append(keys, itemKey{r.thing, stateSK})
		}
	}
	b.stateTS = map[string]int64{}
	if len(keys) == 0 {
		return
	}
	found, failed := b.p.readItems(b.ctx, keys, "#pk, #sk, #obj, #ss, #ts", map[string]string{
		"#pk": AttrPK, "#sk": AttrSK, "#obj": AttrObject, "#ss": KeyStreamSeq, "#ts": KeyTS,
	})
	for k, item := range found {
		if k.sk == stateSK {
			if n, ok := item[KeyTS].(*ddbtypes.AttributeValueMemberN); ok {
				if ts, err := strconv.ParseInt(n.Value, 10, 64); err == nil {
					b.stateTS[k.pk] = ts
				}
			}
		}
	}
	objs := map[string]int{} // object -> index into exists
	var objList []string
	for i := range b.recs {
		r := &b.recs[i]
		if r.outcome != pending {
			continue
		}
		mk := markerKey(r)
		if err := failed[mk]; err != nil {
			r.fail(fmt.Errorf("read dedup marker: %w", err))
			continue
		}
		if err := failed[itemKey{mk.pk, stateSK}]; err != nil {
			r.fail(fmt.Errorf("read state: %w", err))
			continue
		}
		item, ok := found[mk]
		if !ok {
			continue
		}
		r.markerObj, r.markerSeq = str(item[AttrObject]), str(item[KeyStreamSeq])
		if r.markerObj == "" {
			continue // a marker without an object cannot vouch for anything
		}
		if _, seen := objs[r.markerObj]; !seen {
			objs[r.markerObj] = len(objList)
			objList = append(objList, r.markerObj)
		}
	}
	exists := make([]bool, len(objList))
	errs := make([]error, len(objList))
	forEach(len(objList), b.p.cfg.Concurrency, func(i int) {
		exists[i], errs[i] = b.p.objectExists(b.ctx, objList[i])
	})
	for i := range b.recs {
		r := &b.recs[i]
		if r.outcome != pending || r.err != nil || r.markerObj == "" {
			continue
		}
		j := objs[r.markerObj]
		switch {
		case errs[j] != nil:
			r.fail(fmt.Errorf("check archive object: %w", errs[j]))
		case !exists[j]:
			// The claiming attempt failed before its object was written: store it now.
		case r.markerSeq == r.seq:
			r.outcome, r.obj = accepted, r.markerObj
		default:
			r.outcome = duplicate
		}
	}
}

func str(av ddbtypes.AttributeValue) string {
	if s, ok := av.(*ddbtypes.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

// archiveAccepted writes the new records: one object per (class, hour of receivedAt) with a
// name derived from its content, after claiming each record's dedup marker for that object.
func (b *batch) archiveAccepted() {
	parts := map[partKey]*partition{}
	var order []*partition
	for i := range b.recs {
		r := &b.recs[i]
		if r.outcome != pending || r.err != nil {
			continue
		}
		cs := r.msg.class
		var key *envelope.Key
		if cs.hasSensitive {
			var err error
			if key, err = b.p.keys.Key(b.ctx, r.thing, cs.id); err != nil {
				r.fail(err)
				continue
			}
		}
		t := time.UnixMilli(r.msg.receivedAt).UTC()
		y, m, d := t.Date()
		pk := partKey{prefix: "accepted", name: cs.id, y: y, m: int(m), d: d, hour: t.Hour()}
		part := parts[pk]
		if part == nil {
			part = &partition{key: pk}
			parts[pk] = part
			order = append(order, part)
		}
		r.key = key
		part.lines = b.s.lw.appendLine(part.lines, &r.msg, r.seq, key)
		part.recs = append(part.recs, i)
		part.hash = append(part.hash, r.thing...)
		part.hash = append(part.hash, 0)
		part.hash = append(part.hash, r.id...)
		part.hash = append(part.hash, 0)
	}
	if len(order) == 0 {
		return
	}
	expires := strconv.FormatInt(b.now.Add(b.p.cfg.DedupTTL).Unix(), 10)
	var markers []map[string]ddbtypes.AttributeValue
	owner := map[itemKey]*partition{}
	for _, part := range order {
		part.obj = b.objectKey(part)
		for _, i := range part.recs {
			r := &b.recs[i]
			mk := markerKey(r)
			owner[mk] = part
			item := keyAttrs(mk)
			item[AttrObject] = &ddbtypes.AttributeValueMemberS{Value: part.obj}
			item[KeyStreamSeq] = &ddbtypes.AttributeValueMemberS{Value: r.seq}
			item[AttrExpiresAt] = &ddbtypes.AttributeValueMemberN{Value: expires}
			markers = append(markers, item)
		}
	}
	// Markers first: once an object exists, every record in it has a marker naming it, so a
	// later attempt recognises those records whatever happened after the PUT.
	for k, err := range b.p.writeItems(b.ctx, markers) {
		if part := owner[k]; part != nil && part.err == nil {
			part.err = fmt.Errorf("claim dedup markers: %w", err)
		}
	}
	b.compress(order)
	b.put(order)
	for _, part := range order {
		for _, i := range part.recs {
			r := &b.recs[i]
			if part.err != nil {
				r.fail(part.err)
				continue
			}
			r.outcome, r.obj = accepted, part.obj
		}
	}
}

// objectKey names a partition's object: the partition path, then the first record's
// sequence number and a hash of the records' identities. A retry that stores the same records
// writes the same key, and different sets of records never share one.
func (b *batch) objectKey(part *partition) string {
	sum := sha256.Sum256(part.hash)
	k := part.key
	label := "class"
	if k.prefix == "rejected" {
		label = "reason"
	}
	return fmt.Sprintf("%s/%s=%s/dt=%04d-%02d-%02d/hour=%02d/%s-%s.ndjson.gz",
		k.prefix, label, k.name,
		k.y, k.m, k.d, k.hour, b.recs[part.recs[0]].seq, hex.EncodeToString(sum[:16]))
}

// compress gzips each partition's lines. It runs before the PUTs, which then run in parallel.
func (b *batch) compress(parts []*partition) {
	for _, part := range parts {
		if part.err != nil {
			continue
		}
		var buf bytes.Buffer
		if b.s.gz == nil {
			b.s.gz, _ = gzip.NewWriterLevel(&buf, gzip.BestSpeed) // a valid level never errs
		} else {
			b.s.gz.Reset(&buf)
		}
		_, err := b.s.gz.Write(part.lines)
		if err == nil {
			err = b.s.gz.Close()
		}
		if err != nil {
			part.err = fmt.Errorf("gzip: %w", err)
			continue
		}
		part.body = buf.Bytes()
	}
}

func (b *batch) put(parts []*partition) {
	forEach(len(parts), b.p.cfg.Concurrency, func(i int) {
		part := parts[i]
		if part.err != nil {
			return
		}
		if err := b.p.putObject(b.ctx, part.obj, part.body); err != nil {
			part.err = fmt.Errorf("put %s: %w", part.obj, err)
		}
	})
	for _, part := range parts {
		if part.err == nil {
			b.objects = append(b.objects, part.obj)
		}
	}
}

// writeState writes each thing's newest stored message (by device ts) as its state item,
// unless the stored state is as new. Kinesis delivers a thing's records to one invocation
// at a time (partition key = thing), so this read-compare-write cannot race.
func (b *batch) writeState() {
	best := map[string]int{}
	var order []string
	for i := range b.recs {
		r := &b.recs[i]
		if r.outcome != accepted || r.err != nil {
			continue
		}
		name := r.thing
		j, ok := best[name]
		if !ok {
			order = append(order, name)
		}
		if !ok || r.msg.ts >= b.recs[j].msg.ts {
			best[name] = i
		}
	}
	var items []map[string]ddbtypes.AttributeValue
	owner := map[itemKey]int{}
	for _, name := range order {
		i := best[name]
		r := &b.recs[i]
		if ts, ok := b.stateTS[name]; ok && r.msg.ts <= ts {
			continue
		}
		item, err := b.stateItem(r)
		if err != nil {
			r.fail(err)
			continue
		}
		owner[itemKey{name, stateSK}] = i
		items = append(items, item)
	}
	for k, err := range b.p.writeItems(b.ctx, items) {
		if i, ok := owner[k]; ok {
			b.recs[i].fail(fmt.Errorf("write state: %w", err))
		}
	}
}

// stateItem is a thing's latest state: metadata plus one typed attribute per present field
// (N, S or BOOL; a sensitive field as S holding its envelope JSON).
func (b *batch) stateItem(r *record) (map[string]ddbtypes.AttributeValue, error) {
	cs := r.msg.class
	item := keyAttrs(itemKey{r.thing, stateSK})
	item[KeyClass] = &ddbtypes.AttributeValueMemberS{Value: cs.id}
	item[KeyTS] = &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(r.msg.ts, 10)}
	item[KeyReceivedAt] = &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(r.msg.receivedAt, 10)}
	item[KeyStreamSeq] = &ddbtypes.AttributeValueMemberS{Value: r.seq}
	item[AttrObject] = &ddbtypes.AttributeValueMemberS{Value: r.obj}
	if r.msg.hasMsgID {
		item[KeyMsgID] = &ddbtypes.AttributeValueMemberS{Value: string(r.msg.msgID)}
	}
	if r.msg.hasSeq {
		item[KeySeq] = &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(r.msg.seq, 10)}
	}
	// The line's key serves the state too: one message, one use of the data key.
	key := r.key
	for i := range cs.fields {
		f, v := &cs.fields[i], r.msg.field(i)
		if v == nil {
			continue
		}
		if f.sensitive {
			if key == nil {
				var err error
				if key, err = b.p.keys.Key(b.ctx, r.thing, cs.id); err != nil {
					return nil, err
				}
			}
			plain := appendValue(nil, f, v)
			item[f.name] = &ddbtypes.AttributeValueMemberS{Value: string(b.s.lw.sealer.AppendSeal(nil, key, f.name, plain))}
			continue
		}
		switch f.typ {
		case fleetspec.TypeBoolean:
			item[f.name] = &ddbtypes.AttributeValueMemberBOOL{Value: v.kind == kindTrue}
		case fleetspec.TypeInteger:
			item[f.name] = &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(v.i, 10)}
		case fleetspec.TypeNumber:
			// The format the SDK's attributevalue package uses; number() kept it in range.
			item[f.name] = &ddbtypes.AttributeValueMemberN{Value: strconv.FormatFloat(v.f, 'f', -1, 64)}
		case fleetspec.TypeString:
			s := v.val[1 : len(v.val)-1]
			if v.esc {
				s = unescape(nil, s)
			}
			item[f.name] = &ddbtypes.AttributeValueMemberS{Value: string(s)}
		}
	}
	return item, nil
}

// archiveRejected stores the rejected records before the retry point, one object per
// (reason, hour of arrival). Rejected records at or after it are stored when retried, so
// that a retry does not store them twice.
func (b *batch) archiveRejected() {
	limit := b.retryFrom()
	for i := range b.recs {
		r := &b.recs[i]
		if r.outcome != rejected || limit != "" && cmpSeq(r.seq, limit) >= 0 {
			continue
		}
		rl := rejectLine{reason: r.reason, detail: r.detail, thing: r.pkey, district: r.msg.district, streamSeq: r.seq,
			arrival: r.arrival.UnixMilli(), source: SourcePayload, limit: b.p.schema.maxPayload}
		if r.thing != "" {
			rl.thing = r.thing
		}
		stored := r.msg.payload
		if stored == nil {
			rl.source, stored = SourceRecord, r.data
		}
		cs := r.msg.class
		if cs != nil {
			rl.limit = cs.maxBytes
		}
		var key *envelope.Key
		// A payload whose class is unknown may hold anything, so it is sealed too.
		if cs == nil || cs.hasSensitive {
			ctxThing, ctxClass := rl.thing, unknownClass
			if cs != nil {
				ctxClass = cs.id
			}
			if ctxThing == "" {
				ctxThing = unknownClass
			}
			var err error
			if key, err = b.p.keys.Key(b.ctx, ctxThing, ctxClass); err != nil {
				r.fail(err)
				continue
			}
		}
		if cs != nil {
			rl.class = cs.id
		}
		r.line = b.s.lw.appendRejectLine(nil, &rl, stored, key)
	}
	limit = b.retryFrom()
	parts := map[partKey]*partition{}
	var order []*partition
	for i := range b.recs {
		r := &b.recs[i]
		if r.line == nil || limit != "" && cmpSeq(r.seq, limit) >= 0 {
			continue
		}
		t := r.arrival.UTC()
		y, m, d := t.Date()
		pk := partKey{prefix: "rejected", name: string(r.reason), y: y, m: int(m), d: d, hour: t.Hour()}
		part := parts[pk]
		if part == nil {
			part = &partition{key: pk}
			parts[pk] = part
			order = append(order, part)
		}
		part.lines = append(part.lines, r.line...)
		part.recs = append(part.recs, i)
		part.hash = append(part.hash, r.seq...)
		part.hash = append(part.hash, 0)
	}
	for _, part := range order {
		part.obj = b.objectKey(part)
	}
	b.compress(order)
	b.put(order)
	for _, part := range order {
		if part.err != nil {
			for _, i := range part.recs {
				b.recs[i].fail(part.err)
			}
		}
	}
}

// The structured log of a rejected record: message LogRejected with these keys. Logs
// Insights queries (constructs/ingest.RejectsByThingQuery) depend on them.
const (
	LogRejected    = "telemetry rejected"
	LogKeyThing    = "thing"
	LogKeyClass    = "class"
	LogKeyDistrict = "district"
	LogKeyReason   = "reason"
)

// rejectThing is the thing a reject is attributed to: the validated thing, else the
// partition key, which the rule sets from the authenticated client id (in direct mode, the
// record's clientId); "unknown" when there is neither.
func (b *batch) rejectThing(r *record) string {
	switch {
	case r.thing != "":
		return r.thing
	case r.pkey != "":
		return r.pkey
	}
	return unknownClass
}

// retryFrom is the lowest sequence number of a failed record, or "".
func (b *batch) retryFrom() string {
	var low string
	for i := range b.recs {
		r := &b.recs[i]
		if r.err != nil && (low == "" || cmpSeq(r.seq, low) < 0) {
			low = r.seq
		}
	}
	return low
}

// district is r's District metrics dimension: the fleet district its topic names, or
// unknownClass when it names none (so the dimension's values stay the fleet's).
func (b *batch) district(r *record) string {
	if r.msg.district != "" {
		return r.msg.district
	}
	return unknownClass
}

// cmpSeq orders Kinesis sequence numbers, which are decimal strings of varying length.
func cmpSeq(a, b string) int {
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (b *batch) finish(start time.Time) Result {
	for i := range b.recs {
		if r := &b.recs[i]; r.outcome == pending && r.err == nil {
			// Every stage gives an outcome or an error; should one not, retrying is safe.
			r.fail(errors.New("record without outcome"))
		}
	}
	res := Result{Objects: b.objects}
	limit := b.retryFrom()
	end := b.p.cfg.Now()
	type countKey struct{ class, district string }
	counts := map[countKey]*classCounts{}
	var list []*classCounts
	for i := range b.recs {
		r := &b.recs[i]
		k := countKey{r.class, b.district(r)}
		c := counts[k]
		if c == nil {
			c = &classCounts{class: k.class, district: k.district, rejects: map[Reason]int{}}
			counts[k] = c
			list = append(list, c)
		}
		if limit != "" && cmpSeq(r.seq, limit) >= 0 {
			res.Retried++
			c.retried++
			if r.err != nil {
				b.p.cfg.Logger.Warn("telemetry record failed, will be retried",
					"streamSeq", r.seq, "partitionKey", r.pkey, "error", r.err.Error())
			}
			continue
		}
		res.Received++
		c.received++
		switch r.outcome {
		case accepted:
			res.Accepted++
			c.accepted++
			c.latency = max(c.latency, end.UnixMilli()-r.msg.receivedAt)
		case duplicate:
			res.Duplicates++
			c.duplicates++
		case rejected:
			res.Rejected++
			c.rejected++
			c.rejects[r.reason]++
			// One line per reject with thing, class, district and reason: RejectsByThingQuery
			// (constructs/ingest) counts rejects per thing from these, with no per-thing metric.
			b.p.cfg.Logger.Warn(LogRejected, LogKeyReason, string(r.reason), "detail", r.detail,
				LogKeyThing, b.rejectThing(r), LogKeyClass, r.class, LogKeyDistrict, b.district(r),
				"partitionKey", r.pkey, "streamSeq", r.seq)
		}
	}
	if limit != "" {
		res.BatchItemFailures = []events.KinesisBatchItemFailure{{ItemIdentifier: limit}}
	}
	b.p.emitMetrics(end, list)
	b.p.cfg.Logger.Info("telemetry batch",
		"records", len(b.recs), "accepted", res.Accepted, "rejected", res.Rejected,
		"duplicates", res.Duplicates, "retried", res.Retried, "retryFrom", limit,
		"objects", len(res.Objects), "durationMs", end.Sub(start).Milliseconds())
	return res
}
