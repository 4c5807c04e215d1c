package pipeline_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/go-cmp/cmp"

	"github.com/secure-smart-city/platform/fleetspec"
	"github.com/secure-smart-city/platform/internal/emulatortest"
	"github.com/secure-smart-city/platform/internal/fakekms"
	"github.com/secure-smart-city/platform/lambdas/telemetry/envelope"
	"github.com/secure-smart-city/platform/lambdas/telemetry/pipeline"
	"github.com/secure-smart-city/platform/topics"
)

func integrationFleet() *fleetspec.Fleet {
	zero, hundred := 0.0, 100.0
	return &fleetspec.Fleet{
		Name: "smartcity",
		Classes: []fleetspec.DeviceClass{
			{ID: "street_light", Fields: []fleetspec.Field{
				{Name: "on", Type: fleetspec.TypeBoolean, Required: true},
				{Name: "brightness", Type: fleetspec.TypeInteger, Min: &zero, Max: &hundred},
				{Name: "lux", Type: fleetspec.TypeNumber, Min: &zero},
			}},
			{ID: "camera", Fields: []fleetspec.Field{
				{Name: "vehicle_count", Type: fleetspec.TypeInteger},
				{Name: "plate_reads", Type: fleetspec.TypeString, Sensitive: true},
			}},
		},
		Districts: []fleetspec.District{{ID: "old_town", Name: "Old town"}},
		// One declared pilot; every other thing below (sl-2, cam-1 and sl-jitp-0042, which
		// JITP would create at run time) is absent from the fleet file.
		Things: []fleetspec.Thing{{Name: "sl-1", Class: "street_light", District: "old_town", Serial: "SN-1"}},
	}
}

// undeclared is a thing provisioned at run time: no fleet file names it.
const undeclared = "sl-jitp-0042"

