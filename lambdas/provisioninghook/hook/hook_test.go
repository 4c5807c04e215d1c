package hook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/secure-smart-city/platform/lambdas/provisioninghook/allowlist"
)

const table = "allowlist"

var fixedNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fakeTable is an in-memory allowlist that applies the handler's conditional update the way
// DynamoDB does: the condition is checked and the write applied under one lock.
type fakeTable struct {
	mu      sync.Mutex
	items   map[string]map[string]types.AttributeValue
	getErr  error
	updErr  error
	updates int
	barrier *sync.WaitGroup // when set, GetItem returns only after every expected reader has read
}

func newFakeTable(entries ...entry) *fakeTable {
	f := &fakeTable{items: map[string]map[string]types.AttributeValue{}}
	for _, e := range entries {
		item, err := attributevalue.MarshalMap(e)
		if err != nil {
			panic(err)
		}
		f.items[e.Serial] = item
	}
	return f
}

func (f *fakeTable) GetItem(_ context.Context, in *dynamodb.GetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	if f.getErr != nil {
		return nil, f.getErr
	}
	if *in.TableName != table {
		return nil, errors.New("wrong table " + *in.TableName)
	}
	f.mu.Lock()
	key := in.Key[allowlist.AttrSerial].(*types.AttributeValueMemberS).Value
	var copied map[string]types.AttributeValue
	if item := f.items[key]; item != nil {
		copied = make(map[string]types.AttributeValue, len(item))
		for k, v := range item {
			copied[k] = v
		}
	}
	f.mu.Unlock()
	if f.barrier != nil {
		f.barrier.Done()
		f.barrier.Wait()
	}
	return &dynamodb.GetItemOutput{Item: copied}, nil
}

func (f *fakeTable) UpdateItem(_ context.Context, in *dynamodb.UpdateItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	if f.updErr != nil {
		return nil, f.updErr
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	key := in.Key[allowlist.AttrSerial].(*types.AttributeValueMemberS).Value
	item := f.items[key]
	n, v := in.ExpressionAttributeNames, in.ExpressionAttributeValues
	if *in.ConditionExpression != "#status = :allowed" {
		return nil, errors.New("unexpected condition " + *in.ConditionExpression)
	}
	if item == nil || !equalS(item[n["#status"]], v[":allowed"]) {
		return nil, &types.ConditionalCheckFailedException{Message: strPtr("The conditional request failed")}
	}
	item[n["#status"]] = v[":provisioned"]
	item[n["#at"]] = v[":at"]
	item[n["#cert"]] = v[":cert"]
	if _, ok := item[n["#thing"]]; !ok {
		item[n["#thing"]] = v[":thing"]
	}
	f.updates++
	return &dynamodb.UpdateItemOutput{}, nil
}

func equalS(a, b types.AttributeValue) bool {
	as, ok1 := a.(*types.AttributeValueMemberS)
	bs, ok2 := b.(*types.AttributeValueMemberS)
	return ok1 && ok2 && as.Value == bs.Value
}

func strPtr(s string) *string { return &s }

func (f *fakeTable) stored(t *testing.T, serial string) map[string]string {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	var out map[string]string
	if err := attributevalue.UnmarshalMap(f.items[serial], &out); err != nil {
		t.Fatalf("unmarshal stored item: %v", err)
	}
	return out
}

// logLines parses the handler's JSON log records.
func logLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		out = append(out, m)
	}
	return out
}

// newHandler returns a handler on f whose registry holds no things (every thing is new),
// unless opts give it another.
func newHandler(f *fakeTable, opts ...Option) (*Handler, *bytes.Buffer) {
	var buf bytes.Buffer
	reg := newFakeRegistry()
	h := New(table, f, f, slog.New(slog.NewJSONHandler(&buf, nil)), append([]Option{WithRegistry(reg, reg)}, opts...)...)
	h.now = func() time.Time { return fixedNow }
	return h, &buf
}

