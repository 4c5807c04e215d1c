package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	iottypes "github.com/aws/aws-sdk-go-v2/service/iot/types"
	"github.com/aws/aws-sdk-go-v2/service/iotdataplane"
	"github.com/google/go-cmp/cmp"

	"github.com/secure-smart-city/platform/fleetspec"
	"github.com/secure-smart-city/platform/internal/registry"
	"github.com/secure-smart-city/platform/lambdas/command/contract"
	"github.com/secure-smart-city/platform/lambdas/command/message"
	"github.com/secure-smart-city/platform/lambdas/telemetry/pipeline"
)

func ptr(f float64) *float64 { return &f }

// testFleet is a valid fleet built in code: two classes with different commands.
func testFleet() *fleetspec.Fleet {
	return &fleetspec.Fleet{
		Name:      "smartcity",
		Districts: []fleetspec.District{{ID: "old_town", Name: "Old Town"}},
		Classes: []fleetspec.DeviceClass{
			{
				ID: "street_light", Name: "Street light",
				Fields: []fleetspec.Field{
					{Name: "on", Type: fleetspec.TypeBoolean, Required: true},
					{Name: "brightness", Type: fleetspec.TypeInteger, Min: ptr(0), Max: ptr(100)},
				},
				Commands: []fleetspec.Command{
					{Name: "set-light", Params: []fleetspec.Field{{Name: "on", Type: fleetspec.TypeBoolean, Required: true}}},
					{Name: "set-brightness", Params: []fleetspec.Field{{Name: "level", Type: fleetspec.TypeInteger, Required: true, Min: ptr(0), Max: ptr(100)}}},
					{Name: "reboot"},
				},
			},
			{
				ID: "traffic_signal", Name: "Traffic signal",
				Fields: []fleetspec.Field{{Name: "phase", Type: fleetspec.TypeString, Required: true, Enum: []string{"red", "green", "off"}}},
				Commands: []fleetspec.Command{
					{Name: "set-mode", Params: []fleetspec.Field{{Name: "mode", Type: fleetspec.TypeString, Required: true, Enum: []string{"normal", "flashing", "off"}, Critical: []string{"flashing", "off"}}}},
				},
			},
		},
		// No things: the handler must not need the fleet file's declared things.
		Operators: []fleetspec.Operator{
			{Role: operatorRole, Allow: []fleetspec.Permission{
				{Class: "street_light", Commands: []string{"set-light", "set-brightness", "reboot"}},
				{Class: "traffic_signal", Commands: []string{"set-mode"}, Values: []fleetspec.ParamValues{{Command: "set-mode", Param: "mode", Values: []string{"normal", "flashing", "off"}}}},
			}},
			{Role: "lighting-operator", Allow: []fleetspec.Permission{{Class: "street_light", Commands: []string{"set-light", "set-brightness"}}}},
			{Role: "traffic-operator", Allow: []fleetspec.Permission{{Class: "traffic_signal", Commands: []string{"set-mode"}}}},
			{Role: "traffic-day-shift", Allow: []fleetspec.Permission{{Class: "traffic_signal", Commands: []string{"set-mode"},
				Values: []fleetspec.ParamValues{{Command: "set-mode", Param: "mode", Values: []string{"normal"}}}}}},
			{Role: "auditor"},
		},
	}
}

// fakeRegistry is the AWS IoT registry as DescribeThing sees it; it counts the calls.
type fakeRegistry struct {
	mu     sync.Mutex
	things map[string]*iot.DescribeThingOutput
	err    error
	calls  int
}

func (f *fakeRegistry) DescribeThing(_ context.Context, in *iot.DescribeThingInput, _ ...func(*iot.Options)) (*iot.DescribeThingOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	if out, ok := f.things[aws.ToString(in.ThingName)]; ok {
		return out, nil
	}
	return nil, &iottypes.ResourceNotFoundException{Message: aws.String("Thing cannot be found.")}
}

func registered(thingType, district string) *iot.DescribeThingOutput {
	out := &iot.DescribeThingOutput{Attributes: map[string]string{}}
	if thingType != "" {
		out.ThingTypeName = aws.String(thingType)
	}
	if district != "" {
		out.Attributes["district"] = district
	}
	return out
}

const testPrefix = "smartcity_dev"

// testRegistry holds the devices the tests address: sl-001 and ts-001 as declared things
// would be, sl-runtime-009 as JITP would create it, and things that are not this fleet's.
func testRegistry() *fakeRegistry {
	return &fakeRegistry{things: map[string]*iot.DescribeThingOutput{
		"sl-001":         registered(testPrefix+"_street_light", "old_town"),
		"ts-001":         registered(testPrefix+"_traffic_signal", "old_town"),
		"sl-runtime-009": registered(testPrefix+"_street_light", "harbour"),
		"sl-prod-001":    registered("smartcity_prod_street_light", "old_town"),
		"pk-001":         registered(testPrefix+"_parking", "old_town"),
		"untyped":        registered("", ""),
	}}
}

