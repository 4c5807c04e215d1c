// Package api is the command processor behind the operators' HTTPS API (API Gateway REST,
// IAM auth): it reads a device's latest state, and validates operator commands against the
// device's class, authorizes them against the caller's operator role (fleetspec.Operator),
// records their intent before delivery (no record, no delivery) and their outcome after, and
// answers a repeated Idempotency-Key with the first answer. Which devices exist, and of which class, the AWS IoT
// registry says (internal/registry), not a list bundled with the function: a thing that JITP
// or claim provisioning created is served like a declared one.
package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/iotdataplane"
	iottypes "github.com/aws/aws-sdk-go-v2/service/iotdataplane/types"

	"github.com/secure-smart-city/platform/fleetspec"
	"github.com/secure-smart-city/platform/internal/registry"
	"github.com/secure-smart-city/platform/lambdas/command/contract"
	"github.com/secure-smart-city/platform/lambdas/command/message"
	"github.com/secure-smart-city/platform/topics"
)

// Table keys. The state table is keyed by thing; the audit table keeps every command request
// of a thing in time order under one partition.
const (
	// StateKey and StateSortKey are the state table's keys: the telemetry processor writes a
	// thing's latest state as the item pk=<thing>, sk=StateSortValue (a test pins these to
	// lambdas/telemetry/pipeline's constants).
	StateKey       = "pk"
	StateSortKey   = "sk"
	StateSortValue = "state"
	// AuditPartitionKey is the audit table's partition key (S): the thing name.
	AuditPartitionKey = "thingName"
	// AuditSortKey is the audit table's sort key (S): "<requestedAt>#<requestId>", with
	// requestedAt in UTC to the millisecond ("2006-01-02T15:04:05.000Z") so that keys sort in
	// time order and two requests in the same millisecond stay apart.
	AuditSortKey = "requestKey"
)

// MaxBody is the largest request body accepted; commands are small, and a bound keeps a
// caller from making the function parse megabytes.
const MaxBody = 4096

// CommandExpiry is the MQTT 5 message expiry of a published command: a device that reconnects
// later than this must not act on a stale "lights on".
const CommandExpiry = 5 * time.Minute

// Delivery is how a command reaches the device.
type Delivery string

// Deliveries.
const (
	// DeliveryMQTT publishes the command at QoS 1 to topics.Command(thing). The default: the
	// device acts on it at once, and a device that is offline never sees it.
	DeliveryMQTT Delivery = contract.DeliveryMQTT
	// DeliveryShadow writes the state the command sets (message.StateChanges) as the classic
	// shadow's desired state; the device applies it from the delta topic, now or when it next
	// syncs. Only for commands that set state (not "reboot").
	DeliveryShadow Delivery = contract.DeliveryShadow
)

// Audit outcomes.
const (
	OutcomeAccepted  = "accepted"
	OutcomeRejected  = "rejected"
	OutcomeForbidden = "forbidden"
	OutcomeFailed    = "failed"
	// OutcomeReplayed: a repeated Idempotency-Key got the first request's answer.
	OutcomeReplayed = "replayed"
)

// UnknownCaller is recorded when the request carries no IAM caller ARN.
const UnknownCaller = "unknown"

// StateReader reads the latest-state table (a *dynamodb.Client).
type StateReader interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
}

// AuditWriter writes the audit table (a *dynamodb.Client).
type AuditWriter interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
}

// Publisher publishes MQTT messages through the IoT data plane (an *iotdataplane.Client).
type Publisher interface {
	Publish(ctx context.Context, in *iotdataplane.PublishInput, opts ...func(*iotdataplane.Options)) (*iotdataplane.PublishOutput, error)
}

// ShadowUpdater updates classic shadows (an *iotdataplane.Client).
type ShadowUpdater interface {
	UpdateThingShadow(ctx context.Context, in *iotdataplane.UpdateThingShadowInput, opts ...func(*iotdataplane.Options)) (*iotdataplane.UpdateThingShadowOutput, error)
}

