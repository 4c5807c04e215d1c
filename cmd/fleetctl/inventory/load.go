package inventory

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/secure-smart-city/platform/lambdas/provisioninghook/allowlist"
)

// DB is the DynamoDB calls an import makes; *dynamodb.Client satisfies it.
type DB interface {
	Scan(ctx context.Context, in *dynamodb.ScanInput, optFns ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
}

// DefaultWorkers is how many PutItem calls (and scan segments) run at once. Measured against
// dynalite with 100,000 rows (see cmd/fleetctl/README.md); against DynamoDB on-demand, 16
// concurrent single-item writes stay far below a new table's 4,000 WCU/s initial burst.
const DefaultWorkers = 16

// Config says where and how to load.
type Config struct {
	DB    DB
	Table string
	// File names the inventory in problems.
	File string
	// DryRun reads the table and reports what would be written, and writes nothing.
	DryRun bool
	// Workers bounds concurrent calls. Default: DefaultWorkers.
	Workers int
	// Progress receives progress lines. Default: none.
	Progress io.Writer
	// Now stamps importedAt. Default: time.Now.
	Now func() time.Time
}

// Result counts what the import did (or, in a dry run, would do).
type Result struct {
	// Checked is true once the table has been read and every row compared with it; the
	// counts below mean nothing before.
	Checked bool
	Rows    int
	// Existing is how many entries the table held before the import.
	Existing int
	// Inserted is the entries written (in a dry run: that would be written).
	Inserted int
	// Present is the rows already on the table with the same values, left untouched;
	// PresentProvisioned is how many of those a device has already claimed.
	Present, PresentProvisioned int
	// Conflicts is every row that disagrees with the table.
	Conflicts Problems
}

// entry is the part of an allowlist item an import compares.
type entry struct {
	serial, status, thingName, class, district, fingerprint string
}

// name is the thing name the hook would use: without a listed name, the serial.
func (e entry) name() string {
	if e.thingName == "" {
		return e.serial
	}
	return e.thingName
}

func entryOf(item map[string]types.AttributeValue) entry {
	s := func(k string) string {
		if v, ok := item[k].(*types.AttributeValueMemberS); ok {
			return v.Value
		}
		return ""
	}
	return entry{serial: s(allowlist.AttrSerial), status: s(allowlist.AttrStatus), thingName: s(allowlist.AttrThingName),
		class: s(allowlist.AttrClass), district: s(allowlist.AttrDistrict), fingerprint: s(allowlist.AttrKeyFingerprint)}
}

// Load puts every row that is not yet on the allowlist, as status "allowed". It first reads
// the whole table, and writes nothing if any row conflicts with it: the same serial with
// another thing name, class, district or key fingerprint, or a thing name or key fingerprint
// that another serial already holds. A row identical to its entry is skipped whatever the
// entry's status, so a provisioned device keeps its status and certificate. Each write is
// conditional on the serial being absent, so an entry that appears between the read and the
// write (another import, or a hand edit) is never overwritten; it is then compared like the
// others. A conflict found that late is reported after the other rows are written.
//
// The returned error is Problems when rows conflict, or the first DynamoDB failure; the Result
// counts what was done either way, and a re-run after a failure finishes the job.
func Load(ctx context.Context, cfg Config, rows []Row) (Result, error) {
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	res := Result{Rows: len(rows)}

	existing, err := scan(ctx, cfg)
	if err != nil {
		return res, err
	}
	res.Existing = len(existing.bySerial)
	res.Checked = true

	var todo []Row
	for _, r := range rows {
		switch p, ok := existing.check(cfg.File, r); {
		case ok && p == nil:
			res.Present++
			if existing.bySerial[r.Serial].status == allowlist.StatusProvisioned {
				res.PresentProvisioned++
			}
		case p != nil:
			res.Conflicts = append(res.Conflicts, *p)
		default:
			todo = append(todo, r)
		}
	}
	if len(res.Conflicts) > 0 {
		return res, res.Conflicts
	}
	if cfg.DryRun {
		res.Inserted = len(todo)
		return res, nil
	}
	late, err := put(ctx, cfg, todo, &res)
	if len(late) > 0 {
		sort.Slice(late, func(i, j int) bool { return late[i].Line < late[j].Line })
		res.Conflicts = late
		if err == nil {
			err = late
		}
	}
	return res, err
}

// table is the allowlist as read before the import.
type table struct {
	bySerial      map[string]entry
	serialByThing map[string]string
	serialByKey   map[string]string
}

// check compares a row with the table: (nil, true) when its identical entry is there,
// (nil, false) when it is absent and free to insert, a problem when it conflicts.
func (t *table) check(file string, r Row) (*Problem, bool) {
	if e, ok := t.bySerial[r.Serial]; ok {
		if p := compare(file, r, e); p != nil {
			return p, false
		}
		return nil, true
	}
	if s, ok := t.serialByThing[r.ThingName]; ok {
		return &Problem{File: file, Line: r.Line, Column: ColThingName,
			Message: fmt.Sprintf("%q: already on the allowlist for serial %q", r.ThingName, s)}, false
	}
	if s, ok := t.serialByKey[r.KeyFingerprint]; ok {
		return &Problem{File: file, Line: r.Line, Column: ColKeyFingerprint,
			Message: fmt.Sprintf("%q: already on the allowlist for serial %q (one key pair, one device)", r.KeyFingerprint, s)}, false
	}
	return nil, false
}

// compare reports how a row differs from the entry under its serial.
func compare(file string, r Row, e entry) *Problem {
	var diffs []string
	for _, f := range []struct{ col, row, table string }{
		{ColThingName, r.ThingName, e.name()}, {ColClass, r.Class, e.class},
		{ColDistrict, r.District, e.district}, {ColKeyFingerprint, r.KeyFingerprint, e.fingerprint},
	} {
		if f.row != f.table {
			diffs = append(diffs, fmt.Sprintf("%s %q (table has %q)", f.col, f.row, f.table))
		}
	}
	if len(diffs) == 0 {
		return nil
	}
	return &Problem{File: file, Line: r.Line, Column: ColSerial, Message: fmt.Sprintf(
		"%q is already on the allowlist (status %q) with other values: %s; an import never changes an entry",
		r.Serial, e.status, strings.Join(diffs, ", "))}
}

// scan reads the whole table with consistent reads, in parallel segments.
func scan(ctx context.Context, cfg Config) (*table, error) {
	segments := cfg.Workers
	var (
		mu      sync.Mutex
		t       = &table{bySerial: map[string]entry{}, serialByThing: map[string]string{}, serialByKey: map[string]string{}}
		read    atomic.Int64
		nextLog atomic.Int64
	)
	const every = 25000
	nextLog.Store(every)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for seg := range segments {
		wg.Go(func() {
			in := &dynamodb.ScanInput{
				TableName:      aws.String(cfg.Table),
				ConsistentRead: aws.Bool(true),
				Segment:        aws.Int32(int32(seg)),
				TotalSegments:  aws.Int32(int32(segments)),
				// Status is read so a summary can count provisioned entries.
				ProjectionExpression: aws.String("#s, #st, #t, #c, #d, #k"),
				ExpressionAttributeNames: map[string]string{
					"#s": allowlist.AttrSerial, "#st": allowlist.AttrStatus, "#t": allowlist.AttrThingName,
					"#c": allowlist.AttrClass, "#d": allowlist.AttrDistrict, "#k": allowlist.AttrKeyFingerprint,
				},
			}
			for {
				out, err := cfg.DB.Scan(ctx, in)
				if err != nil {
					cancel(fmt.Errorf("scan allowlist table %s: %w", cfg.Table, err))
					return
				}
				mu.Lock()
				for _, item := range out.Items {
					e := entryOf(item)
					t.bySerial[e.serial] = e
					t.serialByThing[e.name()] = e.serial
					if e.fingerprint != "" {
						t.serialByKey[e.fingerprint] = e.serial
					}
				}
				mu.Unlock()
				if n := read.Add(int64(len(out.Items))); n >= nextLog.Load() {
					nextLog.Store(n + every)
					fmt.Fprintf(cfg.Progress, "read %d allowlist entries\n", n)
				}
				if len(out.LastEvaluatedKey) == 0 {
					return
				}
				in.ExclusiveStartKey = out.LastEvaluatedKey
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	fmt.Fprintf(cfg.Progress, "read %d allowlist entries: done\n", len(t.bySerial))
	return t, nil
}

// put writes the rows, each only if its serial is absent. It returns the rows that lost that
// race to a conflicting entry, and the first failure.
func put(ctx context.Context, cfg Config, rows []Row, res *Result) (Problems, error) {
	if len(rows) == 0 {
		return nil, nil
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		mu       sync.Mutex
		late     Problems
		done     atomic.Int64
		inserted atomic.Int64
		present  atomic.Int64
		prov     atomic.Int64
		progress = newPercent(cfg.Progress, "wrote", len(rows))
		at       = cfg.Now().UTC().Format(time.RFC3339)
		work     = make(chan Row)
	)
	var wg sync.WaitGroup
	for range min(cfg.Workers, len(rows)) {
		wg.Go(func() {
			for r := range work {
				ok, e, err := putOne(ctx, cfg, r, at)
				switch {
				case err != nil:
					cancel(err)
				case ok:
					inserted.Add(1)
				case compare(cfg.File, r, e) == nil:
					present.Add(1)
					if e.status == allowlist.StatusProvisioned {
						prov.Add(1)
					}
				default:
					mu.Lock()
					late = append(late, *compare(cfg.File, r, e))
					mu.Unlock()
				}
				progress.set(done.Add(1))
			}
		})
	}
feed:
	for _, r := range rows {
		select {
		case work <- r:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	res.Inserted = int(inserted.Load())
	res.Present += int(present.Load())
	res.PresentProvisioned += int(prov.Load())
	return late, context.Cause(ctx)
}

// putOne inserts one entry if its serial is absent; otherwise it returns the entry in the way.
func putOne(ctx context.Context, cfg Config, r Row, at string) (bool, entry, error) {
	s := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	_, err := cfg.DB.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(cfg.Table),
		Item: map[string]types.AttributeValue{
			allowlist.AttrSerial: s(r.Serial), allowlist.AttrStatus: s(allowlist.StatusAllowed),
			allowlist.AttrThingName: s(r.ThingName), allowlist.AttrClass: s(r.Class), allowlist.AttrDistrict: s(r.District),
			allowlist.AttrKeyFingerprint: s(r.KeyFingerprint), allowlist.AttrImportedAt: s(at),
		},
		ConditionExpression:      aws.String("attribute_not_exists(#s)"),
		ExpressionAttributeNames: map[string]string{"#s": allowlist.AttrSerial},
	})
	var taken *types.ConditionalCheckFailedException
	switch {
	case err == nil:
		return true, entry{}, nil
	case !errors.As(err, &taken):
		return false, entry{}, fmt.Errorf("%s:%d: put serial %q: %w", cfg.File, r.Line, r.Serial, err)
	}
	out, err := cfg.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(cfg.Table),
		Key:            map[string]types.AttributeValue{allowlist.AttrSerial: s(r.Serial)},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return false, entry{}, fmt.Errorf("%s:%d: read serial %q after a concurrent write: %w", cfg.File, r.Line, r.Serial, err)
	}
	if len(out.Item) == 0 {
		// Written and deleted again between our two calls: nothing sensible to compare with.
		return false, entry{}, fmt.Errorf("%s:%d: serial %q appeared and vanished during the import; re-run", cfg.File, r.Line, r.Serial)
	}
	return false, entryOf(out.Item), nil
}

// percent prints a progress line each time another tenth of the work is done.
type percent struct {
	w     io.Writer
	verb  string
	total int64
	start time.Time
	mu    sync.Mutex
	shown int64 // last tenth printed
}

func newPercent(w io.Writer, verb string, total int) *percent {
	return &percent{w: w, verb: verb, total: int64(total), start: time.Now()}
}

func (p *percent) set(done int64) {
	tenth := done * 10 / p.total
	p.mu.Lock()
	defer p.mu.Unlock()
	if tenth > p.shown {
		p.shown = tenth
		rate := float64(done) / max(time.Since(p.start).Seconds(), 1e-3)
		fmt.Fprintf(p.w, "%s %d/%d entries (%d%%, %.0f/s)\n", p.verb, done, p.total, tenth*10, rate)
	}
}