// TestAgainstEmulators runs batches through the real SDK clients against dynalite and
// s3rver: table and bucket made with the SDK, items and gzip objects read back with it.
func TestAgainstEmulators(t *testing.T) {
	ddbURL := emulatortest.Dynalite(t)
	s3URL := emulatortest.Start(t, "s3rver", func(port int) []string {
		return []string{"--directory", t.TempDir(), "--address", "127.0.0.1", "--port", strconv.Itoa(port), "--silent", "--no-vhost-buckets"}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// s3rver checks signatures made with its fixed credentials; dynalite accepts any.
	awsCfg := aws.Config{Region: "eu-west-1", Credentials: credentials.NewStaticCredentialsProvider("S3RVER", "S3RVER", "")}
	db := dynamodb.NewFromConfig(awsCfg, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(ddbURL) })
	objects := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(s3URL)
		o.UsePathStyle = true
	})
	const table, bucket = "telemetry-state", "telemetry-archive"
	if _, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:   aws.String(table),
		BillingMode: ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{
			{AttributeName: aws.String(pipeline.AttrPK), AttributeType: ddbtypes.ScalarAttributeTypeS},
			{AttributeName: aws.String(pipeline.AttrSK), AttributeType: ddbtypes.ScalarAttributeTypeS},
		},
		KeySchema: []ddbtypes.KeySchemaElement{
			{AttributeName: aws.String(pipeline.AttrPK), KeyType: ddbtypes.KeyTypeHash},
			{AttributeName: aws.String(pipeline.AttrSK), KeyType: ddbtypes.KeyTypeRange},
		},
	}); err != nil {
		t.Fatalf("create table: %v", err)
	}
	if err := dynamodb.NewTableExistsWaiter(db, func(o *dynamodb.TableExistsWaiterOptions) { o.MinDelay = 50 * time.Millisecond }).
		Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}, 30*time.Second); err != nil {
		t.Fatalf("table not active: %v", err)
	}
	if _, err := objects.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("create bucket: %v", err)
	}

	kms := fakekms.New()
	var metrics bytes.Buffer
	p, err := pipeline.New(pipeline.Config{
		Fleet: integrationFleet(), Table: table, Bucket: bucket, KeyID: "alias/telemetry-fields",
		StateReader: db, StateWriter: db, Objects: objects, Heads: objects, DataKeys: kms,
		Logger:  slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Metrics: &metrics,
	})
	if err != nil {
		t.Fatal(err)
	}

	now := time.Now()
	// rec is a record as the class's rule and its Kinesis action make it: the payload,
	// base64-encoded, beside topic, clientId, receivedAt and the class constant, partitioned
	// by clientid().
	rec := func(n int, thing, id, fields string) events.KinesisEventRecord {
		class := "street_light"
		if strings.HasPrefix(thing, "cam-") {
			class = "camera"
		}
		var r events.KinesisEventRecord
		r.Kinesis.SequenceNumber = fmt.Sprintf("4960%052d", n)
		r.Kinesis.PartitionKey = thing
		r.Kinesis.ApproximateArrivalTimestamp = events.SecondsEpochTime{Time: now}
		payload := fmt.Sprintf(`{"msgId":%q,"ts":%d,%s}`, id, now.UnixMilli()-100, fields)
		r.Kinesis.Data = []byte(fmt.Sprintf(`{"payload":%q,"topic":%q,"clientId":%q,"receivedAt":%d,"class":%q}`,
			base64.StdEncoding.EncodeToString([]byte(payload)), topics.TelemetrySuffix("old_town", thing), thing, now.UnixMilli(), class))
		return r
	}
	if _, declared := integrationFleet().Thing(undeclared); declared {
		t.Fatalf("%s must be absent from the fleet file", undeclared)
	}
	// sl-2 stored b0 before (an earlier batch's window): its re-send below is a duplicate,
	// found by the real service's evaluation of the write's condition.
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]ddbtypes.AttributeValue{
		pipeline.AttrPK: &ddbtypes.AttributeValueMemberS{Value: "sl-2"}, pipeline.AttrSK: &ddbtypes.AttributeValueMemberS{Value: pipeline.StateSortKey},
		pipeline.WindowAttr(2): &ddbtypes.AttributeValueMemberS{Value: " m:b0/AAAAAAAA/BBBBBBBB "},
	}}); err != nil {
		t.Fatal(err)
	}

	batch := []events.KinesisEventRecord{
		rec(1, "sl-1", "a1", `"on":true,"brightness":80,"lux":1.5`),
		rec(2, "sl-2", "b1", `"on":false,"brightness":0`),
		rec(3, "cam-1", "c1", `"vehicle_count":4,"plate_reads":"AB-123"`),
		rec(4, "sl-1", "a1", `"on":true,"brightness":80,"lux":1.5`), // duplicate in the batch
		rec(5, "sl-1", "a2", `"on":"yes"`),                          // rejected
	}
	for i := 6; i < 60; i++ { // enough items for several BatchWriteItem calls
		batch = append(batch, rec(i, "sl-1", fmt.Sprint("n", i), fmt.Sprintf(`"on":true,"brightness":%d`, i)))
	}
	batch = append(batch, rec(61, undeclared, "j1", `"on":true,"brightness":42,"lux":7.25`))
	batch = append(batch, rec(62, "sl-2", "b0", `"on":true,"brightness":1`)) // a re-send
	res := p.Process(ctx, events.KinesisEvent{Records: batch})
	if res.Accepted != 58 || res.Duplicates != 2 || res.Rejected != 1 || len(res.BatchItemFailures) != 0 {
		t.Fatalf("first batch: %+v", res)
	}
	if len(res.Objects) != 3 {
		t.Errorf("objects %v: want street_light, camera and one rejected", res.Objects)
	}
	// Redelivery of the batch's start plus a device duplicate in a new record: settled from
	// what the refused conditions return, the objects rewritten in place.
	again := p.Process(ctx, events.KinesisEvent{Records: append(batch[:3:3], rec(60, "cam-1", "c1", `"vehicle_count":4,"plate_reads":"AB-123"`))})
	if again.Accepted != 3 || again.Duplicates != 1 || len(again.BatchItemFailures) != 0 {
		t.Errorf("redelivery: %+v", again)
	}
	if len(again.Objects) != 0 {
		t.Errorf("redelivery wrote objects %v: every record was stored already", again.Objects)
	}

	out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true), Key: map[string]ddbtypes.AttributeValue{
		pipeline.AttrPK: &ddbtypes.AttributeValueMemberS{Value: "sl-2"}, pipeline.AttrSK: &ddbtypes.AttributeValueMemberS{Value: "state"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var state map[string]any
	if err := attributevalue.UnmarshalMap(out.Item, &state); err != nil {
		t.Fatal(err)
	}
	delete(state, "obj")
	if w, _ := state[pipeline.WindowAttr(0)].(string); !strings.Contains(w, " m:b1/") {
		t.Errorf("sl-2 window %q lacks b1", w)
	}
	if w, _ := state[pipeline.WindowAttr(3)].(string); w != " m:b0/AAAAAAAA/BBBBBBBB " {
		t.Errorf("sl-2 window: generation 2 did not move to 3 (got %q)", w)
	}
	for g := range pipeline.WindowGenerations {
		delete(state, pipeline.WindowAttr(g))
	}
	want := map[string]any{
		"pk": "sl-2", "sk": "state", "class": "street_light", "msgId": "b1", "ts": float64(now.UnixMilli() - 100),
		"receivedAt": float64(now.UnixMilli()), "streamSeq": fmt.Sprintf("4960%052d", 2), "on": false, "brightness": 0.0,
	}
	if diff := cmp.Diff(want, state); diff != "" {
		t.Errorf("sl-2 state (-want +got):\n%s", diff)
	}

	// The thing provisioned at run time is served like a declared one: state written.
	out, err = db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true), Key: map[string]ddbtypes.AttributeValue{
		pipeline.AttrPK: &ddbtypes.AttributeValueMemberS{Value: undeclared}, pipeline.AttrSK: &ddbtypes.AttributeValueMemberS{Value: pipeline.StateSortKey},
	}})
	if err != nil {
		t.Fatal(err)
	}
	state = nil
	if err := attributevalue.UnmarshalMap(out.Item, &state); err != nil {
		t.Fatal(err)
	}
	if obj, _ := state["obj"].(string); !strings.HasPrefix(obj, "accepted/class=street_light/") {
		t.Errorf("%s state names object %v, want one under accepted/class=street_light/", undeclared, state["obj"])
	}
	delete(state, "obj")
	for g := range pipeline.WindowGenerations {
		delete(state, pipeline.WindowAttr(g))
	}
	want = map[string]any{
		"pk": undeclared, "sk": "state", "class": "street_light", "msgId": "j1", "ts": float64(now.UnixMilli() - 100),
		"receivedAt": float64(now.UnixMilli()), "streamSeq": fmt.Sprintf("4960%052d", 61), "on": true, "brightness": 42.0, "lux": 7.25,
	}
	if diff := cmp.Diff(want, state); diff != "" {
		t.Errorf("%s (not in the fleet file) state (-want +got):\n%s", undeclared, diff)
	}

	list, err := objects.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	var rejected []map[string]any
	for _, o := range list.Contents {
		get, err := objects.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: o.Key})
		if err != nil {
			t.Fatal(err)
		}
		lines := readGzipLines(t, get.Body)
		for _, l := range lines {
			if l["reason"] != nil {
				rejected = append(rejected, l)
				continue
			}
			ids = append(ids, fmt.Sprint(l["thing"], "/", l["msgId"]))
			if l["thing"] == "cam-1" {
				raw, _ := json.Marshal(l["plate_reads"])
				plain, err := envelope.DecryptJSON(ctx, kms, "plate_reads", raw)
				if err != nil || string(plain) != `"AB-123"` {
					t.Errorf("camera plate_reads decrypts to %s, %v", plain, err)
				}
			}
		}
	}
	sort.Strings(ids)
	var wantIDs []string
	for i := 6; i < 60; i++ {
		wantIDs = append(wantIDs, fmt.Sprint("sl-1/n", i))
	}
	wantIDs = append(wantIDs, "cam-1/c1", "sl-1/a1", "sl-2/b1", undeclared+"/j1")
	sort.Strings(wantIDs)
	if diff := cmp.Diff(wantIDs, ids); diff != "" {
		t.Errorf("archived messages (-want +got):\n%s", diff)
	}
	if len(rejected) != 1 || rejected[0]["reason"] != string(pipeline.ReasonWrongType) {
		t.Errorf("rejected lines %v", rejected)
	}
	if metrics.Len() == 0 {
		t.Error("no metrics written")
	}
}