// Things looks a thing up in the AWS IoT registry (a *registry.Cache over an *iot.Client).
// It returns an error wrapping registry.ErrNotFound when there is no such thing.
type Things interface {
	Lookup(ctx context.Context, name string) (registry.Thing, error)
}

// Handler serves the command API. Every field but Logger, Metrics, Now and NewID is required.
type Handler struct {
	// Fleet is the runtime fleet copy: its classes and their commands. Its things, if any, are
	// not consulted; Things is the truth about which devices exist.
	Fleet *fleetspec.Fleet
	// ThingTypePrefix is the fleet's thing type prefix (env THING_TYPE_PREFIX, e.g.
	// "smartcity_dev"): a thing of type topics.RuleName(prefix, class) is of that class.
	ThingTypePrefix string
	// Things is the registry.
	Things     Things
	StateTable string
	AuditTable string
	State      StateReader
	Audit      AuditWriter
	// AuditReads reads idempotency items back from the audit table (a *dynamodb.Client).
	AuditReads StateReader
	Publisher  Publisher
	Shadow     ShadowUpdater
	// Logger. Default: slog.Default().
	Logger *slog.Logger
	// Metrics receives embedded-metric-format lines. Default: os.Stdout.
	Metrics io.Writer
	// Now and NewID make tests deterministic. Default: time.Now and a random UUID.
	Now   func() time.Time
	NewID func() string
}

// request is what one invocation knows about its caller, for the response and the audit.
type request struct {
	id        string
	caller    string
	sourceIP  string
	startedAt time.Time
}

// device is a registered thing of one of the fleet's classes.
type device struct {
	name, thingType, class, district string
}

// refusal is why a request names no device the API serves.
type refusal struct {
	status  int
	message string // for the caller
	reason  string // for the log and the audit
	outcome string
	// audit is false for names the registry does not hold: they are caller-chosen and would
	// become partition keys of the audit table. They are logged.
	audit bool
}

// resolve looks the thing up in the registry and checks that it is of one of the fleet's
// classes. A thing of another type (another stage's or fleet's, or none) is answered like a
// missing one, 404, so the API serves exactly this fleet's devices; the reason is logged and,
// for commands, audited.
func (h *Handler) resolve(ctx context.Context, name string) (device, *refusal) {
	t, err := h.Things.Lookup(ctx, name)
	switch {
	case errors.Is(err, registry.ErrNotFound):
		return device{}, &refusal{status: 404, message: fmt.Sprintf("thing %q is not registered", truncate(name, 128)),
			reason: "thing is not registered", outcome: OutcomeRejected}
	case err != nil:
		return device{}, &refusal{status: 502, message: "could not look up the device, try again later",
			reason: "registry lookup failed: " + err.Error(), outcome: OutcomeFailed, audit: true}
	}
	d := device{name: t.Name, thingType: t.Type, district: t.District}
	id, ok := t.Class(h.ThingTypePrefix)
	if ok {
		_, ok = h.Fleet.Class(id)
	}
	if !ok {
		return d, &refusal{status: 404, message: fmt.Sprintf("thing %q is not a device of this fleet", t.Name),
			reason:  fmt.Sprintf("thing type %q is not one of the fleet's classes (%s_<class>)", t.Type, h.ThingTypePrefix),
			outcome: OutcomeRejected, audit: true}
	}
	d.class = id
	return d, nil
}