type fakeDB struct {
	mu    sync.Mutex
	items map[string]map[string]ddbtypes.AttributeValue
	// getErr fails every GetItem; putErr fails every PutItem; putErrFor fails the PutItems
	// whose item's "kind" it names.
	getErr    error
	putErr    error
	putErrFor map[string]error
	gets      []*dynamodb.GetItemInput
	puts      []*dynamodb.PutItemInput
}

// itemKey is where the fake keeps an item: the state table's pk/sk or the audit table's keys.
func itemKey(table string, key map[string]ddbtypes.AttributeValue) (string, error) {
	names := [2]string{StateKey, StateSortKey}
	if table == "audit" {
		names = [2]string{AuditPartitionKey, AuditSortKey}
	}
	pk, ok1 := key[names[0]].(*ddbtypes.AttributeValueMemberS)
	sk, ok2 := key[names[1]].(*ddbtypes.AttributeValueMemberS)
	if !ok1 || !ok2 {
		return "", fmt.Errorf("fake: key %v of table %s must have %s and %s", key, table, names[0], names[1])
	}
	return table + "/" + pk.Value + "#" + sk.Value, nil
}

func (f *fakeDB) GetItem(_ context.Context, in *dynamodb.GetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gets = append(f.gets, in)
	if f.getErr != nil {
		return nil, f.getErr
	}
	if len(in.Key) != 2 {
		return nil, fmt.Errorf("fake: GetItem key %v must have two attributes", in.Key)
	}
	k, err := itemKey(aws.ToString(in.TableName), in.Key)
	if err != nil {
		return nil, err
	}
	return &dynamodb.GetItemOutput{Item: f.items[k]}, nil
}

// PutItem honours attribute_not_exists as DynamoDB does: an existing item is not replaced.
func (f *fakeDB) PutItem(_ context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.putErr != nil {
		return nil, f.putErr
	}
	if kind, ok := in.Item["kind"].(*ddbtypes.AttributeValueMemberS); ok && f.putErrFor[kind.Value] != nil {
		return nil, f.putErrFor[kind.Value]
	}
	k, err := itemKey(aws.ToString(in.TableName), in.Item)
	if err != nil {
		return nil, err
	}
	if _, exists := f.items[k]; exists && strings.Contains(aws.ToString(in.ConditionExpression), "attribute_not_exists") {
		return nil, &ddbtypes.ConditionalCheckFailedException{Message: aws.String("The conditional request failed")}
	}
	f.puts = append(f.puts, in)
	f.items[k] = in.Item
	return &dynamodb.PutItemOutput{}, nil
}

type fakeIoT struct {
	publishErr, shadowErr error
	publishes             []*iotdataplane.PublishInput
	shadows               []*iotdataplane.UpdateThingShadowInput
}

func (f *fakeIoT) Publish(_ context.Context, in *iotdataplane.PublishInput, _ ...func(*iotdataplane.Options)) (*iotdataplane.PublishOutput, error) {
	f.publishes = append(f.publishes, in)
	if f.publishErr != nil {
		return nil, f.publishErr
	}
	return &iotdataplane.PublishOutput{}, nil
}

func (f *fakeIoT) UpdateThingShadow(_ context.Context, in *iotdataplane.UpdateThingShadowInput, _ ...func(*iotdataplane.Options)) (*iotdataplane.UpdateThingShadowOutput, error) {
	f.shadows = append(f.shadows, in)
	if f.shadowErr != nil {
		return nil, f.shadowErr
	}
	return &iotdataplane.UpdateThingShadowOutput{Payload: in.Payload}, nil
}

var testNow = time.Date(2026, 3, 4, 5, 6, 7, 891_000_000, time.UTC)

const (
	testAccount  = "123456789012"
	operatorRole = "city-operator"
	operatorARN  = "arn:aws:sts::" + testAccount + ":assumed-role/" + operatorRole + "/alice"
)

// as makes ev come from a session of role.
func as(ev events.APIGatewayProxyRequest, role string) events.APIGatewayProxyRequest {
	ev.RequestContext.Identity.UserArn = "arn:aws:sts::" + testAccount + ":assumed-role/" + role + "/session-1"
	return ev
}

type fixture struct {
	h        *Handler
	db       *fakeDB
	iot      *fakeIoT
	registry *fakeRegistry
	logs     *bytes.Buffer
	metrics  *bytes.Buffer
}