func request(cert string, params map[string]string) Request {
	return Request{
		ClaimCertificateID: "claim-cert",
		CertificateID:      cert,
		CertificatePEM:     devicePEM,
		TemplateARN:        "arn:aws:iot:eu-west-1:123456789012:provisioningtemplate/smartcity",
		ClientID:           "claim-client",
		Parameters:         params,
	}
}

var lightEntry = entry{Serial: "SN-0001", Status: allowlist.StatusAllowed, KeyFingerprint: deviceFP, ThingName: "light-0001", Class: "street_light", District: "old_town"}

func TestHandle(t *testing.T) {
	tests := []struct {
		name       string
		entries    []entry
		req        Request
		want       Response
		wantReason string
		wantWrites int
	}{
		{
			name:    "admit pins thing name class and district",
			entries: []entry{lightEntry},
			req:     request("cert-a", map[string]string{ParamSerialNumber: "SN-0001", ParamThingName: "light-0001"}),
			want: Response{AllowProvisioning: true, ParameterOverrides: map[string]string{
				ParamSerialNumber: "SN-0001", ParamThingName: "light-0001", ParamClass: "street_light", ParamDistrict: "old_town",
			}},
			wantReason: ReasonAdmitted,
			wantWrites: 1,
		},
		{
			name:       "admit without a listed thing name uses the serial",
			entries:    []entry{{Serial: "SN-0002", Status: allowlist.StatusAllowed, KeyFingerprint: deviceFP, Class: "air_quality", District: "harbour"}},
			req:        request("cert-b", map[string]string{ParamSerialNumber: "SN-0002"}),
			want:       Response{AllowProvisioning: true, ParameterOverrides: map[string]string{ParamSerialNumber: "SN-0002", ParamThingName: "SN-0002", ParamClass: "air_quality", ParamDistrict: "harbour"}},
			wantReason: ReasonAdmitted,
			wantWrites: 1,
		},
		{
			name:       "device-sent class and district are overridden",
			entries:    []entry{lightEntry},
			req:        request("cert-a", map[string]string{ParamSerialNumber: "SN-0001", ParamClass: "camera", ParamDistrict: "vip_zone"}),
			want:       Response{AllowProvisioning: true, ParameterOverrides: map[string]string{ParamSerialNumber: "SN-0001", ParamThingName: "light-0001", ParamClass: "street_light", ParamDistrict: "old_town"}},
			wantReason: ReasonAdmitted,
			wantWrites: 1,
		},
		{
			name:       "unknown serial",
			entries:    []entry{lightEntry},
			req:        request("cert-a", map[string]string{ParamSerialNumber: "SN-9999"}),
			wantReason: ReasonUnknownSerial,
		},
		{
			name:       "already provisioned with another certificate",
			entries:    []entry{{Serial: "SN-0001", Status: allowlist.StatusProvisioned, KeyFingerprint: deviceFP, ThingName: "light-0001", Class: "street_light", District: "old_town", CertificateID: "cert-first"}},
			req:        request("cert-second", map[string]string{ParamSerialNumber: "SN-0001"}),
			wantReason: ReasonAlreadyProvisioned,
		},
		{
			name:       "retry with the certificate that was admitted",
			entries:    []entry{{Serial: "SN-0001", Status: allowlist.StatusProvisioned, KeyFingerprint: deviceFP, ThingName: "light-0001", Class: "street_light", District: "old_town", CertificateID: "cert-first"}},
			req:        request("cert-first", map[string]string{ParamSerialNumber: "SN-0001"}),
			want:       Response{AllowProvisioning: true, ParameterOverrides: map[string]string{ParamSerialNumber: "SN-0001", ParamThingName: "light-0001", ParamClass: "street_light", ParamDistrict: "old_town"}},
			wantReason: ReasonRetrySameCert,
		},
		{
			name:       "status neither allowed nor provisioned",
			entries:    []entry{{Serial: "SN-0001", Status: "revoked", KeyFingerprint: deviceFP, ThingName: "light-0001", Class: "street_light", District: "old_town"}},
			req:        request("cert-a", map[string]string{ParamSerialNumber: "SN-0001"}),
			wantReason: ReasonNotAllowed,
		},
		{
			name:       "missing serial",
			entries:    []entry{lightEntry},
			req:        request("cert-a", map[string]string{ParamThingName: "light-0001"}),
			wantReason: ReasonMissingSerial,
		},
		{
			name:       "nil parameters",
			entries:    []entry{lightEntry},
			req:        request("cert-a", nil),
			wantReason: ReasonMissingSerial,
		},
		{
			name:       "serial with a newline",
			entries:    []entry{lightEntry},
			req:        request("cert-a", map[string]string{ParamSerialNumber: "SN-0001\nreason=admitted"}),
			wantReason: ReasonInvalidSerial,
		},
		{
			name:       "serial with a shell metacharacter",
			entries:    []entry{lightEntry},
			req:        request("cert-a", map[string]string{ParamSerialNumber: "SN-0001;rm"}),
			wantReason: ReasonInvalidSerial,
		},
		{
			name:       "fleet-style serial with a listed thing name",
			entries:    []entry{{Serial: "ACME/2026.001#7", Status: allowlist.StatusAllowed, KeyFingerprint: deviceFP, ThingName: "aq-0007", Class: "air_quality", District: "harbour"}},
			req:        request("cert-a", map[string]string{ParamSerialNumber: "ACME/2026.001#7"}),
			want:       Response{AllowProvisioning: true, ParameterOverrides: map[string]string{ParamSerialNumber: "ACME/2026.001#7", ParamThingName: "aq-0007", ParamClass: "air_quality", ParamDistrict: "harbour"}},
			wantReason: ReasonAdmitted,
			wantWrites: 1,
		},
		{
			name:       "fleet-style serial without a listed thing name",
			entries:    []entry{{Serial: "ACME/2026.001#8", Status: allowlist.StatusAllowed, KeyFingerprint: deviceFP}},
			req:        request("cert-a", map[string]string{ParamSerialNumber: "ACME/2026.001#8"}),
			wantReason: ReasonInvalidAllowlist,
		},
		{
			name:       "serial with a space and quote",
			entries:    []entry{lightEntry},
			req:        request("cert-a", map[string]string{ParamSerialNumber: `SN 0001" OR 1=1`}),
			wantReason: ReasonInvalidSerial,
		},
		{
			name:       "serial longer than the fleet allows",
			entries:    []entry{lightEntry},
			req:        request("cert-a", map[string]string{ParamSerialNumber: strings.Repeat("A", 801)}),
			wantReason: ReasonInvalidSerial,
		},
		{
			name:       "missing certificate id",
			entries:    []entry{lightEntry},
			req:        request("", map[string]string{ParamSerialNumber: "SN-0001"}),
			wantReason: ReasonMissingCertificate,
		},
		{
			name:       "device asks for another thing name",
			entries:    []entry{lightEntry},
			req:        request("cert-a", map[string]string{ParamSerialNumber: "SN-0001", ParamThingName: "light-0002"}),
			wantReason: ReasonThingNameMismatch,
		},
		{
			name:       "device sends a class the allowlist does not pin",
			entries:    []entry{{Serial: "SN-0003", Status: allowlist.StatusAllowed, KeyFingerprint: deviceFP, District: "harbour"}},
			req:        request("cert-a", map[string]string{ParamSerialNumber: "SN-0003", ParamClass: "camera"}),
			wantReason: ReasonInvalidAllowlist,
		},
		{
			name:       "entry without a class is refused before it is consumed",
			entries:    []entry{{Serial: "SN-0003", Status: allowlist.StatusAllowed, KeyFingerprint: deviceFP, District: "harbour"}},
			req:        request("cert-a", map[string]string{ParamSerialNumber: "SN-0003"}),
			wantReason: ReasonInvalidAllowlist,
		},
		{
			name:       "entry without a district is refused before it is consumed",
			entries:    []entry{{Serial: "SN-0003", Status: allowlist.StatusAllowed, KeyFingerprint: deviceFP, Class: "camera"}},
			req:        request("cert-a", map[string]string{ParamSerialNumber: "SN-0003"}),
			wantReason: ReasonInvalidAllowlist,
		},
		{
			name:       "district not in the fleet file's id format",
			entries:    []entry{{Serial: "SN-0003", Status: allowlist.StatusAllowed, KeyFingerprint: deviceFP, Class: "camera", District: "smartcity_dev_district_harbour/x"}},
			req:        request("cert-a", map[string]string{ParamSerialNumber: "SN-0003"}),
			wantReason: ReasonInvalidAllowlist,
		},
		{
			name:       "class given as a qualified name with capitals",
			entries:    []entry{{Serial: "SN-0003", Status: allowlist.StatusAllowed, KeyFingerprint: deviceFP, Class: "Camera", District: "harbour"}},
			req:        request("cert-a", map[string]string{ParamSerialNumber: "SN-0003"}),
			wantReason: ReasonInvalidAllowlist,
		},
		{
			name:       "allowlist thing name outside the thing-name alphabet",
			entries:    []entry{{Serial: "SN-0004", Status: allowlist.StatusAllowed, KeyFingerprint: deviceFP, ThingName: "bad name"}},
			req:        request("cert-a", map[string]string{ParamSerialNumber: "SN-0004"}),
			wantReason: ReasonInvalidAllowlist,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeTable(tt.entries...)
			h, buf := newHandler(f)
			got, err := h.Handle(context.Background(), tt.req)
			if err != nil {
				t.Fatalf("Handle: unexpected error %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("response (-want +got):\n%s", diff)
			}
			if f.updates != tt.wantWrites {
				t.Errorf("writes = %d, want %d", f.updates, tt.wantWrites)
			}
			lines := logLines(t, buf)
			if len(lines) != 1 {
				t.Fatalf("got %d log lines, want 1: %v", len(lines), lines)
			}
			if lines[0]["reason"] != tt.wantReason {
				t.Errorf("logged reason = %v, want %q", lines[0]["reason"], tt.wantReason)
			}
			if lines[0]["certificateId"] != tt.req.CertificateID {
				t.Errorf("logged certificateId = %v, want %q", lines[0]["certificateId"], tt.req.CertificateID)
			}
			if _, ok := lines[0]["serial"]; !ok {
				t.Errorf("log line has no serial: %v", lines[0])
			}
			checkMetricLine(t, lines[0])
		})
	}
}