// Handle routes an API Gateway REST proxy event. It never returns an error: every failure is
// an HTTP response, so API Gateway never turns one into an opaque 502 of its own.
func (h *Handler) Handle(ctx context.Context, ev events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	thing, commands, ok := route(ev)
	if !ok {
		return h.respond(ev, 404, errorBody("no such resource", ev.RequestContext.RequestID)), nil
	}
	method := strings.ToUpper(ev.HTTPMethod)
	want := "GET"
	if commands {
		want = "POST"
	}
	if method != want {
		resp := h.respond(ev, 405, errorBody(fmt.Sprintf("method %s not allowed, use %s", method, want), ev.RequestContext.RequestID))
		resp.Headers["Allow"] = want
		return resp, nil
	}
	if !commands {
		// Reads are not audited, but only operator roles may make them (as the resource
		// policy says).
		if _, why := h.operator(ev); why != "" {
			h.metric(contract.MetricRefused, contract.DimensionReason, contract.ReasonNotOperator)
			h.logger().WarnContext(ctx, "read refused", "reason", why, "requestId", ev.RequestContext.RequestID)
			return h.respond(ev, 403, errorBody("forbidden: "+why, ev.RequestContext.RequestID)), nil
		}
	}
	d, refused := h.resolve(ctx, thing)
	if commands {
		return h.command(ctx, ev, d, refused), nil
	}
	if refused != nil {
		h.logger().WarnContext(ctx, "device refused", "thing", truncate(thing, 128), "thingType", d.thingType,
			"status", refused.status, "reason", refused.reason, "requestId", ev.RequestContext.RequestID)
		return h.respond(ev, refused.status, errorBody(refused.message, ev.RequestContext.RequestID)), nil
	}
	return h.getState(ctx, ev, d), nil
}

// route extracts the thing from "/devices/{thing}" or "/devices/{thing}/commands", from the
// resource template and path parameters API Gateway fills in, or from the raw path.
func route(ev events.APIGatewayProxyRequest) (thing string, commands bool, ok bool) {
	switch ev.Resource {
	case "/devices/{thing}":
		thing = ev.PathParameters["thing"]
		return thing, false, thing != ""
	case "/devices/{thing}/commands":
		thing = ev.PathParameters["thing"]
		return thing, true, thing != ""
	}
	parts := strings.Split(strings.Trim(ev.Path, "/"), "/")
	switch {
	case len(parts) == 2 && parts[0] == "devices" && parts[1] != "":
		return parts[1], false, true
	case len(parts) == 3 && parts[0] == "devices" && parts[1] != "" && parts[2] == "commands":
		return parts[1], true, true
	}
	return "", false, false
}

type stateResponse struct {
	Thing    string         `json:"thing"`
	Class    string         `json:"class"`
	District string         `json:"district,omitempty"`
	State    map[string]any `json:"state"`
}

func (h *Handler) getState(ctx context.Context, ev events.APIGatewayProxyRequest, t device) events.APIGatewayProxyResponse {
	out, err := h.State.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(h.StateTable),
		Key: map[string]ddbtypes.AttributeValue{
			StateKey:     &ddbtypes.AttributeValueMemberS{Value: t.name},
			StateSortKey: &ddbtypes.AttributeValueMemberS{Value: StateSortValue},
		},
	})
	if err != nil {
		h.logger().ErrorContext(ctx, "read state failed", "thing", t.name, "requestId", ev.RequestContext.RequestID, "error", err)
		return h.respond(ev, 502, errorBody("could not read the device state, try again later", ev.RequestContext.RequestID))
	}
	resp := stateResponse{Thing: t.name, Class: t.class, District: t.district}
	if len(out.Item) > 0 {
		var state map[string]any
		if err := attributevalue.UnmarshalMap(out.Item, &state); err != nil {
			h.logger().ErrorContext(ctx, "decode state failed", "thing", t.name, "requestId", ev.RequestContext.RequestID, "error", err)
			return h.respond(ev, 502, errorBody("could not read the device state, try again later", ev.RequestContext.RequestID))
		}
		delete(state, StateKey)
		delete(state, StateSortKey)
		resp.State = state
	}
	return h.respond(ev, 200, resp)
}

// commandRequest is the parsed body of POST /devices/{thing}/commands.
type commandRequest struct {
	command  string
	delivery Delivery
	params   map[string]any
}

type commandResponse struct {
	CommandID string   `json:"commandId"`
	Thing     string   `json:"thing"`
	Command   string   `json:"command"`
	Delivery  Delivery `json:"delivery"`
	Status    string   `json:"status"`
	RequestID string   `json:"requestId"`
}