func newFixture() *fixture {
	db := &fakeDB{items: map[string]map[string]ddbtypes.AttributeValue{}}
	iot := &fakeIoT{}
	reg := testRegistry()
	logs := &bytes.Buffer{}
	metrics := &bytes.Buffer{}
	n := 0
	return &fixture{
		h: &Handler{
			Fleet: testFleet(), ThingTypePrefix: testPrefix, Things: registry.NewCache(reg, registry.Options{Now: func() time.Time { return testNow }}),
			StateTable: "state", AuditTable: "audit",
			State: db, Audit: db, AuditReads: db, Publisher: iot, Shadow: iot,
			Logger:  slog.New(slog.NewJSONHandler(logs, nil)),
			Metrics: metrics,
			Now:     func() time.Time { return testNow },
			NewID: func() string {
				n++
				return fmt.Sprintf("cmd-%d", n)
			},
		},
		db: db, iot: iot, registry: reg, logs: logs, metrics: metrics,
	}
}

func post(thing, body string) events.APIGatewayProxyRequest {
	return events.APIGatewayProxyRequest{
		Resource: "/devices/{thing}/commands", Path: "/devices/" + thing + "/commands", HTTPMethod: "POST",
		PathParameters: map[string]string{"thing": thing},
		Body:           body,
		RequestContext: events.APIGatewayProxyRequestContext{
			RequestID: "req-1",
			AccountID: testAccount,
			Identity:  events.APIGatewayRequestIdentity{UserArn: operatorARN, SourceIP: "198.51.100.7"},
		},
	}
}

func get(thing string) events.APIGatewayProxyRequest {
	ev := post(thing, "")
	ev.Resource, ev.Path, ev.HTTPMethod = "/devices/{thing}", "/devices/"+thing, "GET"
	return ev
}

func (f *fixture) do(t *testing.T, ev events.APIGatewayProxyRequest) (int, map[string]any) {
	t.Helper()
	resp, err := f.h.Handle(context.Background(), ev)
	if err != nil {
		t.Fatalf("Handle returned an error: %v", err)
	}
	if resp.Headers["Content-Type"] != "application/json" {
		t.Errorf("Content-Type = %q", resp.Headers["Content-Type"])
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
		t.Fatalf("response body %q is not a JSON object: %v", resp.Body, err)
	}
	return resp.StatusCode, body
}

