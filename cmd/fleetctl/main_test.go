package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"

	"github.com/secure-smart-city/platform/fleetspec"
	"github.com/secure-smart-city/platform/internal/emulatortest"
	"github.com/secure-smart-city/platform/lambdas/provisioninghook/allowlist"
)

func devFleet(t *testing.T) string {
	return filepath.Join(emulatortest.ModuleRoot(t), "config", "fleet.dev.json")
}

func fp(i int) string {
	sum := sha256.Sum256([]byte(fmt.Sprint("device key ", i)))
	return hex.EncodeToString(sum[:])
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// fleetctl runs the command in-process and returns its exit status, stdout and stderr.
func fleetctl(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), args, &stdout, &stderr)
	code := 0
	switch {
	case err == nil:
	case errors.Is(err, errUsage):
		code = 2
	default:
		code = 1
	}
	return code, stdout.String(), stderr.String()
}

// badCSV has a bad class, a bad fingerprint and a duplicate serial, plus good lines.
func badCSV(t *testing.T) (string, []string) {
	p := writeFile(t, "bad.csv", "serial,thingName,class,district,keyFingerprint\n"+
		"SN-1,sl-1,street_light,old_town,"+fp(1)+"\n"+
		"SN-2,sl-2,street_lamp,old_town,"+fp(2)+"\n"+
		"SN-3,sl-3,street_light,harbour,not-a-fingerprint\n"+
		"SN-1,sl-4,camera,university,"+fp(4)+"\n")
	return p, []string{
		"fleetctl: " + p + `:3: class: unknown device class "street_lamp" (fleet file ` + devFleet(t) + " has air_quality, camera, parking, street_light, traffic_signal, waste_bin)",
		"fleetctl: " + p + `:4: keyFingerprint: "not-a-fingerprint": want 64 lowercase hex digits (SHA-256 of the DER SubjectPublicKeyInfo)`,
		"fleetctl: " + p + `:5: serial: "SN-1": duplicate of line 2`,
		"fleetctl: 3 problems; nothing written",
	}
}

// TestBadCSVExitsWithEveryProblem: exit status 1, one line per problem naming line, column and
// value, nothing on stdout, and no call to DynamoDB (the endpoint is a closed port).
func TestBadCSVExitsWithEveryProblem(t *testing.T) {
	file, want := badCSV(t)
	for _, extra := range [][]string{{"--dry-run"}, {"--table", "allowlist", "--endpoint", "http://127.0.0.1:9"}} {
		args := append(append([]string{"allowlist", "import", "--fleet", devFleet(t)}, extra...), file)
		code, stdout, stderr := fleetctl(t, args...)
		if code != 1 || stdout != "" {
			t.Errorf("%v: exit %d, stdout %q; want 1 and nothing", extra, code, stdout)
		}
		if diff := cmp.Diff(want, strings.Split(strings.TrimSpace(stderr), "\n")); diff != "" {
			t.Errorf("%v: stderr (-want +got):\n%s", extra, diff)
		}
	}
}

func TestUsage(t *testing.T) {
	good := writeFile(t, "good.csv", "serial,thingName,class,district,keyFingerprint\nSN-1,sl-x1,camera,harbour,"+fp(1)+"\n")
	for _, tc := range []struct {
		args []string
		code int
		out  string // on stdout or stderr
	}{
		{[]string{}, 2, "usage: fleetctl allowlist import"},
		{[]string{"allowlist", "export"}, 2, "usage:"},
		{[]string{"allowlist", "import"}, 2, "want exactly one CSV file, got 0"},
		{[]string{"allowlist", "import", good, good}, 2, "want exactly one CSV file, got 2"},
		{[]string{"allowlist", "import", "--fleet", "config/fleet.dev.json", good}, 1, "fleet file config/fleet.dev.json"},
		{[]string{"allowlist", "import", "--fleet", devFleet(t), good}, 2, "--table or --outputs is required to write"},
		{[]string{"allowlist", "import", "--fleet", devFleet(t), "--table", "x", "--outputs", "y", good}, 2, "not both"},
		{[]string{"allowlist", "import", "--fleet", devFleet(t), "--workers", "0", good}, 2, "--workers 0"},
		// Flags after the file are read too.
		{[]string{"allowlist", "import", good, "--fleet", devFleet(t), "--dry-run"}, 0, "dry run: would insert up to 1 entries"},
		{[]string{"allowlist", "import", "--fleet", devFleet(t), "missing.csv"}, 1, "open missing.csv"},
	} {
		code, stdout, stderr := fleetctl(t, tc.args...)
		if code != tc.code || !strings.Contains(stdout+stderr, tc.out) {
			t.Errorf("%q: exit %d, output %q; want %d and %q", tc.args, code, stdout+stderr, tc.code, tc.out)
		}
	}
}