// auditRecord is one item of the audit table. A command that is sent has two: its intent,
// written before delivery (no intent, no delivery), and its outcome after; a request refused
// before delivery has its outcome only. Both are put once and never updated.
type auditRecord struct {
	Thing          string         `dynamodbav:"thingName"`
	Key            string         `dynamodbav:"requestKey"`
	Kind           string         `dynamodbav:"kind"`
	RequestedAt    string         `dynamodbav:"requestedAt"`
	RequestID      string         `dynamodbav:"requestId"`
	CommandID      string         `dynamodbav:"commandId,omitempty"`
	Caller         string         `dynamodbav:"callerArn"`
	Role           string         `dynamodbav:"operatorRole,omitempty"`
	SourceIP       string         `dynamodbav:"sourceIp,omitempty"`
	Class          string         `dynamodbav:"class"`
	ThingType      string         `dynamodbav:"thingType,omitempty"`
	District       string         `dynamodbav:"district,omitempty"`
	Command        string         `dynamodbav:"command,omitempty"`
	Params         map[string]any `dynamodbav:"params,omitempty"`
	Delivery       string         `dynamodbav:"delivery,omitempty"`
	IdempotencyKey string         `dynamodbav:"idempotencyKey,omitempty"`
	Outcome        string         `dynamodbav:"outcome,omitempty"`
	Status         int            `dynamodbav:"status,omitempty"`
	Reason         string         `dynamodbav:"reason,omitempty"`
}

const auditTimeLayout = "2006-01-02T15:04:05.000Z"

// AuditRecordKey is the sort key of a request's intent or outcome record:
// "<requestedAt>#<requestId>#<kind>"; "intent" sorts before "outcome".
func AuditRecordKey(requestedAt time.Time, requestID, kind string) string {
	return requestedAt.UTC().Format(auditTimeLayout) + "#" + requestID + "#" + kind
}