// audits decodes every audit record written.
func (f *fixture) audits(t *testing.T) []auditRecord {
	t.Helper()
	var out []auditRecord
	for _, p := range f.db.puts {
		if aws.ToString(p.TableName) != "audit" {
			t.Errorf("audit written to table %q", aws.ToString(p.TableName))
		}
		var r auditRecord
		if err := attributevalue.UnmarshalMap(p.Item, &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func TestGetState(t *testing.T) {
	f := newFixture()
	// The item as the telemetry processor writes it.
	item, err := attributevalue.MarshalMap(map[string]any{"pk": "sl-001", "sk": "state", "on": true, "brightness": 40, "ts": 1700000000000})
	if err != nil {
		t.Fatal(err)
	}
	f.db.items["state/sl-001#state"] = item

	status, body := f.do(t, get("sl-001"))
	want := map[string]any{"thing": "sl-001", "class": "street_light", "district": "old_town", "state": map[string]any{"on": true, "brightness": 40.0, "ts": 1700000000000.0}}
	if status != 200 {
		t.Errorf("status = %d", status)
	}
	if diff := cmp.Diff(want, body); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
	if got := f.db.gets[0]; aws.ToString(got.TableName) != "state" {
		t.Errorf("read table %q", aws.ToString(got.TableName))
	}

	status, body = f.do(t, get("ts-001"))
	want = map[string]any{"thing": "ts-001", "class": "traffic_signal", "district": "old_town", "state": nil}
	if status != 200 {
		t.Errorf("no state yet: status = %d", status)
	}
	if diff := cmp.Diff(want, body); diff != "" {
		t.Errorf("no state yet: body (-want +got):\n%s", diff)
	}
	if len(f.db.puts) != 0 {
		t.Errorf("a read was audited: %d puts", len(f.db.puts))
	}
}

func TestGetStateErrors(t *testing.T) {
	f := newFixture()
	if status, body := f.do(t, get("nope")); status != 404 || !strings.Contains(body["message"].(string), `"nope"`) {
		t.Errorf("unknown thing: %d %v", status, body)
	}
	if len(f.db.gets) != 0 {
		t.Error("an unknown thing reached DynamoDB")
	}
	f.db.getErr = errors.New("ProvisionedThroughputExceededException: secret internals")
	status, body := f.do(t, get("sl-001"))
	if status != 502 || strings.Contains(body["message"].(string), "secret") {
		t.Errorf("DynamoDB failure: %d %v", status, body)
	}
}

func TestCommandPublished(t *testing.T) {
	f := newFixture()
	status, body := f.do(t, post("sl-001", `{"command": "set-light", "on": true}`))
	wantBody := map[string]any{"commandId": "cmd-1", "thing": "sl-001", "command": "set-light", "delivery": "mqtt", "status": "accepted", "requestId": "req-1"}
	if status != 202 {
		t.Errorf("status = %d, body %v", status, body)
	}
	if diff := cmp.Diff(wantBody, body); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
	if len(f.iot.publishes) != 1 || len(f.iot.shadows) != 0 {
		t.Fatalf("publishes %d, shadow updates %d", len(f.iot.publishes), len(f.iot.shadows))
	}
	p := f.iot.publishes[0]
	if aws.ToString(p.Topic) != "city/things/sl-001/commands" || p.Qos != 1 || p.MessageExpiry != 300 || p.Retain {
		t.Errorf("publish = topic %q qos %d expiry %d retain %v", aws.ToString(p.Topic), p.Qos, p.MessageExpiry, p.Retain)
	}
	got, err := message.Parse(p.Payload)
	if err != nil {
		t.Fatal(err)
	}
	want := message.Command{ID: "cmd-1", Name: "set-light", Params: map[string]any{"on": true}, IssuedAt: testNow.UnixMilli()}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("payload (-want +got):\n%s", diff)
	}
	intent := auditRecord{
		Thing: "sl-001", Key: "2026-03-04T05:06:07.891Z#req-1#intent", Kind: KindIntent, RequestedAt: "2026-03-04T05:06:07.891Z",
		RequestID: "req-1", CommandID: "cmd-1", Caller: operatorARN, Role: operatorRole, SourceIP: "198.51.100.7", Class: "street_light",
		ThingType: testPrefix + "_street_light", District: "old_town", Command: "set-light", Params: map[string]any{"on": true}, Delivery: "mqtt",
	}
	outcome := intent
	outcome.Key, outcome.Kind, outcome.Outcome, outcome.Status = "2026-03-04T05:06:07.891Z#req-1#outcome", KindOutcome, OutcomeAccepted, 202
	if diff := cmp.Diff([]auditRecord{intent, outcome}, f.audits(t)); diff != "" {
		t.Errorf("audit (-want +got):\n%s", diff)
	}
	for _, p := range f.db.puts {
		if c := p.ConditionExpression; c == nil || !strings.Contains(*c, "attribute_not_exists") {
			t.Errorf("audit write of %v may overwrite an earlier record", p.Item[AuditSortKey])
		}
	}
}

func TestCommandThroughShadow(t *testing.T) {
	f := newFixture()
	status, body := f.do(t, post("sl-001", `{"command": "set-brightness", "level": 40, "delivery": "shadow"}`))
	if status != 202 || body["delivery"] != "shadow" {
		t.Fatalf("%d %v", status, body)
	}
	if len(f.iot.shadows) != 1 || len(f.iot.publishes) != 0 {
		t.Fatalf("shadow updates %d, publishes %d", len(f.iot.shadows), len(f.iot.publishes))
	}
	s := f.iot.shadows[0]
	var doc map[string]any
	if err := json.Unmarshal(s.Payload, &doc); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"state": map[string]any{"desired": map[string]any{"brightness": 40.0}}, "clientToken": "cmd-1"}
	if aws.ToString(s.ThingName) != "sl-001" || s.ShadowName != nil {
		t.Errorf("shadow of %q named %v", aws.ToString(s.ThingName), s.ShadowName)
	}
	if diff := cmp.Diff(want, doc); diff != "" {
		t.Errorf("shadow document (-want +got):\n%s", diff)
	}
	audits := f.audits(t)
	if len(audits) != 2 || audits[1].Delivery != "shadow" || audits[1].Outcome != OutcomeAccepted || !cmp.Equal(audits[1].Params, map[string]any{"level": 40.0}) {
		t.Errorf("audit = %+v", audits)
	}
}

func TestCommandRejected(t *testing.T) {
	big := `{"command": "set-light", "on": true, "pad": "` + strings.Repeat("x", MaxBody) + `"}`
	cases := []struct {
		name   string
		ev     events.APIGatewayProxyRequest
		status int
		// wantIn are substrings of the response message.
		wantIn []string
		// audited is the expected audit outcome, "" when the request must not be audited.
		audited string
	}{
		{"malformed JSON", post("sl-001", `{"command": "set-light", "on": tru`), 400, []string{"not a JSON object"}, OutcomeRejected},
		{"empty body", post("sl-001", ``), 400, []string{"empty"}, OutcomeRejected},
		{"array body", post("sl-001", `[1]`), 400, []string{"not a JSON object"}, OutcomeRejected},
		{"null body", post("sl-001", `null`), 400, []string{"not a JSON object"}, OutcomeRejected},
		{"trailing data", post("sl-001", `{"command": "reboot"} {}`), 400, []string{"after the JSON object"}, OutcomeRejected},
		{"no command", post("sl-001", `{"on": true}`), 400, []string{`"command"`}, OutcomeRejected},
		{"command not a string", post("sl-001", `{"command": 7}`), 400, []string{`"command"`}, OutcomeRejected},
		{"unknown command", post("sl-001", `{"command": "self-destruct"}`), 400, []string{`"self-destruct"`, "not allowed for class street_light", "set-light"}, OutcomeRejected},
		{"another class's command", post("sl-001", `{"command": "set-mode", "mode": "off"}`), 400, []string{`"set-mode"`, "not allowed for class street_light"}, OutcomeRejected},
		{"street light command to a signal", post("ts-001", `{"command": "set-light", "on": true}`), 400, []string{`"set-light"`, "not allowed for class traffic_signal"}, OutcomeRejected},
		{"param out of range", post("sl-001", `{"command": "set-brightness", "level": 101}`), 400, []string{`"level"`, "101"}, OutcomeRejected},
		{"param of wrong type", post("sl-001", `{"command": "set-light", "on": "yes"}`), 400, []string{`"on"`, `"yes"`}, OutcomeRejected},
		{"unknown param", post("sl-001", `{"command": "set-light", "on": true, "colour": "red"}`), 400, []string{`"colour"`}, OutcomeRejected},
		{"missing param", post("sl-001", `{"command": "set-brightness"}`), 400, []string{`"level"`, "required"}, OutcomeRejected},
		{"bad delivery", post("sl-001", `{"command": "reboot", "delivery": "pigeon"}`), 400, []string{`"pigeon"`, "delivery"}, OutcomeRejected},
		{"stateless command through the shadow", post("sl-001", `{"command": "reboot", "delivery": "shadow"}`), 400, []string{"reboot", "sets no state"}, OutcomeRejected},
		{"body over 4 KiB", post("sl-001", big), 413, []string{"4096"}, OutcomeRejected},
		{"base64 body over 4 KiB", func() events.APIGatewayProxyRequest {
			ev := post("sl-001", base64.StdEncoding.EncodeToString([]byte(big)))
			ev.IsBase64Encoded = true
			return ev
		}(), 413, []string{"4096"}, OutcomeRejected},
		{"bad base64", func() events.APIGatewayProxyRequest {
			ev := post("sl-001", "!!!")
			ev.IsBase64Encoded = true
			return ev
		}(), 400, []string{"base64"}, OutcomeRejected},
		{"unknown thing", post("nope", `{"command": "reboot"}`), 404, []string{`"nope"`, "not registered"}, ""},
		{"invalid thing name", post("a b", `{"command": "reboot"}`), 404, []string{`"a b"`, "not registered"}, ""},
		{"another stage's thing", post("sl-prod-001", `{"command": "reboot"}`), 404, []string{`"sl-prod-001"`, "not a device of this fleet"}, OutcomeRejected},
		{"a thing of a type the fleet has no class for", post("pk-001", `{"command": "reboot"}`), 404, []string{"not a device of this fleet"}, OutcomeRejected},
		{"a thing with no type", post("untyped", `{"command": "reboot"}`), 404, []string{"not a device of this fleet"}, OutcomeRejected},
		{"GET on commands", func() events.APIGatewayProxyRequest {
			ev := post("sl-001", `{"command": "reboot"}`)
			ev.HTTPMethod = "GET"
			return ev
		}(), 405, []string{"GET not allowed", "POST"}, ""},
		{"DELETE on a device", func() events.APIGatewayProxyRequest {
			ev := get("sl-001")
			ev.HTTPMethod = "DELETE"
			return ev
		}(), 405, []string{"DELETE not allowed", "GET"}, ""},
		{"unknown resource", events.APIGatewayProxyRequest{HTTPMethod: "GET", Path: "/admin"}, 404, []string{"no such resource"}, ""},
		{"no caller", func() events.APIGatewayProxyRequest {
			ev := post("sl-001", `{"command": "reboot"}`)
			ev.RequestContext.Identity.UserArn = ""
			return ev
		}(), 403, []string{"forbidden"}, OutcomeForbidden},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture()
			status, body := f.do(t, c.ev)
			if status != c.status {
				t.Errorf("status = %d, want %d (body %v)", status, c.status, body)
			}
			msg, _ := body["message"].(string)
			for _, s := range c.wantIn {
				if !strings.Contains(msg, s) {
					t.Errorf("message %q does not contain %q", msg, s)
				}
			}
			if len(f.iot.publishes)+len(f.iot.shadows) != 0 {
				t.Errorf("a rejected command was delivered")
			}
			audits := f.audits(t)
			switch {
			case c.audited == "" && len(audits) != 0:
				t.Errorf("audited %+v, want no audit", audits)
			case c.audited != "" && (len(audits) != 1 || audits[0].Outcome != c.audited || audits[0].Status != c.status || audits[0].Reason == ""):
				t.Errorf("audit = %+v, want one %s record with a reason", audits, c.audited)
			}
		})
	}
}