func TestTableFromOutputs(t *testing.T) {
	cdkOut := `{"SmartCity-dev-Foundation": {"PublishOutputRefProvisioningAllowlist570E616A17FE7AA8": "SmartCity-dev-Foundation-ProvisioningAllowlist570E616A-1AB2", "PublishOutputRefDeviceState1234": "state"}, "SmartCity-dev-Fleet": {}}`
	cliOut := `[{"OutputKey": "PublishOutputRefProvisioningAllowlist570E616A17FE7AA8", "OutputValue": "from-cli"}, {"OutputKey": "Other", "OutputValue": "x"}]`
	two := `{"SmartCity-dev-Foundation": {"PublishOutputRefProvisioningAllowlistA": "dev-table"}, "SmartCity-prod-Foundation": {"PublishOutputRefProvisioningAllowlistB": "prod-table"}}`
	for _, tc := range []struct{ in, want, err string }{
		{cdkOut, "SmartCity-dev-Foundation-ProvisioningAllowlist570E616A-1AB2", ""},
		{cliOut, "from-cli", ""},
		{`{"SmartCity-dev-Foundation": {"X": "y"}}`, "", "no output PublishOutputRefProvisioningAllowlist*"},
		{two, "", "several allowlist tables (SmartCity-dev-Foundation.PublishOutputRefProvisioningAllowlistA=dev-table, SmartCity-prod-Foundation.PublishOutputRefProvisioningAllowlistB=prod-table)"},
		{`"text"`, "", "neither"},
	} {
		got, err := tableFromOutputs(writeFile(t, "outputs.json", tc.in))
		if got != tc.want || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: got %q, %v; want %q, %q", tc.in, got, err, tc.want, tc.err)
		}
	}
}

// TestAllowlistOutputInFoundationTemplate: the output --outputs looks for is the one the
// synthesized Foundation stack has, and it is the allowlist table's name.
func TestAllowlistOutputInFoundationTemplate(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(emulatortest.ModuleRoot(t), "test", "testdata", "SmartCity-dev-Foundation.template.json"))
	if err != nil {
		t.Fatal(err)
	}
	var tmpl struct {
		Resources map[string]struct{ Type string }
		Outputs   map[string]struct{ Value map[string]any }
	}
	if err := json.Unmarshal(data, &tmpl); err != nil {
		t.Fatal(err)
	}
	var found []string
	for k, o := range tmpl.Outputs {
		if !strings.HasPrefix(k, allowlistOutputPrefix) {
			continue
		}
		found = append(found, k)
		ref, _ := o.Value["Ref"].(string)
		if !strings.HasPrefix(ref, "ProvisioningAllowlist") || tmpl.Resources[ref].Type != "AWS::DynamoDB::Table" {
			t.Errorf("output %s = %v, want a Ref to the ProvisioningAllowlist table", k, o.Value)
		}
	}
	if len(found) != 1 {
		t.Errorf("outputs with prefix %s: %v, want exactly one", allowlistOutputPrefix, found)
	}
}

// createAllowlist makes the table with the Foundation stack's ProvisioningAllowlist key schema
// (partition key "serial", a string; no sort key).
func createAllowlist(ctx context.Context, t *testing.T, db *dynamodb.Client, name string) {
	t.Helper()
	if _, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String(allowlist.AttrSerial), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String(allowlist.AttrSerial), KeyType: types.KeyTypeHash}},
	}); err != nil {
		t.Fatalf("create table: %v", err)
	}
	if err := dynamodb.NewTableExistsWaiter(db, func(o *dynamodb.TableExistsWaiterOptions) { o.MinDelay = 50 * time.Millisecond }).
		Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)}, 30*time.Second); err != nil {
		t.Fatalf("table not active: %v", err)
	}
}

