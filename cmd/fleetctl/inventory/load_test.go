package inventory

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"

	"github.com/secure-smart-city/platform/lambdas/provisioninghook/allowlist"
)

const testTable = "allowlist"

var importTime = time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)

// fakeDB is an in-memory allowlist table. Scan honours segments and pages (a few items per
// page, so the import must follow LastEvaluatedKey); PutItem evaluates the import's condition
// under the lock, as DynamoDB does.
type fakeDB struct {
	mu       sync.Mutex
	items    map[string]map[string]types.AttributeValue
	puts     int
	pageSize int
	// beforePut runs (unlocked) before each PutItem: a concurrent writer.
	beforePut func(serial string)
	putErr    func(serial string) error
	scanErr   error
}

func newFakeDB() *fakeDB {
	return &fakeDB{items: map[string]map[string]types.AttributeValue{}, pageSize: 3}
}

func item(serial, status, thing, class, district, key string) map[string]types.AttributeValue {
	s := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	it := map[string]types.AttributeValue{allowlist.AttrSerial: s(serial), allowlist.AttrStatus: s(status),
		allowlist.AttrClass: s(class), allowlist.AttrDistrict: s(district)}
	if thing != "" {
		it[allowlist.AttrThingName] = s(thing)
	}
	if key != "" {
		it[allowlist.AttrKeyFingerprint] = s(key)
	}
	return it
}

func (f *fakeDB) set(it map[string]types.AttributeValue) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.items[it[allowlist.AttrSerial].(*types.AttributeValueMemberS).Value] = it
}

func (f *fakeDB) snapshot() map[string]map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]map[string]string{}
	for k, it := range f.items {
		m := map[string]string{}
		for a, v := range it {
			m[a] = v.(*types.AttributeValueMemberS).Value
		}
		out[k] = m
	}
	return out
}

func segmentOf(serial string, total int32) int32 {
	h := fnv.New32a()
	h.Write([]byte(serial))
	return int32(h.Sum32() % uint32(total))
}