func TestHandleMarksEntryProvisioned(t *testing.T) {
	f := newFakeTable(entry{Serial: "SN-0002", Status: allowlist.StatusAllowed, KeyFingerprint: deviceFP, Class: "air_quality", District: "harbour"})
	h, _ := newHandler(f)
	if _, err := h.Handle(context.Background(), request("cert-b", map[string]string{ParamSerialNumber: "SN-0002"})); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		allowlist.AttrSerial: "SN-0002", allowlist.AttrStatus: allowlist.StatusProvisioned, allowlist.AttrCertificateID: "cert-b",
		allowlist.AttrProvisionedAt: "2026-03-01T12:00:00Z", allowlist.AttrThingName: "SN-0002",
		allowlist.AttrClass: "air_quality", allowlist.AttrDistrict: "harbour", allowlist.AttrKeyFingerprint: deviceFP,
	}
	if diff := cmp.Diff(want, f.stored(t, "SN-0002")); diff != "" {
		t.Errorf("stored entry (-want +got):\n%s", diff)
	}
	// The same serial with a new certificate is now refused.
	got, err := h.Handle(context.Background(), request("cert-c", map[string]string{ParamSerialNumber: "SN-0002"}))
	if err != nil || got.AllowProvisioning {
		t.Errorf("second device: got %+v, %v; want refusal", got, err)
	}
}

