package pipeline

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/base64"
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
	"github.com/secure-smart-city/platform/lambdas/telemetry/contract"
	"github.com/secure-smart-city/platform/lambdas/telemetry/envelope"
)

// Defaults of Config.
const (
	DefaultMaxAttempts = 6
	DefaultBaseBackoff = 50 * time.Millisecond
	DefaultMaxBackoff  = 2 * time.Second
	DefaultConcurrency = 4
)

// stateSK is the sort key of a thing's state item, its only item in the state table.
const stateSK = "state"

// unknownClass is the Class dimension of records whose class could not be told.
const unknownClass = contract.UnknownClass

// Config configures a Pipeline.
type Config struct {
	// Fleet gives the device classes and districts. Required. Its things, if any, are not
	// used: a record names its own thing, class and district (see RuleKeys).
	Fleet *fleetspec.Fleet
	// RulePrefix prefixes the classes' topic rule names (topics.RuleName(RulePrefix, class)).
	// When a record's topic carries the Basic Ingest prefix, its rule must be the record
	// class's rule. Default: "" - the rule name must end with "_<class>".
	RulePrefix string
	// Table is the state table (pk, sk strings). Required.
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
	// maximum event age. Default: DefaultMaxEventAge (6 h, what constructs/golambda sets).
	MaxEventAge time.Duration
	// MaxAttempts bounds the calls per DynamoDB batch read when keys stay unprocessed.
	// Default: 6.
	MaxAttempts int
	// BaseBackoff and MaxBackoff shape the jittered exponential backoff between those calls.
	// Default: 50 ms and 2 s.
	BaseBackoff, MaxBackoff time.Duration
	// Concurrency bounds parallel DynamoDB reads and S3 calls per invocation. Default: 4.
	Concurrency int
	// StateConcurrency bounds parallel state writes (one UpdateItem per thing with new
	// records) per invocation. Default: DefaultStateConcurrency (32).
	StateConcurrency int

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
	// cache remembers things' items between batches for stateInterval (see thingCache).
	cache stateCache
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
	if cfg.StateConcurrency <= 0 {
		cfg.StateConcurrency = DefaultStateConcurrency
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

	obj  string        // the archive object holding the record once stored
	key  *envelope.Key // the data key its line was sealed with
	line []byte        // a rejected record's line
	// part is the record's accepted partition; store says this attempt writes it there
	// (it is new, or its claim names an object that was never written).
	part  *partition
	store bool
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
	key  partKey
	recs []int
	// name is an accepted object's name (objectName); stored are the records its object
	// holds; exists says a redelivery found the object written already.
	name   string
	stored []int
	exists bool
	lines  []byte
	hash   []byte
	obj    string
	body   []byte
	err    error
}

type batch struct {
	p    *Pipeline
	ctx  context.Context
	s    *scratch
	recs []record
	now  time.Time
	// parts are the accepted partitions; spans the first and last sequence numbers of each
	// thing's valid records (retryFrom).
	parts []*partition
	spans map[string][2]string
	// heads caches HeadObject answers: accepted object key -> exists.
	heads   map[string]bool
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
	b.planAccepted()
	b.writeState()
	b.storeAccepted()
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

// dedupInBatch keeps the first of several records with one (thing, dedup id), and notes
// the span of each thing's valid records.
func (b *batch) dedupInBatch() {
	seen := make(map[dedupKey]struct{}, len(b.recs))
	b.spans = map[string][2]string{}
	for i := range b.recs {
		r := &b.recs[i]
		if r.outcome != pending {
			continue
		}
		if sp, ok := b.spans[r.thing]; !ok {
			b.spans[r.thing] = [2]string{r.seq, r.seq}
		} else {
			b.spans[r.thing] = [2]string{sp[0], r.seq}
		}
		k := dedupKey{r.thing, r.id}
		if _, dup := seen[k]; dup {
			r.outcome = duplicate
			continue
		}
		seen[k] = struct{}{}
	}
}

func str(av ddbtypes.AttributeValue) string {
	if s, ok := av.(*ddbtypes.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

// planAccepted groups the valid records, first of their id in the batch, into one
// partition per (class, hour of receivedAt) and names each partition's object after its
// records (objectName), before writeState claims them in their things' windows.
func (b *batch) planAccepted() {
	parts := map[partKey]*partition{}
	for i := range b.recs {
		r := &b.recs[i]
		if r.outcome != pending || r.err != nil {
			continue
		}
		t := time.UnixMilli(r.msg.receivedAt).UTC()
		y, m, d := t.Date()
		pk := partKey{prefix: "accepted", name: r.msg.class.id, y: y, m: int(m), d: d, hour: t.Hour()}
		part := parts[pk]
		if part == nil {
			part = &partition{key: pk}
			parts[pk] = part
			b.parts = append(b.parts, part)
		}
		part.recs = append(part.recs, i)
		part.hash = append(part.hash, r.thing...)
		part.hash = append(part.hash, 0)
		part.hash = append(part.hash, r.id...)
		part.hash = append(part.hash, 0)
		part.hash = append(part.hash, r.seq...)
		part.hash = append(part.hash, 0)
	}
	for _, part := range b.parts {
		part.name = objectName(part.hash)
		part.obj = acceptedKey(part.key, part.name)
		for _, i := range part.recs {
			b.recs[i].part, b.recs[i].obj = part, part.obj
		}
	}
}

// objectName is an accepted object's name: 128 bits of SHA-256 over its partition's
// records' (thing, dedup id, sequence number), base64url. A retry that forms the same
// partition names the same object; other records never share a name.
func objectName(hash []byte) string {
	sum := sha256.Sum256(hash)
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// acceptedKey is the S3 key of an accepted object.
func acceptedKey(k partKey, name string) string {
	return fmt.Sprintf("accepted/class=%s/dt=%04d-%02d-%02d/hour=%02d/%s.ndjson.gz", k.name, k.y, k.m, k.d, k.hour, name)
}

// recordKey is the key of the accepted object named name in r's partition.
func recordKey(r *record, name string) string {
	t := time.UnixMilli(r.msg.receivedAt).UTC()
	y, m, d := t.Date()
	return acceptedKey(partKey{name: r.msg.class.id, y: y, m: int(m), d: d, hour: t.Hour()}, name)
}

// storeAccepted PUTs each partition's records that writeState claimed (outcome accepted,
// store set). A partition with a record that failed is not written at all: the retry
// claims its records again, and an object never exists without every record its claims
// name, and no object is ever overwritten with fewer records.
func (b *batch) storeAccepted() {
	var todo []*partition
	for _, part := range b.parts {
		for _, i := range part.recs {
			if r := &b.recs[i]; r.err != nil && part.err == nil {
				part.err = fmt.Errorf("%s not written: another of its records failed: %w", part.obj, r.err)
			}
		}
		if part.err == nil {
			for _, i := range part.recs {
				r := &b.recs[i]
				if r.outcome != accepted || !r.store {
					continue
				}
				if cs := r.msg.class; cs.hasSensitive && r.key == nil {
					var err error
					if r.key, err = b.p.keys.Key(b.ctx, r.thing, cs.id); err != nil {
						part.err = err
						break
					}
				}
				part.lines = b.s.lw.appendLine(part.lines, &r.msg, r.seq, r.key)
				part.stored = append(part.stored, i)
			}
		}
		if part.err != nil {
			for _, i := range part.recs {
				b.recs[i].fail(part.err)
			}
			continue
		}
		// An object that exists was written by an attempt with these very records, each
		// claimed or accepted without a write then: it holds them all already.
		if len(part.stored) == 0 || part.exists {
			continue
		}
		todo = append(todo, part)
	}
	b.compress(todo)
	b.put(todo)
	for _, part := range todo {
		if part.err != nil {
			for _, i := range part.recs {
				b.recs[i].fail(part.err)
			}
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
				r.key = key // the archive line seals with it too
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
	LogRejected    = contract.LogRejected
	LogKeyThing    = contract.LogKeyThing
	LogKeyClass    = contract.LogKeyClass
	LogKeyDistrict = contract.LogKeyDistrict
	LogKeyReason   = contract.LogKeyReason
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

// retryFrom is where Lambda must redeliver from, or "": the lowest sequence number of a
// failed record, moved back to the first valid record of every thing that has a valid
// record from that point on, so that a retry sees all of a thing's records of the batch
// again and settles them as this attempt did (the same in-batch duplicates).
func (b *batch) retryFrom() string {
	var low string
	for i := range b.recs {
		r := &b.recs[i]
		if r.err != nil && (low == "" || cmpSeq(r.seq, low) < 0) {
			low = r.seq
		}
	}
	for moved := low != ""; moved; {
		moved = false
		for _, sp := range b.spans {
			if cmpSeq(sp[0], low) < 0 && cmpSeq(sp[1], low) >= 0 {
				low, moved = sp[0], true
			}
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
