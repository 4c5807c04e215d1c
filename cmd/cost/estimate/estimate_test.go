package estimate

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/secure-smart-city/platform/lambdas/telemetry/pipeline"
)

func fixture(t *testing.T) (map[string]Template, Figures, PriceTable) {
	t.Helper()
	tmpls, err := ReadDir(filepath.Join("testdata", "fixture"), "test")
	if err != nil {
		t.Fatal(err)
	}
	fig, err := LoadFigures(filepath.Join("testdata", "figures.json"))
	if err != nil {
		t.Fatal(err)
	}
	prices, err := Prices("us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	return tmpls, fig, prices
}

func estimateFixture(t *testing.T, tmpls map[string]Template, fig Figures, prices PriceTable) Result {
	t.Helper()
	inv, err := Read(tmpls)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Estimate(inv, fig, prices, Params{Devices: 1000, PerMinute: 1, Bytes: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func byComponent(lines []Line) map[string]float64 {
	m := map[string]float64{}
	for _, l := range lines {
		m[l.Component] += l.USD
	}
	return m
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-6*math.Max(1, math.Abs(b)) }

// TestHandChecked pins the fixture's estimate, worked out by hand (us-east-1 prices):
// 1,000 devices x 1/min x 1,000 B = 43.2 million messages in 30 days, 16.67 a second.
func TestHandChecked(t *testing.T) {
	tmpls, fig, prices := fixture(t)
	r := estimateFixture(t, tmpls, fig, prices)
	const gb = 1 << 30
	reasons := float64(len(pipeline.Reasons))
	want := map[string]float64{
		"IoT Core connectivity": 43.2e6 * 0.08 / 1e6, // 1,000 x 43,200 minutes
		"IoT Core messaging":    0,                   // the rule has no FROM: Basic Ingest only
		"IoT rules triggered":   43.2e6 * 0.15 / 1e6,
		"IoT rule actions":      43.2e6 * 0.15 / 1e6,
		// 1,000 B + ,"topic":"<110>" (121 B) = 1,121 B: rounded to 2 KB per record.
		"Kinesis on-demand data in":      43.2e6 * 2 / (1 << 20) * 0.08,
		"Kinesis on-demand data out":     43.2e6 * 2 / (1 << 20) * 0.04,
		"Kinesis on-demand stream-hours": 720 * 0.04,
		// 4 base shards: 4.17 records per shard a second, so batches of 4: 10.8 million
		// invocations of ceil(4 x 2 ms) = 8 ms at 512 MB.
		"telemetry processor requests": 10.8e6 * 0.20 / 1e6,
		"telemetry processor duration": 10.8e6 * 0.008 * 0.5 * 0.0000133334,
		// 1,000 B state items: 1 WRU each.
		"DynamoDB State writes": 43.2e6 * 0.625 / 1e6,
		"DynamoDB State reads":  0,
		// One 1,000 B state item per device, plus DynamoDB's 100 B per item; PITR on the same.
		"DynamoDB State storage":                1000 * 1100.0 / gb * 0.25,
		"DynamoDB State point-in-time recovery": 1000 * 1100.0 / gb * 0.20,
		"S3 archive PUTs":                       10.8e6 * 0.005 / 1000,
		"S3 archive storage":                    43.2e6 * 1000 * 0.3 / gb * 0.023,
		"KMS customer-managed keys":             1,
		// Services: 4 credentials per shard x 4 shards x 12 an hour x 720 hours.
		"KMS requests": 4 * 4 * 12 * 720 * 0.03 / 10000,
		// 6 metrics for the class and for "unknown", no districts, Rejected per reason.
		"CloudWatch custom metrics": (6*2 + reasons) * 0.30,
		"CloudWatch alarms":         0.10,
		// 350 B of platform lines and one 500 B metric line per invocation, ingested and stored.
		"CloudWatch Logs, processor":                 10.8e6 * 850 / gb * (0.50 + 0.03),
		"per-request resources idle in steady state": 0,
		"unpriced resource":                          0,
	}
	got := byComponent(r.Platform)
	for c, w := range want {
		g, ok := got[c]
		if !ok {
			t.Errorf("platform line %q missing", c)
			continue
		}
		if !near(g, w) {
			t.Errorf("platform %q = %.6f, want %.6f", c, g, w)
		}
	}
	for c := range got {
		if _, ok := want[c]; !ok {
			t.Errorf("unexpected platform line %q", c)
		}
	}
	var total float64
	for _, w := range want {
		total += w
	}
	if !near(r.PlatformUSD, total) {
		t.Errorf("platform total %.6f, want %.6f", r.PlatformUSD, total)
	}
	wantPattern := map[string]float64{
		"IoT Core connectivity":     43.2e6 * 0.08 / 1e6,
		"IoT Core messaging":        43.2e6 * 1.00 / 1e6, // one 5 KB unit each, first tier
		"IoT rules triggered":       43.2e6 * 0.15 / 1e6,
		"IoT rule actions (Lambda)": 43.2e6 * 0.15 / 1e6,
		"Lambda requests":           43.2e6 * 0.20 / 1e6,
		"Lambda duration":           43.2e6 * 0.002 * 0.125 * 0.0000133334, // 2 ms at 128 MB
		"DynamoDB on-demand writes": 43.2e6 * 0.625 / 1e6,
	}
	gotPattern := byComponent(r.PerMessage)
	var patternTotal float64
	for c, w := range wantPattern {
		patternTotal += w
		if !near(gotPattern[c], w) {
			t.Errorf("per-message %q = %.6f, want %.6f", c, gotPattern[c], w)
		}
	}
	if len(gotPattern) != len(wantPattern) {
		t.Errorf("per-message lines %v, want %d", gotPattern, len(wantPattern))
	}
	if !near(r.PerMessageUSD, patternTotal) || !near(r.Ratio, total/patternTotal) {
		t.Errorf("per-message total %.6f ratio %.6f, want %.6f and %.6f", r.PerMessageUSD, r.Ratio, patternTotal, total/patternTotal)
	}
}

func TestUnknownTypeIsUnpricedWithWarning(t *testing.T) {
	tmpls, fig, prices := fixture(t)
	r := estimateFixture(t, tmpls, fig, prices)
	var line *Line
	for i, l := range r.Platform {
		if l.Unpriced {
			line = &r.Platform[i]
		}
	}
	if line == nil || !strings.Contains(line.Usage, "SmartCity-test-Main/Box (AWS::EC2::Instance)") {
		t.Fatalf("no unpriced line naming the EC2 instance: %+v", r.Platform)
	}
	if len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "AWS::EC2::Instance") {
		t.Errorf("warnings %q, want one naming AWS::EC2::Instance", r.Warnings)
	}
	var b strings.Builder
	if err := WriteTable(&b, r); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !strings.Contains(out, "unpriced") || !strings.Contains(out, "warning: unpriced resource type") {
		t.Errorf("table does not show the unpriced resource:\n%s", out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "ratio ") {
		t.Errorf("last line %q, want ratio <x>", last)
	}
}

// resource returns a fixture resource's properties for a test to change.
func props(t *testing.T, tmpls map[string]Template, id string) map[string]any {
	t.Helper()
	res := tmpls["SmartCity-test-Main"]["Resources"].(map[string]any)
	return res[id].(map[string]any)["Properties"].(map[string]any)
}

func TestKnownTypeUnreadableIsAnError(t *testing.T) {
	for _, tc := range []struct {
		id, field string
		value     any
		want      string
	}{
		{"Stream", "StreamModeDetails", map[string]any{"StreamMode": map[string]any{"Ref": "Mode"}}, "SmartCity-test-Main/Stream (AWS::Kinesis::Stream): cannot read StreamModeDetails.StreamMode"},
		{"Processor", "MemorySize", map[string]any{"Ref": "Memory"}, "SmartCity-test-Main/Processor (AWS::Lambda::Function): cannot read MemorySize"},
		{"State", "BillingMode", "SOMETIMES", "SmartCity-test-Main/State (AWS::DynamoDB::Table): cannot read BillingMode"},
		{"Mapping", "BatchSize", "many", "SmartCity-test-Main/Mapping (AWS::Lambda::EventSourceMapping): cannot read BatchSize"},
	} {
		t.Run(tc.id, func(t *testing.T) {
			tmpls, _, _ := fixture(t)
			props(t, tmpls, tc.id)[tc.field] = tc.value
			_, err := Read(tmpls)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestProvisionedStream(t *testing.T) {
	tmpls, fig, prices := fixture(t)
	p := props(t, tmpls, "Stream")
	p["StreamModeDetails"] = map[string]any{"StreamMode": "PROVISIONED"}
	p["ShardCount"] = 2.0
	got := byComponent(estimateFixture(t, tmpls, fig, prices).Platform)
	if w := 2 * 720 * 0.015; !near(got["Kinesis provisioned shard-hours"], w) {
		t.Errorf("shard-hours %.6f, want %.6f", got["Kinesis provisioned shard-hours"], w)
	}
	// 1,121 B records: one 25 KB PUT payload unit each.
	if w := 43.2e6 * 0.014 / 1e6; !near(got["Kinesis PUT payload units"], w) {
		t.Errorf("PUT payload units %.6f, want %.6f", got["Kinesis PUT payload units"], w)
	}
	if _, ok := got["Kinesis on-demand data in"]; ok {
		t.Error("a provisioned stream is priced as on-demand")
	}
	// 2 shards: 8.33 records per shard a second, batches of 8.
	if w := 43.2e6 / 8 * 0.20 / 1e6; !near(got["telemetry processor requests"], w) {
		t.Errorf("processor requests %.6f, want %.6f", got["telemetry processor requests"], w)
	}
	delete(p, "ShardCount")
	if _, err := Read(tmpls); err == nil || !strings.Contains(err.Error(), "ShardCount") {
		t.Errorf("provisioned stream without ShardCount: error %v, want one naming ShardCount", err)
	}
}

func TestProvisionedTableWithTargetTracking(t *testing.T) {
	tmpls, fig, prices := fixture(t)
	p := props(t, tmpls, "State")
	p["BillingMode"] = "PROVISIONED"
	p["ProvisionedThroughput"] = map[string]any{"ReadCapacityUnits": 5.0, "WriteCapacityUnits": 5.0}
	res := tmpls["SmartCity-test-Main"]["Resources"].(map[string]any)
	for _, dim := range []string{"Write", "Read"} {
		res[dim+"Target"] = map[string]any{"Type": "AWS::ApplicationAutoScaling::ScalableTarget", "Properties": map[string]any{
			"ResourceId":        map[string]any{"Fn::Join": []any{"", []any{"table/", map[string]any{"Ref": "State"}}}},
			"ScalableDimension": "dynamodb:table:" + dim + "CapacityUnits", "MinCapacity": 5.0, "MaxCapacity": 40000.0,
		}}
		res[dim+"Policy"] = map[string]any{"Type": "AWS::ApplicationAutoScaling::ScalingPolicy", "Properties": map[string]any{
			"ScalingTargetId":                          map[string]any{"Ref": dim + "Target"},
			"TargetTrackingScalingPolicyConfiguration": map[string]any{"TargetValue": 70.0},
		}}
	}
	got := byComponent(estimateFixture(t, tmpls, fig, prices).Platform)
	// 16.67 WRU a second at 70%: 24 WCU; no reads: the 5 RCU minimum.
	if w := 24 * 720 * 0.00065; !near(got["DynamoDB State write capacity"], w) {
		t.Errorf("write capacity %.6f, want %.6f", got["DynamoDB State write capacity"], w)
	}
	if w := 5 * 720 * 0.00013; !near(got["DynamoDB State read capacity"], w) {
		t.Errorf("read capacity %.6f, want %.6f", got["DynamoDB State read capacity"], w)
	}
	delete(res, "WritePolicy")
	if _, err := Read(tmpls); err == nil || !strings.Contains(err.Error(), "WriteTarget") {
		t.Errorf("scalable target without policy: error %v, want one naming WriteTarget", err)
	}
}

func TestIoTMessagingTiers(t *testing.T) {
	prices, err := Prices("us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	// 6 billion: 1 billion at $1.00, 4 billion at $0.80, 1 billion at $0.70 per million.
	if got, want := prices.cost(PriceIoTMessage, 6e9), 1000+3200+700.0; !near(got, want) {
		t.Errorf("6 billion messages cost %.2f, want %.2f", got, want)
	}
	if got, want := prices.cost(PriceCWMetric, 20000), 10000*0.30+10000*0.10; !near(got, want) {
		t.Errorf("20,000 metrics cost %.2f, want %.2f", got, want)
	}
}

func TestPriceTables(t *testing.T) {
	if _, err := Prices("mars-north-1"); err == nil || !strings.Contains(err.Error(), `"mars-north-1"`) {
		t.Errorf("unknown region: error %v, want one naming it", err)
	}
	keys := AllPriceKeys()
	for region, tbl := range priceTables {
		if tbl.Region != region || tbl.Date == "" {
			t.Errorf("table %s: region %q date %q", region, tbl.Region, tbl.Date)
		}
		for _, k := range keys {
			p, ok := tbl.Prices[k]
			if !ok {
				t.Errorf("%s: no price %s", region, k)
				continue
			}
			if p.USD <= 0 || p.Per <= 0 || p.Source == "" || p.Unit == "" {
				t.Errorf("%s %s: %+v: want a positive price, its unit and its source", region, k, p)
			}
		}
	}
}

func TestFiguresFromBench(t *testing.T) {
	fig, err := LoadFigures(filepath.Join("testdata", "figures.json"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join("testdata", "bench.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	if err := fig.UpdateFromBench(f); err != nil {
		t.Fatal(err)
	}
	if fig.NsPerMessage != 14084 || fig.KMSRequestsPer10k != 1 || fig.S3PutsPerBatch != 1 {
		t.Errorf("figures %+v, want the maximum over the batch benchmarks of their medians (14084 ns, 1 KMS, 1 PUT)", fig)
	}
	if strings.Join(fig.Benchmarks, ",") != "BenchmarkBatchStreetLight,BenchmarkBatchCameraSensitive" {
		t.Errorf("benchmarks %q", fig.Benchmarks)
	}
	// The DynamoDB operations come from the benchmark's counts.
	wantWrites := []ItemOp{{Item: "state", PerMessage: 1, PayloadSized: true, Bytes: 590}}
	wantReads := []ItemOp{{Item: "state", PerMessage: 0, PayloadSized: true, Bytes: 590, Consistent: true}}
	if diff := cmp.Diff(wantWrites, fig.DynamoWrites); diff != "" {
		t.Errorf("writes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantReads, fig.DynamoReads); diff != "" {
		t.Errorf("reads (-want +got):\n%s", diff)
	}
	// Medians over runs: one slow run on a busy machine does not move the figure.
	const rest = " 0 kms-req/10k-msgs 1 s3-puts/batch 1 ddb-writes/msg 0 ddb-reads/msg 500 state-overhead-bytes\n"
	if err := fig.UpdateFromBench(strings.NewReader("BenchmarkBatchA-2 9 100 ns/msg" + rest +
		"BenchmarkBatchA-2 9 900 ns/msg" + rest + "BenchmarkBatchA-2 9 120 ns/msg" + rest)); err != nil {
		t.Fatal(err)
	}
	if fig.NsPerMessage != 120 {
		t.Errorf("ns/msg %v, want the median 120", fig.NsPerMessage)
	}
	// A benchmark that does not count DynamoDB operations cannot update the figures.
	err = fig.UpdateFromBench(strings.NewReader("BenchmarkBatchX-2  10  5 ns/msg  0 kms-req/10k-msgs  1 s3-puts/batch\n"))
	if err == nil || !strings.Contains(err.Error(), "ddb-writes/msg") {
		t.Errorf("missing write count: error %v", err)
	}
	if err := fig.UpdateFromBench(strings.NewReader("BenchmarkBatchX-2  10  5 ns/msg\n")); err == nil || !strings.Contains(err.Error(), "kms-req/10k-msgs") {
		t.Errorf("missing metric: error %v", err)
	}
}

func TestFiguresErrors(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{`{"nsPerMessage": 1, "bogus": 1}`, `unknown field "bogus"`},
		{`{"nsPerMessage": -1}`, "nsPerMessage: -1"},
		{`{"kmsRequestsPer10kMessages": 1}`, "nsPerMessage is missing"},
		{`{"nsPerMessage": 1, "dynamoWrites": [{"item": "marker", "perMessage": 1}]}`, `dynamoWrites[0] ("marker"): bytes is required`},
	} {
		if _, err := ParseFigures("f.json", []byte(tc.body)); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "f.json") {
			t.Errorf("%s: error %v, want %q and the file name", tc.body, err, tc.want)
		}
	}
}

// TestCommittedFigures: the committed figures file is what `make cost` reads.
func TestCommittedFigures(t *testing.T) {
	fig, err := LoadFigures(filepath.Join("..", "..", "..", "bench", "telemetry.json"))
	if err != nil {
		t.Fatal(err)
	}
	if fig.WritesPerMessage() <= 0 || fig.NsPerMessage <= 0 {
		t.Errorf("figures %+v", fig)
	}
}

func TestPlot(t *testing.T) {
	tmpls, fig, prices := fixture(t)
	inv, err := Read(tmpls)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Sweep(inv, fig, prices, Params{PerMinute: 1, Bytes: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Devices) != 13 || c.Devices[0] != 1000 || c.Devices[12] != 1e6 {
		t.Errorf("fleet sizes %v, want 1k to 1M", c.Devices)
	}
	for i := 1; i < len(c.Devices); i++ {
		if c.PerMessage[i] <= c.PerMessage[i-1] || c.Platform[i] <= c.Platform[i-1] {
			t.Errorf("cost does not grow with the fleet at %v devices", c.Devices[i])
		}
	}
	path := filepath.Join(t.TempDir(), "cost.svg")
	if err := c.Plot(path, "test"); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil || !strings.Contains(string(data), "<svg") {
		t.Errorf("plot: %v, %d bytes", err, len(data))
	}
	if err := c.Plot(filepath.Join(t.TempDir(), "cost.gif"), "test"); err == nil {
		t.Error("a .gif plot was accepted")
	}
}

func TestReplaceSection(t *testing.T) {
	readme := "# x\n\n## Cost\n\n" + SectionBegin + "\nold\n" + SectionEnd + "\n\n## Next\n"
	out, err := ReplaceSection(readme, SectionBegin+"\nnew\n"+SectionEnd+"\n")
	if err != nil {
		t.Fatal(err)
	}
	if want := "# x\n\n## Cost\n\n" + SectionBegin + "\nnew\n" + SectionEnd + "\n\n## Next\n"; out != want {
		t.Errorf("got %q, want %q", out, want)
	}
	if _, err := ReplaceSection("# no markers\n", "x"); err == nil {
		t.Error("a README without markers was accepted")
	}
}

// TestRetainedItemsStorage: items written per message are stored until their TTL.
func TestRetainedItemsStorage(t *testing.T) {
	tmpls, fig, prices := fixture(t)
	fig.DynamoWrites = append(fig.DynamoWrites, ItemOp{Item: "marker", PerMessage: 1, Bytes: 250, RetainedHours: 168})
	got := byComponent(estimateFixture(t, tmpls, fig, prices).Platform)
	// 43.2 million a month kept 168 of 720 hours: 10.08 million markers of 250 + 100 B.
	const gb = 1 << 30
	stored := (1000*1100.0 + 43.2e6*168/720*350) / gb
	if w := stored * 0.25; !near(got["DynamoDB State storage"], w) {
		t.Errorf("storage %.6f, want %.6f", got["DynamoDB State storage"], w)
	}
	// Each marker is a 1 KB write: 2 WRU a message in all.
	if w := 2 * 43.2e6 * 0.625 / 1e6; !near(got["DynamoDB State writes"], w) {
		t.Errorf("writes %.6f, want %.6f", got["DynamoDB State writes"], w)
	}
}
