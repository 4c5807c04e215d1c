package inventory

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	iottypes "github.com/aws/aws-sdk-go-v2/service/iot/types"
	"github.com/google/go-cmp/cmp"

	"github.com/secure-smart-city/platform/fleetspec"
	"github.com/secure-smart-city/platform/lambdas/provisioninghook/hook"
)

func testFleet(t *testing.T) *fleetspec.Fleet {
	t.Helper()
	f, err := fleetspec.Parse([]byte(`{
  "name": "smartcity",
  "districts": [{"id": "old_town", "name": "Old Town"}, {"id": "harbour", "name": "Harbour"}],
  "classes": [{"id": "street_light", "name": "Street light"}, {"id": "camera", "name": "Camera"}],
  "things": [{"name": "sl-pilot-1", "class": "street_light", "district": "old_town", "serial": "PILOT-1"}]
}`), "fleet.test.json")
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func fp(i int) string {
	sum := sha256.Sum256([]byte(fmt.Sprint("device key ", i)))
	return hex.EncodeToString(sum[:])
}

// problem is what a test checks of a Problem: where, and that the message quotes the value.
type problem struct {
	Line   int
	Column string
	Value  string
}

func checkProblems(t *testing.T, err error, want []problem) {
	t.Helper()
	var probs Problems
	if !errors.As(err, &probs) {
		t.Fatalf("error %v (%T), want Problems", err, err)
	}
	got := make([]problem, len(probs))
	for i, p := range probs {
		got[i] = problem{Line: p.Line, Column: p.Column}
		if i < len(want) {
			got[i].Value = want[i].Value
			if !strings.Contains(p.Message, want[i].Value) {
				t.Errorf("problem %d %q does not quote the value %s", i, p, want[i].Value)
			}
		}
		if p.File != "devices.csv" {
			t.Errorf("problem %d names file %q", i, p.File)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("problems (-want +got):\n%s\nall:\n%v", diff, probs)
	}
}

func TestParseValid(t *testing.T) {
	// Columns in another order, a byte order mark, CRLF line ends and a quoted field.
	in := "\ufeffthingName,serial,class,district,keyFingerprint\r\n" +
		"sl-1,SN-0001,street_light,old_town," + fp(1) + "\r\n" +
		"cam-1,\"SN/0002\",camera,harbour," + fp(2) + "\r\n" +
		"sl-pilot-1,PILOT-1,street_light,old_town," + fp(3) + "\r\n"
	rows, err := Parse(strings.NewReader(in), "devices.csv", testFleet(t))
	if err != nil {
		t.Fatal(err)
	}
	want := []Row{
		{Line: 2, Serial: "SN-0001", ThingName: "sl-1", Class: "street_light", District: "old_town", KeyFingerprint: fp(1)},
		{Line: 3, Serial: "SN/0002", ThingName: "cam-1", Class: "camera", District: "harbour", KeyFingerprint: fp(2)},
		{Line: 4, Serial: "PILOT-1", ThingName: "sl-pilot-1", Class: "street_light", District: "old_town", KeyFingerprint: fp(3)},
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
}

// TestParseReportsEveryProblem: one file with a mistake of each kind; every one is reported
// with its line, column and value, and no row comes back.
func TestParseReportsEveryProblem(t *testing.T) {
	in := strings.Join([]string{
		"serial,thingName,class,district,keyFingerprint",
		"SN-1,sl-1,street_light,old_town," + fp(1),           // 2 fine
		"SN-2,sl-2,street_lamp,old_town," + fp(2),            // 3 unknown class
		"SN-3,sl-3,camera,docks," + fp(3),                    // 4 unknown district
		"SN-4,sl-4,camera,harbour," + strings.ToUpper(fp(4)), // 5 uppercase fingerprint
		"SN-5,sl-5,camera,harbour,abc123",                    // 6 short fingerprint
		"SN-1,sl-6,camera,harbour," + fp(6),                  // 7 duplicate serial
		"SN-7,sl-1,camera,harbour," + fp(7),                  // 8 duplicate thing name
		"SN-8,sl-8,camera,harbour," + fp(1),                  // 9 duplicate fingerprint
		"SN 9,sl 9,camera,harbour," + fp(9),                  // 10 bad serial and thing name
		",,camera,harbour,",                                  // 11 empty fields
		"SN-12,sl-12,camera",                                 // 12 too few fields
		"SN-13,sl-pilot-1,camera,harbour," + fp(13),          // 13 declared thing, other class and serial
		"PILOT-1,sl-14,camera,harbour," + fp(14),             // 14 a declared thing's serial
		"",
	}, "\n")
	rows, err := Parse(strings.NewReader(in), "devices.csv", testFleet(t))
	if rows != nil {
		t.Errorf("rows returned with problems: %v", rows)
	}
	checkProblems(t, err, []problem{
		{3, ColClass, `"street_lamp"`},
		{4, ColDistrict, `"docks"`},
		{5, ColKeyFingerprint, strings.ToUpper(fp(4))},
		{6, ColKeyFingerprint, `"abc123"`},
		{7, ColSerial, `"SN-1": duplicate of line 2`},
		{8, ColThingName, `"sl-1": duplicate of line 2`},
		{9, ColKeyFingerprint, `duplicate of line 2`},
		{10, ColSerial, `"SN 9"`},
		{10, ColThingName, `"sl 9"`},
		{11, ColSerial, "empty"},
		{11, ColThingName, "empty"},
		{11, ColKeyFingerprint, "empty"},
		{12, "", "3 fields, want 5"},
		{13, ColClass, `"camera": thing "sl-pilot-1" is declared`},
		{13, ColDistrict, `"harbour"`},
		{13, ColSerial, `"SN-13"`},
		{14, ColSerial, `"PILOT-1": serial of thing "sl-pilot-1"`},
	})
}

func TestParseHeader(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string // message fragments, in order
	}{
		{"empty file", "", []string{"empty file"}},
		{"header only", "serial,thingName,class,district,keyFingerprint\n", []string{"no devices"}},
		{"spaced names", "serial,thing name,class,district,key_fingerprint\nx,y,z,w,v\n", []string{
			`column 2: unknown column "thing name" (did you mean "thingName"?`,
			`column 5: unknown column "key_fingerprint" (did you mean "keyFingerprint"?`,
			`missing column "thingName"`, `missing column "keyFingerprint"`}},
		{"repeated and extra", "serial,serial,thingName,class,district,keyFingerprint,notes\n", []string{
			`column 2: column "serial" repeated`, `column 7: unknown column "notes"`}},
		{"no header", "SN-1,sl-1,street_light,old_town," + fp(1) + "\n", []string{
			`column 1: unknown column "SN-1"`, `column 2: unknown column "sl-1"`, `column 3: unknown column "street_light"`,
			`column 4: unknown column "old_town"`, `column 5: unknown column`,
			`missing column "serial"`, `missing column "thingName"`, `missing column "class"`, `missing column "district"`, `missing column "keyFingerprint"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows, err := Parse(strings.NewReader(tc.in), "devices.csv", testFleet(t))
			var probs Problems
			if !errors.As(err, &probs) || rows != nil {
				t.Fatalf("got rows %v, error %v; want Problems", rows, err)
			}
			if len(probs) != len(tc.want) {
				t.Fatalf("%d problems, want %d:\n%v", len(probs), len(tc.want), probs)
			}
			for i, p := range probs {
				if !strings.Contains(p.String(), tc.want[i]) {
					t.Errorf("problem %d = %q, want it to contain %q", i, p, tc.want[i])
				}
			}
		})
	}
}

func TestParseSyntaxErrors(t *testing.T) {
	in := "serial,thingName,class,district,keyFingerprint\n" +
		"SN-1,sl-1,street_light,old_town," + fp(1) + "\n" +
		"SN-2,s\"l-2,street_light,old_town," + fp(2) + "\n" + // bare quote: this record only
		"SN-3,sl-3,street_lamp,old_town," + fp(3) + "\n" // still checked
	_, err := Parse(strings.NewReader(in), "devices.csv", testFleet(t))
	var probs Problems
	if !errors.As(err, &probs) || len(probs) != 2 {
		t.Fatalf("problems %v, want 2", err)
	}
	if got := probs[0].String(); !strings.HasPrefix(got, "devices.csv:3: CSV syntax: column") {
		t.Errorf("syntax problem %q", got)
	}
	if probs[1].Line != 4 || probs[1].Column != ColClass {
		t.Errorf("second problem %q, want line 4 class", probs[1])
	}
}

func TestProblemString(t *testing.T) {
	for _, tc := range []struct {
		p    Problem
		want string
	}{
		{Problem{File: "d.csv", Line: 3, Column: "class", Message: `unknown device class "x"`}, `d.csv:3: class: unknown device class "x"`},
		{Problem{File: "d.csv", Line: 4, Message: "3 fields"}, "d.csv:4: 3 fields"},
		{Problem{File: "d.csv", Message: "empty file"}, "d.csv: empty file"},
	} {
		if got := tc.p.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
	if got := (Problems{{File: "a", Line: 1, Message: "x"}, {File: "a", Line: 2, Message: "y"}}).Error(); got != "a:1: x\na:2: y" {
		t.Errorf("Problems.Error() = %q", got)
	}
}

// hookTable answers the provisioning hook's reads with one allowlist entry and records what
// the hook got as far as.
type hookTable struct {
	thingName     string
	gets, updates int
}

func (h *hookTable) GetItem(_ context.Context, in *dynamodb.GetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	h.gets++
	serial := in.Key["serial"].(*types.AttributeValueMemberS).Value
	return &dynamodb.GetItemOutput{Item: map[string]types.AttributeValue{
		"serial": &types.AttributeValueMemberS{Value: serial}, "status": &types.AttributeValueMemberS{Value: "allowed"},
		"thingName": &types.AttributeValueMemberS{Value: h.thingName},
		"class":     &types.AttributeValueMemberS{Value: "street_light"}, "district": &types.AttributeValueMemberS{Value: "old_town"},
	}}, nil
}

func (h *hookTable) UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	h.updates++
	return &dynamodb.UpdateItemOutput{}, nil
}

// ListThingPrincipals and DescribeCertificate answer the hook's registry check: no thing
// exists yet.
func (h *hookTable) ListThingPrincipals(context.Context, *iot.ListThingPrincipalsInput, ...func(*iot.Options)) (*iot.ListThingPrincipalsOutput, error) {
	return nil, &iottypes.ResourceNotFoundException{}
}

func (h *hookTable) DescribeCertificate(context.Context, *iot.DescribeCertificateInput, ...func(*iot.Options)) (*iot.DescribeCertificateOutput, error) {
	return nil, &iottypes.ResourceNotFoundException{}
}

// newHook drives the hook's name checks; the entries carry no key fingerprint, so it runs
// with the trial setting (the key proof is the hook's own tests' business).
func newHook(tbl *hookTable) *hook.Handler {
	return hook.New("allowlist", tbl, tbl, nil, hook.WithRegistry(tbl, tbl), hook.WithUnboundClaims(true))
}

// TestPatternsAgreeWithHook: the import accepts exactly the serials and thing names the
// provisioning hook accepts, so nothing it loads is refused later as invalid, and nothing the
// hook could serve is refused here. The hook's patterns are unexported; this drives the hook.
func TestPatternsAgreeWithHook(t *testing.T) {
	var samples []string
	for c := rune(0x20); c < 0x7f; c++ {
		samples = append(samples, "A"+string(c)+"1")
	}
	samples = append(samples, "", "é", "a\tb", "a\nb", strings.Repeat("s", 128), strings.Repeat("s", 129),
		strings.Repeat("s", 800), strings.Repeat("s", 801))
	for _, s := range samples {
		// Serial: the hook reads the table only for a serial it accepts.
		tbl := &hookTable{thingName: "thing-1"}
		h := newHook(tbl)
		if _, err := h.Handle(context.Background(), hook.Request{CertificateID: "c", Parameters: map[string]string{hook.ParamSerialNumber: s}}); err != nil {
			t.Fatal(err)
		}
		if hookOK, ours := tbl.gets > 0, serialPattern.MatchString(s); hookOK != ours {
			t.Errorf("serial %q: hook accepts %v, import accepts %v", s, hookOK, ours)
		}
		// Thing name: the hook marks the entry provisioned only for a name it accepts.
		tbl = &hookTable{thingName: s}
		h = newHook(tbl)
		if _, err := h.Handle(context.Background(), hook.Request{CertificateID: "c", Parameters: map[string]string{hook.ParamSerialNumber: "SN-1"}}); err != nil {
			t.Fatal(err)
		}
		// An empty listed name means "use the serial", which the import never relies on.
		if s == "" {
			continue
		}
		if hookOK, ours := tbl.updates > 0, thingNamePattern.MatchString(s); hookOK != ours {
			t.Errorf("thing name %q: hook accepts %v, import accepts %v", s, hookOK, ours)
		}
	}
}
