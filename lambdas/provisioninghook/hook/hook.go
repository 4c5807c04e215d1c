// Package hook is the fleet-provisioning pre-provisioning hook: it admits a device presenting a
// claim certificate only when its serial number is on the allowlist table and has not been
// provisioned before, and pins the thing name, class and district the template may use.
package hook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/secure-smart-city/platform/fleetspec"
	"github.com/secure-smart-city/platform/lambdas/provisioninghook/allowlist"
)

// Template parameter names. The provisioning template must declare these parameters and use
// ParamThingName, ParamClass and ParamDistrict (never values the device sent) for the thing's
// name, type and attributes; the hook overrides them from the allowlist. Class and District are
// the fleet file's ids (the district attribute's format on every provisioning path).
const (
	ParamSerialNumber = "SerialNumber"
	ParamThingName    = "ThingName"
	ParamClass        = "Class"
	ParamDistrict     = "District"
)

// Reasons logged with every decision. The response to AWS IoT carries no reason, so these log
// values are the only record of why a device was refused; keep them stable for log queries.
const (
	ReasonAdmitted            = "admitted"
	ReasonRetrySameCert       = "retry_same_certificate"
	ReasonMissingSerial       = "missing_serial"
	ReasonInvalidSerial       = "invalid_serial"
	ReasonMissingCertificate  = "missing_certificate_id"
	ReasonUnknownSerial       = "unknown_serial"
	ReasonAlreadyProvisioned  = "already_provisioned"
	ReasonNotAllowed          = "status_not_allowed"
	ReasonThingNameMismatch   = "thing_name_mismatch"
	ReasonInvalidAllowlist    = "invalid_allowlist_entry"
	ReasonRaceLost            = "race_lost"
	ReasonAllowlistUnreadable = "allowlist_error"
)

var (
	// serialPattern is the fleet file's serial alphabet (fleetspec validates things' serials
	// with the same rule), so every serial the fleet can list is accepted here.
	serialPattern = regexp.MustCompile(`^[a-zA-Z0-9_.,@/:#-]{1,800}$`)
	// thingNamePattern is AWS IoT's thing-name alphabet.
	thingNamePattern = regexp.MustCompile(`^[a-zA-Z0-9:_-]{1,128}$`)
)

// Request is the object AWS IoT sends to a pre-provisioning hook.
type Request struct {
	ClaimCertificateID string            `json:"claimCertificateId"`
	CertificateID      string            `json:"certificateId"`
	CertificatePEM     string            `json:"certificatePem"`
	TemplateARN        string            `json:"templateArn"`
	ClientID           string            `json:"clientId"`
	Parameters         map[string]string `json:"parameters"`
}

// Response is what AWS IoT expects back; provisioning proceeds only when AllowProvisioning is
// true, and ParameterOverrides replace the device's parameters before the template runs.
type Response struct {
	AllowProvisioning  bool              `json:"allowProvisioning"`
	ParameterOverrides map[string]string `json:"parameterOverrides,omitempty"`
}

// ItemGetter reads one allowlist entry (dynamodb.Client satisfies it).
type ItemGetter interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
}