func TestHandleRaceLostOnConditionalUpdate(t *testing.T) {
	// Both devices read the entry as allowed before either writes; only the conditional update
	// decides, so exactly one is admitted.
	const devices = 2
	f := newFakeTable(lightEntry)
	f.barrier = &sync.WaitGroup{}
	f.barrier.Add(devices)
	h, buf := newHandler(f)

	results := make([]Response, devices)
	errs := make([]error, devices)
	var wg sync.WaitGroup
	for i := range devices {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = h.Handle(context.Background(), request("cert-"+string(rune('a'+i)), map[string]string{ParamSerialNumber: "SN-0001"}))
		}()
	}
	wg.Wait()

	admitted := 0
	for i := range devices {
		if errs[i] != nil {
			t.Fatalf("device %d: %v", i, errs[i])
		}
		if results[i].AllowProvisioning {
			admitted++
		}
	}
	if admitted != 1 {
		t.Fatalf("admitted %d devices, want exactly 1", admitted)
	}
	reasons := map[any]int{}
	for _, l := range logLines(t, buf) {
		reasons[l["reason"]]++
	}
	if diff := cmp.Diff(map[any]int{ReasonAdmitted: 1, ReasonRaceLost: 1}, reasons); diff != "" {
		t.Errorf("logged reasons (-want +got):\n%s", diff)
	}
}