// TestRuntimeProvisionedThingServed: a thing the fleet file does not declare (JITP created it)
// is read and commanded like any other, by the class its thing type names.
func TestRuntimeProvisionedThingServed(t *testing.T) {
	f := newFixture()
	if status, body := f.do(t, get("sl-runtime-009")); status != 200 || body["class"] != "street_light" || body["district"] != "harbour" {
		t.Errorf("GET: %d %v", status, body)
	}
	status, body := f.do(t, post("sl-runtime-009", `{"command": "set-brightness", "level": 10}`))
	if status != 202 || len(f.iot.publishes) != 1 || aws.ToString(f.iot.publishes[0].Topic) != "city/things/sl-runtime-009/commands" {
		t.Fatalf("POST: %d %v, publishes %d", status, body, len(f.iot.publishes))
	}
	audits := f.audits(t)
	if len(audits) != 2 || audits[1].Class != "street_light" || audits[1].District != "harbour" || audits[1].Outcome != OutcomeAccepted {
		t.Errorf("audit = %+v", audits)
	}
	// Its class decides what it may be sent.
	f = newFixture()
	if status, body := f.do(t, post("sl-runtime-009", `{"command": "set-mode", "mode": "off"}`)); status != 400 ||
		!strings.Contains(body["message"].(string), "not allowed for class street_light") {
		t.Errorf("another class's command: %d %v", status, body)
	}
}