func (f *fakeDB) Scan(_ context.Context, in *dynamodb.ScanInput, _ ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	if f.scanErr != nil {
		return nil, f.scanErr
	}
	if aws.ToString(in.TableName) != testTable || !aws.ToBool(in.ConsistentRead) {
		return nil, fmt.Errorf("scan: table %q, consistent %v", aws.ToString(in.TableName), aws.ToBool(in.ConsistentRead))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var keys []string
	for k := range f.items {
		if segmentOf(k, *in.TotalSegments) == *in.Segment {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	start := 0
	if in.ExclusiveStartKey != nil {
		last := in.ExclusiveStartKey[allowlist.AttrSerial].(*types.AttributeValueMemberS).Value
		start = sort.SearchStrings(keys, last) + 1
	}
	out := &dynamodb.ScanOutput{}
	for i := start; i < len(keys) && i < start+f.pageSize; i++ {
		out.Items = append(out.Items, f.items[keys[i]])
	}
	if start+f.pageSize < len(keys) {
		out.LastEvaluatedKey = map[string]types.AttributeValue{allowlist.AttrSerial: &types.AttributeValueMemberS{Value: keys[start+f.pageSize-1]}}
	}
	return out, nil
}

func (f *fakeDB) PutItem(_ context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	serial := in.Item[allowlist.AttrSerial].(*types.AttributeValueMemberS).Value
	if f.beforePut != nil {
		f.beforePut(serial)
	}
	if f.putErr != nil {
		if err := f.putErr(serial); err != nil {
			return nil, err
		}
	}
	if aws.ToString(in.ConditionExpression) != "attribute_not_exists(#s)" || in.ExpressionAttributeNames["#s"] != allowlist.AttrSerial {
		return nil, fmt.Errorf("put without the insert-if-absent condition: %q %v", aws.ToString(in.ConditionExpression), in.ExpressionAttributeNames)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.puts++
	if _, ok := f.items[serial]; ok {
		return nil, &types.ConditionalCheckFailedException{Message: aws.String("The conditional request failed")}
	}
	f.items[serial] = in.Item
	return &dynamodb.PutItemOutput{}, nil
}

func (f *fakeDB) GetItem(_ context.Context, in *dynamodb.GetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	if !aws.ToBool(in.ConsistentRead) {
		return nil, errors.New("get: not a consistent read")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return &dynamodb.GetItemOutput{Item: f.items[in.Key[allowlist.AttrSerial].(*types.AttributeValueMemberS).Value]}, nil
}

func rowsN(n int) []Row {
	rows := make([]Row, n)
	for i := range rows {
		rows[i] = Row{Line: i + 2, Serial: fmt.Sprintf("SN-%04d", i), ThingName: fmt.Sprintf("sl-%04d", i),
			Class: "street_light", District: "old_town", KeyFingerprint: fp(i)}
	}
	return rows
}

func config(db DB, progress *bytes.Buffer) Config {
	c := Config{DB: db, Table: testTable, File: "devices.csv", Workers: 4, Now: func() time.Time { return importTime }}
	if progress != nil {
		c.Progress = progress
	}
	return c
}

func TestLoadInsertsThenChangesNothing(t *testing.T) {
	db := newFakeDB()
	rows := rowsN(50)
	res, err := Load(context.Background(), config(db, nil), rows)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Result{Checked: true, Rows: 50, Inserted: 50}, res); diff != "" {
		t.Errorf("first run (-want +got):\n%s", diff)
	}
	got := db.snapshot()["SN-0007"]
	want := map[string]string{"serial": "SN-0007", "status": "allowed", "thingName": "sl-0007", "class": "street_light",
		"district": "old_town", "keyFingerprint": fp(7), "importedAt": "2026-11-30T09:00:00Z"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("item (-want +got):\n%s", diff)
	}

	// A device claims its entry the way the hook does; then the same file is loaded again.
	db.mu.Lock()
	db.items["SN-0003"][allowlist.AttrStatus] = &types.AttributeValueMemberS{Value: allowlist.StatusProvisioned}
	db.items["SN-0003"][allowlist.AttrCertificateID] = &types.AttributeValueMemberS{Value: "cert-3"}
	db.mu.Unlock()
	before, puts := db.snapshot(), db.puts
	cfg := config(db, nil)
	cfg.Now = func() time.Time { return importTime.Add(time.Hour) }
	res, err = Load(context.Background(), cfg, rows)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Result{Checked: true, Rows: 50, Existing: 50, Present: 50, PresentProvisioned: 1}, res); diff != "" {
		t.Errorf("re-run (-want +got):\n%s", diff)
	}
	if db.puts != puts {
		t.Errorf("re-run made %d writes, want none", db.puts-puts)
	}
	if diff := cmp.Diff(before, db.snapshot()); diff != "" {
		t.Errorf("re-run changed the table (-before +after):\n%s", diff)
	}
}

// TestLoadConflictsWriteNothing: every kind of conflict with the table is reported with its
// line, and no row is written, not even the good ones.
func TestLoadConflictsWriteNothing(t *testing.T) {
	db := newFakeDB()
	db.set(item("SN-0001", "provisioned", "sl-0001", "street_light", "harbour", fp(1))) // other district
	db.set(item("OLD-9", "allowed", "sl-0002", "street_light", "old_town", fp(900)))    // thing name taken
	db.set(item("OLD-8", "allowed", "", "camera", "old_town", fp(3)))                   // key taken
	db.set(item("sl-0004", "allowed", "", "street_light", "old_town", fp(901)))         // name = serial
	db.set(item("SN-0005", "allowed", "sl-0005", "street_light", "old_town", ""))       // entry without key
	before := db.snapshot()
	res, err := Load(context.Background(), config(db, nil), rowsN(8))
	checkProblems(t, err, []problem{
		{3, ColSerial, `"SN-0001" is already on the allowlist (status "provisioned") with other values: district "old_town" (table has "harbour")`},
		{4, ColThingName, `"sl-0002": already on the allowlist for serial "OLD-9"`},
		{5, ColKeyFingerprint, `already on the allowlist for serial "OLD-8"`},
		{6, ColThingName, `"sl-0004": already on the allowlist for serial "sl-0004"`},
		{7, ColSerial, `keyFingerprint "` + fp(5) + `" (table has "")`},
	})
	if db.puts != 0 {
		t.Errorf("%d writes despite conflicts", db.puts)
	}
	if diff := cmp.Diff(before, db.snapshot()); diff != "" {
		t.Errorf("table changed (-before +after):\n%s", diff)
	}
	if res.Inserted != 0 || len(res.Conflicts) != 5 || res.Existing != 5 {
		t.Errorf("result %+v", res)
	}
}

func TestLoadDryRun(t *testing.T) {
	db := newFakeDB()
	db.set(item("SN-0000", "provisioned", "sl-0000", "street_light", "old_town", fp(0)))
	cfg := config(db, nil)
	cfg.DryRun = true
	res, err := Load(context.Background(), cfg, rowsN(10))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Result{Checked: true, Rows: 10, Existing: 1, Inserted: 9, Present: 1, PresentProvisioned: 1}, res); diff != "" {
		t.Errorf("dry run (-want +got):\n%s", diff)
	}
	if db.puts != 0 || len(db.snapshot()) != 1 {
		t.Errorf("dry run wrote: %d puts, %d items", db.puts, len(db.snapshot()))
	}
}

// TestLoadLosesRaceSafely: an entry written by someone else between the scan and the put is
// never overwritten; an identical one counts as present, a different one is a conflict.
func TestLoadLosesRaceSafely(t *testing.T) {
	db := newFakeDB()
	db.beforePut = func(serial string) {
		switch serial {
		case "SN-0002":
			db.set(item("SN-0002", "provisioned", "sl-0002", "street_light", "old_town", fp(2)))
		case "SN-0004":
			db.set(item("SN-0004", "allowed", "sl-0004", "camera", "old_town", fp(4)))
		}
	}
	res, err := Load(context.Background(), config(db, nil), rowsN(6))
	checkProblems(t, err, []problem{{6, ColSerial, `class "street_light" (table has "camera")`}})
	if res.Inserted != 4 || res.Present != 1 || res.PresentProvisioned != 1 {
		t.Errorf("result %+v", res)
	}
	snap := db.snapshot()
	if snap["SN-0002"]["status"] != "provisioned" || snap["SN-0004"]["class"] != "camera" {
		t.Errorf("concurrent entries overwritten: %v %v", snap["SN-0002"], snap["SN-0004"])
	}
}

func TestLoadStopsOnFailure(t *testing.T) {
	db := newFakeDB()
	boom := errors.New("throttled for good")
	db.putErr = func(serial string) error {
		if serial >= "SN-0100" {
			return boom
		}
		return nil
	}
	cfg := config(db, nil)
	cfg.Workers = 2
	res, err := Load(context.Background(), cfg, rowsN(1000))
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), `devices.csv:`) || !strings.Contains(err.Error(), `put serial "SN-01`) {
		t.Fatalf("error %v, want the put failure naming line and serial", err)
	}
	if res.Inserted != 100 || len(db.snapshot()) != 100 {
		t.Errorf("inserted %d, table %d, want 100", res.Inserted, len(db.snapshot()))
	}
	// Stopped early: not every remaining row was tried.
	if db.puts >= 1000 {
		t.Errorf("%d puts after a failure", db.puts)
	}

	db.scanErr = boom
	if _, err := Load(context.Background(), cfg, rowsN(1)); !errors.Is(err, boom) || !strings.Contains(err.Error(), "scan allowlist table allowlist") {
		t.Errorf("scan failure: %v", err)
	}
}