func (h *Handler) command(ctx context.Context, ev events.APIGatewayProxyRequest, t device, refused *refusal) events.APIGatewayProxyResponse {
	req := request{
		id:        ev.RequestContext.RequestID,
		caller:    ev.RequestContext.Identity.UserArn,
		sourceIP:  ev.RequestContext.Identity.SourceIP,
		startedAt: h.now().UTC(),
	}
	if refused != nil && !refused.audit {
		h.logger().WarnContext(ctx, "command for no device", "thing", truncate(t.name, 128), "status", refused.status,
			"reason", refused.reason, "requestId", req.id, "callerArn", req.caller)
		return h.respond(ev, refused.status, errorBody(refused.message, req.id))
	}
	if t.name == "" {
		// A lookup that failed knows no registered name; the route's (valid) name is audited.
		t.name, _, _ = route(ev)
	}
	if req.id == "" {
		// API Gateway always sets one; a made-up id keeps audit keys unique without it.
		req.id = h.newID()
	}
	rec := auditRecord{
		Thing:       t.name,
		RequestedAt: req.startedAt.Format(auditTimeLayout),
		RequestID:   req.id,
		Caller:      req.caller,
		SourceIP:    req.sourceIP,
		Class:       t.class,
		ThingType:   t.thingType,
		District:    t.district,
	}
	if req.caller == "" {
		rec.Caller = UnknownCaller
	}
	// answer is set once the request holds an Idempotency-Key: every answer from then on is
	// stored under the key, so a retry gets it instead of a second delivery.
	var answer func(status int, body string)
	finish := func(status int, outcome, reason string, body any) events.APIGatewayProxyResponse {
		rec.Kind, rec.Key = KindOutcome, AuditRecordKey(req.startedAt, req.id, KindOutcome)
		rec.Outcome, rec.Status, rec.Reason = outcome, status, reason
		if err := h.audit(ctx, rec); err != nil {
			// After an intent record, the outcome of a delivery (accepted or failed); else
			// the record of a refusal, nothing having been sent.
			phase := KindOutcome
			if rec.CommandID == "" || status == 503 {
				phase = contract.PhaseRefusal
			}
			h.metric(contract.MetricAuditWriteFailed, contract.DimensionPhase, phase)
		}
		resp := h.respond(ev, status, body)
		if answer != nil {
			answer(status, resp.Body)
		}
		return resp
	}
	reject := func(status int, reason string) events.APIGatewayProxyResponse {
		return finish(status, OutcomeRejected, reason, errorBody(reason, req.id))
	}
	forbid := func(metricReason, reason string) events.APIGatewayProxyResponse {
		h.metric(contract.MetricRefused, contract.DimensionReason, metricReason)
		return finish(403, OutcomeForbidden, reason, errorBody("forbidden: "+reason, req.id))
	}
	if refused != nil {
		if refused.status >= 500 {
			h.logger().ErrorContext(ctx, "device lookup failed", "thing", t.name, "requestId", req.id, "error", refused.reason)
		}
		return finish(refused.status, refused.outcome, refused.reason, errorBody(refused.message, req.id))
	}

	// The method is IAM-authorized, so API Gateway always names the caller; a request without
	// one means the method lost its authorization and is refused rather than run anonymously.
	if req.caller == "" {
		h.metric(contract.MetricRefused, contract.DimensionReason, contract.ReasonNotOperator)
		return finish(403, OutcomeForbidden, "request has no IAM caller identity", errorBody("forbidden", req.id))
	}
	// The API's resource policy admits operator roles only; this is the same rule, applied
	// where the caller's session is known, in case the policy is ever changed.
	op, why := h.operator(ev)
	if why != "" {
		return forbid(contract.ReasonNotOperator, why)
	}
	rec.Role = op.Role
	body, err := readBody(ev)
	if err != nil {
		if errors.Is(err, errTooLarge) {
			return reject(413, err.Error())
		}
		return reject(400, err.Error())
	}
	key, keyed, err := idempotencyKey(ev, body)
	if err != nil {
		return reject(400, err.Error())
	}
	if keyed {
		rec.IdempotencyKey = key
		c := h.claim(ctx, t.name, op.Role, key, bodyDigest(t.name, body), req)
		if !c.claimed {
			rec.Kind, rec.Key = KindOutcome, AuditRecordKey(req.startedAt, req.id, KindOutcome)
			rec.Outcome, rec.Status, rec.Reason = c.outcome, c.status, c.reason
			if err := h.audit(ctx, rec); err != nil {
				h.metric(contract.MetricAuditWriteFailed, contract.DimensionPhase, contract.PhaseRefusal)
			}
			resp := h.respond(ev, c.status, json.RawMessage(c.body))
			if c.replayed {
				resp.Headers[ReplayedHeader] = "true"
			}
			return resp
		}
		answer = func(status int, body string) { h.storeAnswer(ctx, t.name, op.Role, key, req, status, body) }
	}
	cr, err := parseCommand(body)
	if err != nil {
		return reject(400, err.Error())
	}
	rec.Command, rec.Delivery = cr.command, string(cr.delivery)
	class, ok := h.Fleet.Class(t.class)
	if !ok {
		// resolve makes this impossible; refusing keeps it harmless if it happens.
		return reject(400, fmt.Sprintf("thing %s has unknown class %q", t.name, t.class))
	}
	spec, ok := message.FindCommand(class, cr.command)
	if !ok {
		names := make([]string, 0, len(class.Commands))
		for _, c := range class.Commands {
			names = append(names, c.Name)
		}
		return reject(400, fmt.Sprintf("command %q is not allowed for class %s (allowed: %s)", truncate(cr.command, 64), class.ID, strings.Join(names, ", ")))
	}
	params, err := message.Validate(spec, cr.params)
	if err != nil {
		return reject(400, err.Error())
	}
	rec.Params = params
	if reason := authorize(op, class, spec, params); reason != "" {
		return forbid(contract.ReasonOutOfScope, reason)
	}
	changes := message.StateChanges(class, spec.Name, params)
	if cr.delivery == DeliveryShadow && len(changes) == 0 {
		return reject(400, fmt.Sprintf("command %s sets no state, so it cannot be delivered through the shadow; use \"delivery\": %q", spec.Name, DeliveryMQTT))
	}

	cmd := message.Command{ID: h.newID(), Name: spec.Name, Params: params, IssuedAt: req.startedAt.UnixMilli()}
	rec.CommandID = cmd.ID
	// Fail closed: no intent record, no delivery.
	intent := rec
	intent.Kind, intent.Key = KindIntent, AuditRecordKey(req.startedAt, req.id, KindIntent)
	if err := h.audit(ctx, intent); err != nil {
		h.metric(contract.MetricAuditWriteFailed, contract.DimensionPhase, KindIntent)
		h.metric(contract.MetricRefused, contract.DimensionReason, contract.ReasonAuditUnavailable)
		return finish(503, OutcomeFailed, "intent audit write failed, command not sent: "+err.Error(),
			errorBody("the command could not be audited, so it was not sent; try again later", req.id))
	}
	if err := h.deliver(ctx, t.name, cr.delivery, cmd, changes); err != nil {
		h.logger().ErrorContext(ctx, "command delivery failed", "thing", t.name, "commandId", cmd.ID, "delivery", cr.delivery, "requestId", req.id, "error", err)
		return finish(502, OutcomeFailed, "delivery failed: "+err.Error(), errorBody("the command could not be delivered, try again later", req.id))
	}
	return finish(202, OutcomeAccepted, "", commandResponse{
		CommandID: cmd.ID, Thing: t.name, Command: spec.Name, Delivery: cr.delivery, Status: OutcomeAccepted, RequestID: req.id,
	})
}