// TestThingNotOfTheFleet: GET answers 404 for a registered thing of another type and is not
// audited (reads never are); the reason, with the type, is logged.
func TestThingNotOfTheFleet(t *testing.T) {
	f := newFixture()
	status, body := f.do(t, get("sl-prod-001"))
	if status != 404 || !strings.Contains(body["message"].(string), "not a device of this fleet") {
		t.Errorf("GET: %d %v", status, body)
	}
	if len(f.db.gets)+len(f.db.puts) != 0 {
		t.Error("a thing of another fleet reached DynamoDB")
	}
	if !strings.Contains(f.logs.String(), `smartcity_prod_street_light`) {
		t.Errorf("the refusal's reason is not logged:\n%s", f.logs)
	}
	f = newFixture()
	f.do(t, post("sl-prod-001", `{"command": "reboot"}`))
	audits := f.audits(t)
	if len(audits) != 1 || audits[0].Thing != "sl-prod-001" || audits[0].ThingType != "smartcity_prod_street_light" || audits[0].Status != 404 ||
		!strings.Contains(audits[0].Reason, `"smartcity_prod_street_light" is not one of the fleet's classes`) {
		t.Errorf("audit = %+v", audits)
	}
}

// TestRegistryFailure: a registry that cannot answer is a 502 (never a 404: the thing may
// exist), audited as failed for commands, with the cause in the audit but not the answer.
func TestRegistryFailure(t *testing.T) {
	f := newFixture()
	f.registry.err = &iottypes.ThrottlingException{Message: aws.String("Rate exceeded for arn:aws:iot:internal")}
	status, body := f.do(t, post("sl-001", `{"command": "reboot"}`))
	if status != 502 || strings.Contains(body["message"].(string), "arn:") {
		t.Errorf("POST: %d %v", status, body)
	}
	audits := f.audits(t)
	if len(audits) != 1 || audits[0].Thing != "sl-001" || audits[0].Outcome != OutcomeFailed || audits[0].Status != 502 || !strings.Contains(audits[0].Reason, "Rate exceeded") {
		t.Errorf("audit = %+v", audits)
	}
	if len(f.iot.publishes) != 0 {
		t.Error("a command was delivered to a thing the registry did not confirm")
	}
	if status, _ := f.do(t, get("sl-001")); status != 502 {
		t.Errorf("GET: %d, want 502", status)
	}
}