func TestHandleDynamoDBErrorsFailClosed(t *testing.T) {
	boom := errors.New("ProvisionedThroughputExceededException")
	tests := []struct {
		name string
		set  func(*fakeTable)
	}{
		{"get fails", func(f *fakeTable) { f.getErr = boom }},
		{"update fails", func(f *fakeTable) { f.updErr = boom }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeTable(lightEntry)
			tt.set(f)
			h, buf := newHandler(f)
			got, err := h.Handle(context.Background(), request("cert-a", map[string]string{ParamSerialNumber: "SN-0001"}))
			if !errors.Is(err, boom) {
				t.Errorf("error = %v, want one wrapping %v", err, boom)
			}
			if got.AllowProvisioning {
				t.Errorf("response allows provisioning on a DynamoDB error")
			}
			lines := logLines(t, buf)
			if len(lines) != 1 || lines[0]["reason"] != ReasonAllowlistUnreadable || lines[0]["level"] != "ERROR" {
				t.Errorf("log = %v, want one ERROR line with reason %q", lines, ReasonAllowlistUnreadable)
			}
		})
	}
}

func TestResponseWireFormat(t *testing.T) {
	// AWS IoT reads these exact field names; a refusal carries no overrides.
	tests := []struct {
		resp Response
		want map[string]any
	}{
		{Response{}, map[string]any{"allowProvisioning": false}},
		{Response{AllowProvisioning: true, ParameterOverrides: map[string]string{ParamThingName: "x"}},
			map[string]any{"allowProvisioning": true, "parameterOverrides": map[string]any{"ThingName": "x"}}},
	}
	for _, tt := range tests {
		data, err := json.Marshal(tt.resp)
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		if err := json.Unmarshal(data, &got); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("wire format (-want +got):\n%s", diff)
		}
	}
}

func TestRequestWireFormat(t *testing.T) {
	data := []byte(`{"claimCertificateId":"c1","certificateId":"c2","certificatePem":"pem","templateArn":"arn:t","clientId":"id","parameters":{"SerialNumber":"SN-1","ThingName":"t"}}`)
	var got Request
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	want := Request{ClaimCertificateID: "c1", CertificateID: "c2", CertificatePEM: "pem", TemplateARN: "arn:t", ClientID: "id",
		Parameters: map[string]string{"SerialNumber": "SN-1", "ThingName": "t"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("request (-want +got):\n%s", diff)
	}
}

// TestEntryUsesTheContractNames: the item the hook reads and writes has the allowlist
// contract's attribute names, which fleetctl writes.
func TestEntryUsesTheContractNames(t *testing.T) {
	item, err := attributevalue.MarshalMap(entry{Serial: "s", Status: "x", ThingName: "t", Class: "c", District: "d", KeyFingerprint: "k", CertificateID: "i"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for k := range item {
		got = append(got, k)
	}
	want := []string{allowlist.AttrSerial, allowlist.AttrStatus, allowlist.AttrThingName, allowlist.AttrClass, allowlist.AttrDistrict, allowlist.AttrKeyFingerprint, allowlist.AttrCertificateID}
	if diff := cmp.Diff(want, got, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("entry attributes (-want +got):\n%s", diff)
	}
}