// ItemUpdater marks an entry provisioned (dynamodb.Client satisfies it).
type ItemUpdater interface {
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

// Handler decides provisioning requests against the allowlist table.
type Handler struct {
	table  string
	get    ItemGetter
	update ItemUpdater
	log    *slog.Logger
	now    func() time.Time
}

// New returns a Handler for the allowlist table. A nil logger logs nowhere.
func New(table string, get ItemGetter, update ItemUpdater, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{table: table, get: get, update: update, log: log, now: time.Now}
}

// entry is one allowlist item; its keys are the allowlist contract's attribute names (a test
// keeps them equal).
type entry struct {
	Serial        string `dynamodbav:"serial"`
	Status        string `dynamodbav:"status"`
	ThingName     string `dynamodbav:"thingName,omitempty"`
	Class         string `dynamodbav:"class,omitempty"`
	District      string `dynamodbav:"district,omitempty"`
	CertificateID string `dynamodbav:"certificateId,omitempty"`
}

// Handle admits or refuses one request. It fails closed: every path that is not an explicit
// admit returns AllowProvisioning false. An allowlist read or write failure is also returned as
// an error: AWS IoT then fails the RegisterThing call (a refusal all the same), and the error
// counts in the function's Errors metric, so an outage alarms instead of looking like a wave of
// refused devices.
func (h *Handler) Handle(ctx context.Context, req Request) (Response, error) {
	serial := req.Parameters[ParamSerialNumber]
	switch {
	case serial == "":
		return h.deny(ctx, req, serial, ReasonMissingSerial), nil
	case !serialPattern.MatchString(serial):
		return h.deny(ctx, req, truncate(serial, 128), ReasonInvalidSerial), nil
	case req.CertificateID == "":
		return h.deny(ctx, req, serial, ReasonMissingCertificate), nil
	}

	out, err := h.get.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(h.table),
		Key:            map[string]types.AttributeValue{allowlist.AttrSerial: &types.AttributeValueMemberS{Value: serial}},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		h.deny(ctx, req, serial, ReasonAllowlistUnreadable, slog.String("error", err.Error()))
		return Response{}, fmt.Errorf("read allowlist entry %q: %w", serial, err)
	}
	if len(out.Item) == 0 {
		return h.deny(ctx, req, serial, ReasonUnknownSerial), nil
	}
	var e entry
	if err := attributevalue.UnmarshalMap(out.Item, &e); err != nil {
		return h.deny(ctx, req, serial, ReasonInvalidAllowlist, slog.String("error", err.Error())), nil
	}

	// Without a listed name the serial is the thing name, which works only for serials that
	// are also valid thing names; anything else is an allowlist mistake, refused rather than
	// guessed at.
	thing := e.ThingName
	if thing == "" {
		thing = serial
	}
	if !thingNamePattern.MatchString(thing) {
		return h.deny(ctx, req, serial, ReasonInvalidAllowlist, slog.String("thingName", truncate(thing, 128))), nil
	}
	if asked, ok := req.Parameters[ParamThingName]; ok && asked != thing {
		return h.deny(ctx, req, serial, ReasonThingNameMismatch,
			slog.String("requestedThingName", truncate(asked, 128)), slog.String("thingName", thing)), nil
	}
	// The template has no default for Class or District and the device must choose neither, so
	// an entry that does not pin both in the fleet file's id format is an allowlist mistake:
	// refused here, before the entry is consumed, rather than failing in the template after.
	for _, p := range []struct{ param, value string }{{ParamClass, e.Class}, {ParamDistrict, e.District}} {
		if !fleetspec.ValidID(p.value) {
			return h.deny(ctx, req, serial, ReasonInvalidAllowlist, slog.String("parameter", p.param), slog.String("value", truncate(p.value, 64))), nil
		}
	}
	overrides := map[string]string{ParamSerialNumber: serial, ParamThingName: thing, ParamClass: e.Class, ParamDistrict: e.District}

	switch e.Status {
	case allowlist.StatusAllowed:
	case allowlist.StatusProvisioned:
		// RegisterThing is retried when its response is lost; the certificate was bound to this
		// serial on the first admission and only its key holder can present it again.
		if e.CertificateID == req.CertificateID {
			return h.admit(ctx, req, serial, thing, overrides, ReasonRetrySameCert), nil
		}
		return h.deny(ctx, req, serial, ReasonAlreadyProvisioned), nil
	default:
		return h.deny(ctx, req, serial, ReasonNotAllowed, slog.String("status", truncate(e.Status, 64))), nil
	}

	// The condition makes admission a compare-and-swap: of two devices presenting the same
	// serial at once, only the first write succeeds.
	_, err = h.update.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(h.table),
		Key:                 map[string]types.AttributeValue{allowlist.AttrSerial: &types.AttributeValueMemberS{Value: serial}},
		UpdateExpression:    aws.String("SET #status = :provisioned, #at = :at, #cert = :cert, #thing = if_not_exists(#thing, :thing)"),
		ConditionExpression: aws.String("#status = :allowed"),
		ExpressionAttributeNames: map[string]string{
			"#status": allowlist.AttrStatus, "#at": allowlist.AttrProvisionedAt, "#cert": allowlist.AttrCertificateID, "#thing": allowlist.AttrThingName,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":provisioned": &types.AttributeValueMemberS{Value: allowlist.StatusProvisioned},
			":allowed":     &types.AttributeValueMemberS{Value: allowlist.StatusAllowed},
			":at":          &types.AttributeValueMemberS{Value: h.now().UTC().Format(time.RFC3339Nano)},
			":cert":        &types.AttributeValueMemberS{Value: req.CertificateID},
			":thing":       &types.AttributeValueMemberS{Value: thing},
		},
	})
	var lost *types.ConditionalCheckFailedException
	switch {
	case errors.As(err, &lost):
		return h.deny(ctx, req, serial, ReasonRaceLost), nil
	case err != nil:
		h.deny(ctx, req, serial, ReasonAllowlistUnreadable, slog.String("error", err.Error()))
		return Response{}, fmt.Errorf("mark allowlist entry %q provisioned: %w", serial, err)
	}
	return h.admit(ctx, req, serial, thing, overrides, ReasonAdmitted), nil
}

func (h *Handler) admit(ctx context.Context, req Request, serial, thing string, overrides map[string]string, reason string) Response {
	h.log.LogAttrs(ctx, slog.LevelInfo, "provisioning admitted",
		slog.String("serial", serial), slog.String("reason", reason), slog.String("certificateId", req.CertificateID),
		slog.String("thingName", thing), slog.String("clientId", truncate(req.ClientID, 128)))
	return Response{AllowProvisioning: true, ParameterOverrides: overrides}
}

func (h *Handler) deny(ctx context.Context, req Request, serial, reason string, extra ...slog.Attr) Response {
	attrs := append([]slog.Attr{
		slog.String("serial", serial), slog.String("reason", reason), slog.String("certificateId", req.CertificateID),
		slog.String("clientId", truncate(req.ClientID, 128)),
	}, extra...)
	level := slog.LevelWarn
	if reason == ReasonAllowlistUnreadable {
		level = slog.LevelError
	}
	h.log.LogAttrs(ctx, level, "provisioning refused", attrs...)
	return Response{AllowProvisioning: false}
}

// truncate bounds device-chosen strings before they reach the logs.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