// TestRegistryLookupsAreCached: requests for one thing within the cache's lifetime cost one
// DescribeThing call.
func TestRegistryLookupsAreCached(t *testing.T) {
	f := newFixture()
	for i := range 3 {
		ev := post("sl-001", `{"command": "reboot"}`)
		ev.RequestContext.RequestID = fmt.Sprintf("req-%d", i)
		if status, _ := f.do(t, ev); status != 202 {
			t.Fatalf("status %d", status)
		}
	}
	if f.registry.calls != 1 {
		t.Errorf("%d DescribeThing calls for three commands, want 1", f.registry.calls)
	}
}

func TestNoCallerAuditedAsUnknown(t *testing.T) {
	f := newFixture()
	ev := post("sl-001", `{"command": "set-light", "on": true}`)
	ev.RequestContext.Identity.UserArn = ""
	if status, _ := f.do(t, ev); status != 403 {
		t.Errorf("status = %d, want 403", status)
	}
	audits := f.audits(t)
	if len(audits) != 1 || audits[0].Caller != UnknownCaller || audits[0].Thing != "sl-001" {
		t.Errorf("audit = %+v", audits)
	}
}

func TestDeliveryFailure(t *testing.T) {
	for _, delivery := range []string{"mqtt", "shadow"} {
		t.Run(delivery, func(t *testing.T) {
			f := newFixture()
			f.iot.publishErr = errors.New("ThrottlingException: rate exceeded for arn:aws:iot:internal")
			f.iot.shadowErr = f.iot.publishErr
			status, body := f.do(t, post("sl-001", `{"command": "set-light", "on": false, "delivery": "`+delivery+`"}`))
			if status != 502 {
				t.Errorf("status = %d, want 502", status)
			}
			if msg := body["message"].(string); strings.Contains(msg, "Throttling") || strings.Contains(msg, "arn:") {
				t.Errorf("message leaks the downstream error: %q", msg)
			}
			audits := f.audits(t)
			if len(audits) != 2 || audits[0].Kind != KindIntent || audits[1].Outcome != OutcomeFailed || audits[1].Status != 502 || !strings.Contains(audits[1].Reason, "Throttling") {
				t.Errorf("audit = %+v, want an intent and a failed outcome with the cause", audits)
			}
		})
	}
}

// TestAuditIntentFailureFailsClosed plays an audit table that refuses writes: the command is
// not sent, the caller gets 503, and a metric says why (the audit cannot).
func TestAuditIntentFailureFailsClosed(t *testing.T) {
	for _, delivery := range []string{"mqtt", "shadow"} {
		t.Run(delivery, func(t *testing.T) {
			f := newFixture()
			f.db.putErrFor = map[string]error{KindIntent: errors.New("AccessDeniedException: not authorized to perform dynamodb:PutItem")}
			status, body := f.do(t, post("sl-001", `{"command": "set-light", "on": true, "delivery": "`+delivery+`"}`))
			if status != 503 || !strings.Contains(body["message"].(string), "not sent") {
				t.Errorf("status = %d, body %v; want 503 saying nothing was sent", status, body)
			}
			if n := len(f.iot.publishes) + len(f.iot.shadows); n != 0 {
				t.Fatalf("%d deliveries without an intent record", n)
			}
			// The outcome record (the table refused only intents here) says why.
			audits := f.audits(t)
			if len(audits) != 1 || audits[0].Kind != KindOutcome || audits[0].Status != 503 || !strings.Contains(audits[0].Reason, "intent audit write failed") {
				t.Errorf("audit = %+v", audits)
			}
			wantMetric(t, f, contract.MetricAuditWriteFailed, contract.DimensionPhase, KindIntent)
			wantMetric(t, f, contract.MetricRefused, contract.DimensionReason, contract.ReasonAuditUnavailable)
		})
	}
	// A table that refuses everything: still nothing sent, still 503, the metric remains.
	f := newFixture()
	f.db.putErr = errors.New("ResourceNotFoundException")
	if status, _ := f.do(t, post("sl-001", `{"command": "reboot"}`)); status != 503 || len(f.iot.publishes) != 0 {
		t.Errorf("status %d, %d publishes", status, len(f.iot.publishes))
	}
	wantMetric(t, f, contract.MetricAuditWriteFailed, contract.DimensionPhase, KindIntent)
}