// dump reads the whole table, every attribute, in parallel segments.
func dump(ctx context.Context, t *testing.T, db *dynamodb.Client, table string) map[string]map[string]string {
	t.Helper()
	const segments = 8
	var mu sync.Mutex
	var wg sync.WaitGroup
	out := map[string]map[string]string{}
	errs := make(chan error, segments)
	for seg := range segments {
		wg.Go(func() {
			p := dynamodb.NewScanPaginator(db, &dynamodb.ScanInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true),
				Segment: aws.Int32(int32(seg)), TotalSegments: aws.Int32(segments)})
			for p.HasMorePages() {
				page, err := p.NextPage(ctx)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				for _, it := range page.Items {
					m := map[string]string{}
					for k, v := range it {
						m[k] = v.(*types.AttributeValueMemberS).Value
					}
					out[m[allowlist.AttrSerial]] = m
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("scan: %v", err)
	}
	return out
}

// inventoryCSV writes n devices spread over the dev fleet's classes and districts.
func inventoryCSV(t *testing.T, fleet *fleetspec.Fleet, n int) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "devices.csv")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, "serial,thingName,class,district,keyFingerprint")
	for i := range n {
		c := fleet.Classes[i%len(fleet.Classes)].ID
		d := fleet.Districts[i%len(fleet.Districts)].ID
		fmt.Fprintf(w, "CITY-%07d,dev-%07d,%s,%s,%s\n", i, i, c, d, fp(i))
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestImportAgainstDynalite loads 100,000 devices through the real SDK client into dynalite,
// then proves that a re-run changes nothing, a provisioned entry is not reset, and a bad or
// conflicting file writes nothing. -short uses 10,000 devices.
func TestImportAgainstDynalite(t *testing.T) {
	endpoint := emulatortest.Dynalite(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	db := dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})
	const table = "SmartCity-test-Foundation-ProvisioningAllowlist"
	createAllowlist(ctx, t, db, table)
	fleet, err := fleetspec.Load(devFleet(t))
	if err != nil {
		t.Fatal(err)
	}
	n := 100000
	if testing.Short() {
		n = 10000
	}
	file := inventoryCSV(t, fleet, n)
	args := func(extra ...string) []string {
		return append([]string{"allowlist", "import", "--fleet", devFleet(t), "--table", table, "--endpoint", endpoint}, extra...)
	}
	count := func() int {
		c := 0
		for p := dynamodb.NewScanPaginator(db, &dynamodb.ScanInput{TableName: aws.String(table), Select: types.SelectCount}); p.HasMorePages(); {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			c += int(out.Count)
		}
		return c
	}

	// A bad file: every problem, nothing written.
	bad, wantBad := badCSV(t)
	if code, _, stderr := fleetctl(t, args(bad)...); code != 1 || strings.Count(stderr, "\n") != len(wantBad) {
		t.Errorf("bad CSV: exit %d, stderr:\n%s", code, stderr)
	}
	if c := count(); c != 0 {
		t.Fatalf("bad CSV wrote %d entries", c)
	}

	// Dry run: counts, no writes.
	code, stdout, stderr := fleetctl(t, args("--dry-run", file)...)
	if want := fmt.Sprintf("dry run: would insert %d, already present 0 (0 provisioned), conflicts 0; %d rows", n, n); code != 0 || !strings.HasPrefix(stdout, want) {
		t.Fatalf("dry run: exit %d, stdout %q, want %q; stderr:\n%s", code, stdout, want, stderr)
	}
	if c := count(); c != 0 {
		t.Fatalf("dry run wrote %d entries", c)
	}

	start := time.Now()
	code, stdout, stderr = fleetctl(t, args(file)...)
	took := time.Since(start)
	if want := fmt.Sprintf("inserted %d, already present 0 (0 provisioned), conflicts 0; %d rows", n, n); code != 0 || !strings.HasPrefix(stdout, want) {
		t.Fatalf("import: exit %d, stdout %q, want %q; stderr:\n%s", code, stdout, want, stderr)
	}
	t.Logf("imported %d rows into dynalite in %v (%.0f rows/s)", n, took.Round(time.Millisecond), float64(n)/took.Seconds())
	if !strings.Contains(stderr, fmt.Sprintf("fleetctl: wrote %d/%d entries (100%%, ", n, n)) || !strings.Contains(stderr, "(50%, ") {
		t.Errorf("no progress on stderr:\n%s", stderr)
	}
	// A device claims its entry, as the provisioning hook does; then the same file again.
	if _, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(table),
		Key:                       map[string]types.AttributeValue{"serial": &types.AttributeValueMemberS{Value: "CITY-0000042"}},
		UpdateExpression:          aws.String("SET #st = :p, certificateId = :c, provisionedAt = :at"),
		ConditionExpression:       aws.String("#st = :a"),
		ExpressionAttributeNames:  map[string]string{"#st": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberS{Value: "provisioned"}, ":a": &types.AttributeValueMemberS{Value: "allowed"}, ":c": &types.AttributeValueMemberS{Value: "cert-42"}, ":at": &types.AttributeValueMemberS{Value: "2026-11-30T09:00:00Z"}},
	}); err != nil {
		t.Fatal(err)
	}
	before := dump(ctx, t, db, table)
	if len(before) != n {
		t.Fatalf("table holds %d entries, want %d", len(before), n)
	}
	want := map[string]string{"serial": "CITY-0001234", "status": "allowed", "thingName": "dev-0001234",
		"class": fleet.Classes[1234%len(fleet.Classes)].ID, "district": fleet.Districts[1234%len(fleet.Districts)].ID,
		"keyFingerprint": fp(1234), "importedAt": before["CITY-0001234"]["importedAt"]}
	if _, err := time.Parse(time.RFC3339, want["importedAt"]); err != nil {
		t.Errorf("importedAt: %v", err)
	}
	if diff := cmp.Diff(want, before["CITY-0001234"]); diff != "" {
		t.Errorf("entry (-want +got):\n%s", diff)
	}
	start = time.Now()
	code, stdout, stderr = fleetctl(t, args(file)...)
	t.Logf("re-run over %d present rows in %v", n, time.Since(start).Round(time.Millisecond))
	if want := fmt.Sprintf("inserted 0, already present %d (1 provisioned), conflicts 0; %d rows, table %s held %d entries", n, n, table, n); code != 0 || !strings.HasPrefix(stdout, want) {
		t.Fatalf("re-run: exit %d, stdout %q, want %q; stderr:\n%s", code, stdout, want, stderr)
	}
	after := dump(ctx, t, db, table)
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("re-run changed the table (-before +after):\n%s", diff)
	}
	if e := after["CITY-0000042"]; e["status"] != "provisioned" || e["certificateId"] != "cert-42" {
		t.Errorf("provisioned entry reset: %v", e)
	}

	// A conflicting file (a listed serial under another district) writes nothing, not even
	// its new line.
	conflict := writeFile(t, "conflict.csv", "serial,thingName,class,district,keyFingerprint\n"+
		fmt.Sprintf("NEW-1,new-1,camera,harbour,%s\n", fp(n+1))+
		fmt.Sprintf("CITY-0000042,dev-0000042,%s,nowhere_else,%s\n", fleet.Classes[42%len(fleet.Classes)].ID, fp(42)))
	code, _, stderr = fleetctl(t, args(conflict)...)
	if code != 1 || !strings.Contains(stderr, conflict+`:3: district: unknown district "nowhere_else"`) {
		t.Errorf("unknown district: exit %d, stderr:\n%s", code, stderr)
	}
	other := fleet.Districts[(42+1)%len(fleet.Districts)].ID
	conflict = writeFile(t, "conflict.csv", "serial,thingName,class,district,keyFingerprint\n"+
		fmt.Sprintf("NEW-1,new-1,camera,harbour,%s\n", fp(n+1))+
		fmt.Sprintf("CITY-0000042,dev-0000042,%s,%s,%s\n", fleet.Classes[42%len(fleet.Classes)].ID, other, fp(42)))
	code, stdout, stderr = fleetctl(t, args(conflict)...)
	wantLine := fmt.Sprintf(`fleetctl: %s:3: serial: "CITY-0000042" is already on the allowlist (status "provisioned") with other values: district %q (table has %q)`,
		conflict, other, fleet.Districts[42%len(fleet.Districts)].ID)
	if code != 1 || !strings.Contains(stderr, wantLine) || !strings.Contains(stdout, "conflicts 1") {
		t.Errorf("conflict: exit %d, stdout %q, stderr:\n%s\nwant line %s", code, stdout, stderr, wantLine)
	}
	// The only new line, absent; the entry named by the conflict, unchanged.
	if out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"serial": &types.AttributeValueMemberS{Value: "NEW-1"}}}); err != nil || len(out.Item) != 0 {
		t.Errorf("conflicting file wrote its new line: %v, %v", out.Item, err)
	}
	if out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"serial": &types.AttributeValueMemberS{Value: "CITY-0000042"}}}); err != nil ||
		out.Item["status"].(*types.AttributeValueMemberS).Value != "provisioned" ||
		out.Item["district"].(*types.AttributeValueMemberS).Value != after["CITY-0000042"]["district"] {
		t.Errorf("conflicting file changed CITY-0000042: %v, %v", out.Item, err)
	}
}