func TestLoadProgress(t *testing.T) {
	var out bytes.Buffer
	db := newFakeDB()
	db.pageSize = 1000
	for _, r := range rowsN(60000)[:30000] {
		db.set(item(r.Serial, "allowed", r.ThingName, r.Class, r.District, r.KeyFingerprint))
	}
	if _, err := Load(context.Background(), config(db, &out), rowsN(40000)); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var wrote []string
	for _, l := range lines {
		if strings.HasPrefix(l, "wrote ") {
			wrote = append(wrote, l[strings.LastIndex(l, "("):strings.LastIndex(l, ",")])
		}
	}
	if diff := cmp.Diff([]string{"(10%", "(20%", "(30%", "(40%", "(50%", "(60%", "(70%", "(80%", "(90%", "(100%"}, wrote); diff != "" {
		t.Errorf("write progress (-want +got):\n%s\n%s", diff, out.String())
	}
	if !regexp.MustCompile(`(?m)^read [0-9]+ allowlist entries$`).MatchString(out.String()) {
		t.Errorf("no scan progress line:\n%s", out.String())
	}
	if !regexp.MustCompile(`^wrote 10000/10000 entries \(100%, [0-9]+/s\)$`).MatchString(lines[len(lines)-1]) {
		t.Errorf("last line %q", lines[len(lines)-1])
	}
	if !strings.Contains(out.String(), "read 30000 allowlist entries: done") {
		t.Errorf("scan summary missing:\n%s", out.String())
	}
}