// TestAuditOutcomeFailureIsLogged: after delivery the outcome is decided; a failed outcome
// write does not change the answer, and is logged and counted.
func TestAuditOutcomeFailureIsLogged(t *testing.T) {
	f := newFixture()
	f.db.putErrFor = map[string]error{KindOutcome: errors.New("ProvisionedThroughputExceededException")}
	status, _ := f.do(t, post("sl-001", `{"command": "reboot"}`))
	if status != 202 || len(f.iot.publishes) != 1 {
		t.Errorf("status = %d, publishes %d; want 202: the command was delivered", status, len(f.iot.publishes))
	}
	var found bool
	for _, line := range strings.Split(strings.TrimSpace(f.logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		if rec["msg"] == "audit write failed" && rec["level"] == "ERROR" && rec["callerArn"] == operatorARN && rec["outcome"] == OutcomeAccepted {
			found = true
		}
	}
	if !found {
		t.Errorf("no audit failure logged:\n%s", f.logs)
	}
	wantMetric(t, f, contract.MetricAuditWriteFailed, contract.DimensionPhase, KindOutcome)
}

// wantMetric fails unless an embedded-metric line counts name with dimension dim=value.
func wantMetric(t *testing.T, f *fixture, name, dim, value string) {
	t.Helper()
	for _, line := range strings.Split(strings.TrimSpace(f.metrics.String()), "\n") {
		var doc map[string]any
		if err := json.Unmarshal([]byte(line), &doc); err != nil {
			t.Fatalf("metric line %q is not JSON: %v", line, err)
		}
		aws, _ := doc["_aws"].(map[string]any)
		if doc[name] == 1.0 && (dim == "" || doc[dim] == value) && aws != nil && aws["CloudWatchMetrics"] != nil {
			return
		}
	}
	t.Errorf("no metric %s{%s=%s} in:\n%s", name, dim, value, f.metrics)
}

func TestRouteFromPath(t *testing.T) {
	// Without the resource template (a test invoke, say) the path still routes.
	f := newFixture()
	ev := post("sl-001", `{"command": "reboot"}`)
	ev.Resource, ev.PathParameters = "", nil
	if status, body := f.do(t, ev); status != 202 {
		t.Errorf("status = %d, body %v", status, body)
	}
}

func TestAuditKeysSortInTime(t *testing.T) {
	f := newFixture()
	times := []time.Time{testNow, testNow.Add(time.Millisecond), testNow.Add(time.Hour)}
	i := 0
	f.h.Now = func() time.Time { t := times[i]; i++; return t }
	for range times {
		f.do(t, post("sl-001", `{"command": "reboot"}`))
	}
	var keys []string
	for _, a := range f.audits(t) {
		keys = append(keys, a.Key)
	}
	if len(keys) != 2*len(times) {
		t.Fatalf("keys %v", keys)
	}
	for j := 1; j < len(keys); j++ {
		if keys[j-1] >= keys[j] {
			t.Errorf("audit key %q does not sort before %q", keys[j-1], keys[j])
		}
	}
}

// FuzzCommandBody checks that no request body makes the handler answer 5xx or deliver a
// command the class does not allow.
func FuzzCommandBody(f *testing.F) {
	for _, s := range []string{
		`{"command": "set-light", "on": true}`, `{"command": "set-brightness", "level": 1e400}`,
		`{"command": "set-brightness", "level": -0}`, `{"command": "reboot", "delivery": null}`,
		`{"command": "set-light", "on": true, "on": false}`, `{"command": "\u0000"}`, `{"command": {}}`,
		`{"command": "set-brightness", "level": 9007199254740993}`, `"x"`, `{`, "\xff",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		fx := newFixture()
		resp, err := fx.h.Handle(context.Background(), post("sl-001", body))
		if err != nil || resp.StatusCode >= 500 {
			t.Fatalf("body %q: status %d, err %v", body, resp.StatusCode, err)
		}
		for _, p := range fx.iot.publishes {
			cmd, err := message.Parse(p.Payload)
			if err != nil {
				t.Fatalf("published an unparsable command %q", p.Payload)
			}
			if _, ok := message.FindCommand(fx.h.Fleet.Classes[0], cmd.Name); !ok {
				t.Fatalf("published a command the class does not allow: %q", p.Payload)
			}
		}
	})
}

// TestStateKeysMatchTelemetryProcessor: the command API reads the item the telemetry processor
// writes; both sides name its keys from their own constants, which must agree.
func TestStateKeysMatchTelemetryProcessor(t *testing.T) {
	if StateKey != pipeline.AttrPK || StateSortKey != pipeline.AttrSK || StateSortValue != pipeline.StateSortKey {
		t.Errorf("command API reads %s/%s=%q, telemetry processor writes %s/%s=%q",
			StateKey, StateSortKey, StateSortValue, pipeline.AttrPK, pipeline.AttrSK, pipeline.StateSortKey)
	}
}