func (h *Handler) deliver(ctx context.Context, thing string, d Delivery, cmd message.Command, changes map[string]any) error {
	switch d {
	case DeliveryShadow:
		payload, err := json.Marshal(map[string]any{
			"state":       map[string]any{"desired": changes},
			"clientToken": cmd.ID,
		})
		if err != nil {
			return fmt.Errorf("encode shadow update: %w", err)
		}
		_, err = h.Shadow.UpdateThingShadow(ctx, &iotdataplane.UpdateThingShadowInput{ThingName: aws.String(thing), Payload: payload})
		if err != nil {
			return fmt.Errorf("update shadow of %s: %w", thing, err)
		}
		return nil
	default:
		payload, err := json.Marshal(cmd)
		if err != nil {
			return fmt.Errorf("encode command: %w", err)
		}
		_, err = h.Publisher.Publish(ctx, &iotdataplane.PublishInput{
			Topic:                  aws.String(topics.Command(thing)),
			Qos:                    1,
			Payload:                payload,
			ContentType:            aws.String("application/json"),
			PayloadFormatIndicator: iottypes.PayloadFormatIndicatorUtf8Data,
			MessageExpiry:          int64(CommandExpiry / time.Second),
		})
		if err != nil {
			return fmt.Errorf("publish to %s: %w", topics.Command(thing), err)
		}
		return nil
	}
}

// audit puts one record (never overwriting one) and logs the result. The caller decides what
// a failure means: before delivery it stops the command (fail closed); after, the outcome is
// already decided and is reported truthfully, with the failure logged and counted.
func (h *Handler) audit(ctx context.Context, rec auditRecord) error {
	log := h.logger().With("thing", rec.Thing, "requestId", rec.RequestID, "callerArn", rec.Caller, "kind", rec.Kind,
		"command", rec.Command, "commandId", rec.CommandID, "outcome", rec.Outcome, "status", rec.Status)
	item, err := attributevalue.MarshalMap(rec)
	if err == nil {
		err = h.putOnce(ctx, item)
	}
	if err != nil {
		log.ErrorContext(ctx, "audit write failed", "error", err, "reason", rec.Reason)
		return err
	}
	log.InfoContext(ctx, "command audited", "reason", rec.Reason)
	return nil
}