func readGzipLines(t *testing.T, body io.ReadCloser) []map[string]any {
	t.Helper()
	defer func() {
		if err := body.Close(); err != nil {
			t.Errorf("close object body: %v", err)
		}
	}()
	zr, err := gzip.NewReader(body)
	if err != nil {
		t.Fatalf("not gzip: %v", err)
	}
	var out []map[string]any
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	return out
}

// TestRealFleetsCompile makes sure the platform's own fleet files, as Lambdas read them,
// build a pipeline: no reserved field names, known types, things of known classes.
func TestRealFleetsCompile(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(emulatortest.ModuleRoot(t), "config", "fleet.*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fleet files: %v", err)
	}
	awsCfg := aws.Config{Region: "eu-west-1", Credentials: credentials.NewStaticCredentialsProvider("x", "x", "")}
	db, objects := dynamodb.NewFromConfig(awsCfg), s3.NewFromConfig(awsCfg)
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			f, err := fleetspec.Load(file)
			if err != nil {
				t.Fatal(err)
			}
			data, err := f.RuntimeJSON()
			if err != nil {
				t.Fatal(err)
			}
			runtimeFleet, err := fleetspec.ParseRuntime(data)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := pipeline.New(pipeline.Config{
				Fleet: runtimeFleet, Table: "t", Bucket: "b", KeyID: "k",
				StateReader: db, StateWriter: db, Objects: objects, Heads: objects, DataKeys: fakekms.New(),
			}); err != nil {
				t.Errorf("pipeline.New: %v", err)
			}
		})
	}
}