func (h *Handler) errorJSON(msg, requestID string) string {
	b, _ := json.Marshal(errorBody(msg, requestID))
	return string(b)
}

var errTooLarge = fmt.Errorf("request body is larger than %d bytes", MaxBody)

func readBody(ev events.APIGatewayProxyRequest) ([]byte, error) {
	if !ev.IsBase64Encoded {
		if len(ev.Body) > MaxBody {
			return nil, errTooLarge
		}
		return []byte(ev.Body), nil
	}
	if base64.StdEncoding.DecodedLen(len(ev.Body)) > MaxBody+3 {
		return nil, errTooLarge
	}
	b, err := base64.StdEncoding.DecodeString(ev.Body)
	if err != nil {
		return nil, errors.New("request body is not valid base64")
	}
	if len(b) > MaxBody {
		return nil, errTooLarge
	}
	return b, nil
}

// parseCommand decodes {"command": "...", "delivery": "...", <params>...}: "command",
// "delivery" and "idempotencyKey" are reserved, every other key is a parameter of the command.
func parseCommand(body []byte) (commandRequest, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return commandRequest{}, errors.New(`request body is empty; send {"command": "<name>", <params>}`)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var raw map[string]any
	if err := dec.Decode(&raw); err != nil {
		return commandRequest{}, fmt.Errorf("request body is not a JSON object: %s", jsonError(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return commandRequest{}, errors.New("request body has data after the JSON object")
	}
	if raw == nil {
		return commandRequest{}, errors.New("request body is not a JSON object")
	}
	cr := commandRequest{delivery: DeliveryMQTT, params: map[string]any{}}
	name, ok := raw["command"].(string)
	if !ok || name == "" {
		return commandRequest{}, errors.New(`request body needs "command", a non-empty string`)
	}
	cr.command = name
	if d, present := raw["delivery"]; present {
		s, _ := d.(string)
		if !slices.Contains([]Delivery{DeliveryMQTT, DeliveryShadow}, Delivery(s)) {
			b, _ := json.Marshal(d)
			return commandRequest{}, fmt.Errorf(`"delivery" %s is not "mqtt" or "shadow"`, truncate(string(b), 64))
		}
		cr.delivery = Delivery(s)
	}
	for k, v := range raw {
		// The idempotency key is the request's, not the command's (see idempotencyKey).
		if k != "command" && k != "delivery" && k != contract.IdempotencyField {
			cr.params[k] = v
		}
	}
	return cr, nil
}

// jsonError words a decoding error without echoing Go type names.
func jsonError(err error) string {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return fmt.Sprintf("%s at byte %d", syn.Error(), syn.Offset)
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		return fmt.Sprintf("expected an object, got %s", typ.Value)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return "unexpected end of input"
	}
	return err.Error()
}

type errorResponse struct {
	Message   string `json:"message"`
	RequestID string `json:"requestId,omitempty"`
}

func errorBody(msg, requestID string) errorResponse {
	return errorResponse{Message: msg, RequestID: requestID}
}

func (h *Handler) respond(ev events.APIGatewayProxyRequest, status int, body any) events.APIGatewayProxyResponse {
	b, err := json.Marshal(body)
	if err != nil {
		status = 500
		b = []byte(`{"message":"internal error"}`)
	}
	h.logger().Info("request", "method", ev.HTTPMethod, "path", ev.Path, "status", status,
		"requestId", ev.RequestContext.RequestID, "callerArn", ev.RequestContext.Identity.UserArn)
	return events.APIGatewayProxyResponse{
		StatusCode: status,
		Headers: map[string]string{
			"Content-Type":           "application/json",
			"Cache-Control":          "no-store",
			"X-Content-Type-Options": "nosniff",
		},
		Body: string(b),
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func (h *Handler) logger() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.Default()
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func (h *Handler) newID() string {
	if h.NewID != nil {
		return h.NewID()
	}
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	x := hex.EncodeToString(b[:])
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}
