// Package hook is the fleet-provisioning pre-provisioning hook: it admits a device presenting a
// claim certificate only when its serial number is on the allowlist table, has not been
// provisioned before, the certificate being provisioned carries the key the allowlist records
// for that serial, and the thing is not already in service with another certificate; and it
// pins the thing name, class and district the template may use.
package hook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	iottypes "github.com/aws/aws-sdk-go-v2/service/iot/types"

	"github.com/secure-smart-city/platform/fleetspec"
	"github.com/secure-smart-city/platform/lambdas/provisioninghook/allowlist"
	"github.com/secure-smart-city/platform/lambdas/provisioninghook/contract"
)

// Template parameter names (see package contract, which the provisioning template uses).
const (
	ParamSerialNumber = contract.ParamSerialNumber
	ParamThingName    = contract.ParamThingName
	ParamClass        = contract.ParamClass
	ParamDistrict     = contract.ParamDistrict
)

// Reasons logged with every decision (see package contract, which the alarms use).
const (
	ReasonAdmitted              = contract.ReasonAdmitted
	ReasonAdmittedUnbound       = contract.ReasonAdmittedUnbound
	ReasonRetrySameCert         = contract.ReasonRetrySameCert
	ReasonMissingSerial         = contract.ReasonMissingSerial
	ReasonInvalidSerial         = contract.ReasonInvalidSerial
	ReasonMissingCertificate    = contract.ReasonMissingCertificate
	ReasonUnreadableCertificate = contract.ReasonUnreadableCertificate
	ReasonUnknownSerial         = contract.ReasonUnknownSerial
	ReasonAlreadyProvisioned    = contract.ReasonAlreadyProvisioned
	ReasonNotAllowed            = contract.ReasonNotAllowed
	ReasonThingNameMismatch     = contract.ReasonThingNameMismatch
	ReasonInvalidAllowlist      = contract.ReasonInvalidAllowlist
	ReasonFingerprintMissing    = contract.ReasonFingerprintMissing
	ReasonFingerprintMismatch   = contract.ReasonFingerprintMismatch
	ReasonThingInUse            = contract.ReasonThingInUse
	ReasonRaceLost              = contract.ReasonRaceLost
	ReasonAllowlistUnreadable   = contract.ReasonAllowlistUnreadable
	ReasonRegistryError         = contract.ReasonRegistryError
)

// maxPrincipalPages bounds the registry lookup: a thing has a handful of principals, and the
// hook must answer within five seconds.
const maxPrincipalPages = 10

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

// PrincipalLister lists the principals attached to a thing (iot.Client satisfies it).
type PrincipalLister interface {
	ListThingPrincipals(ctx context.Context, in *iot.ListThingPrincipalsInput, optFns ...func(*iot.Options)) (*iot.ListThingPrincipalsOutput, error)
}

// CertificateDescriber reads a certificate's status (iot.Client satisfies it).
type CertificateDescriber interface {
	DescribeCertificate(ctx context.Context, in *iot.DescribeCertificateInput, optFns ...func(*iot.Options)) (*iot.DescribeCertificateOutput, error)
}

// Handler decides provisioning requests against the allowlist table and the IoT registry.
type Handler struct {
	table        string
	get          ItemGetter
	update       ItemUpdater
	principals   PrincipalLister
	certificates CertificateDescriber
	allowUnbound bool
	log          *slog.Logger
	now          func() time.Time
}

// Option configures a Handler.
type Option func(*Handler)

// WithRegistry gives the hook the IoT registry reads it needs to refuse a thing that is
// already in service. Without it every request fails closed (ReasonRegistryError).
func WithRegistry(principals PrincipalLister, certificates CertificateDescriber) Option {
	return func(h *Handler) { h.principals, h.certificates = principals, certificates }
}

// WithUnboundClaims admits allowlist entries without a key fingerprint when allow is true.
// It exists for trials with devices whose keys were never recorded; it removes the
// device-unique proof, so anyone holding the claim certificate and a listed serial becomes
// that device. Default: false (such entries are refused, ReasonFingerprintMissing).
func WithUnboundClaims(allow bool) Option {
	return func(h *Handler) { h.allowUnbound = allow }
}

// New returns a Handler for the allowlist table. A nil logger logs nowhere.
func New(table string, get ItemGetter, update ItemUpdater, log *slog.Logger, opts ...Option) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &Handler{table: table, get: get, update: update, log: log, now: time.Now}
	for _, o := range opts {
		o(h)
	}
	return h
}

// entry is one allowlist item; its keys are the allowlist contract's attribute names (a test
// keeps them equal).
type entry struct {
	Serial         string `dynamodbav:"serial"`
	Status         string `dynamodbav:"status"`
	ThingName      string `dynamodbav:"thingName,omitempty"`
	Class          string `dynamodbav:"class,omitempty"`
	District       string `dynamodbav:"district,omitempty"`
	KeyFingerprint string `dynamodbav:"keyFingerprint,omitempty"`
	CertificateID  string `dynamodbav:"certificateId,omitempty"`
}

// Handle admits or refuses one request. It fails closed: every path that is not an explicit
// admit returns AllowProvisioning false. A read or write failure of the allowlist or the
// registry is also returned as an error: AWS IoT then fails the RegisterThing call (a refusal
// all the same), and the error counts in the function's Errors metric, so an outage alarms
// instead of looking like a wave of refused devices.
//
// In order: the serial and certificate id are well formed; the serial is listed, with a
// valid thing name, class and district; the certificate being provisioned carries the key
// the manufacturer recorded for the serial (device-unique proof: the shared claim key and a
// serial are not enough); the entry is still allowed (or this is a retry with the certificate
// already admitted); the thing is not in service with another active certificate; and the
// conditional write that consumes the entry succeeds.
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

	// Device-unique proof. Every claim holder presents the same claim certificate, and
	// serials are neither secret nor random; what only the real device has is its private
	// key, whose public half is in the certificate AWS IoT just issued from the device's CSR
	// (certificatePem) and whose fingerprint the manufacturer recorded in the allowlist.
	unbound := false
	switch {
	case e.KeyFingerprint == "" && !h.allowUnbound:
		return h.deny(ctx, req, serial, ReasonFingerprintMissing), nil
	case e.KeyFingerprint == "":
		unbound = true
	case !allowlist.ValidFingerprint(e.KeyFingerprint):
		return h.deny(ctx, req, serial, ReasonInvalidAllowlist, slog.String("field", allowlist.AttrKeyFingerprint)), nil
	default:
		presented, err := allowlist.CertificateFingerprint([]byte(req.CertificatePEM))
		if err != nil {
			return h.deny(ctx, req, serial, ReasonUnreadableCertificate, slog.String("error", err.Error())), nil
		}
		if presented != e.KeyFingerprint {
			return h.deny(ctx, req, serial, ReasonFingerprintMismatch, slog.String("presentedKeyFingerprint", presented)), nil
		}
	}
	overrides := map[string]string{ParamSerialNumber: serial, ParamThingName: thing, ParamClass: e.Class, ParamDistrict: e.District}

	retry := false
	switch e.Status {
	case allowlist.StatusAllowed:
	case allowlist.StatusProvisioned:
		// RegisterThing is retried when its response is lost; the certificate was bound to this
		// serial on the first admission and only its key holder can present it again.
		if e.CertificateID != req.CertificateID {
			return h.deny(ctx, req, serial, ReasonAlreadyProvisioned), nil
		}
		retry = true
	default:
		return h.deny(ctx, req, serial, ReasonNotAllowed, slog.String("status", truncate(e.Status, 64))), nil
	}

	// No hijack: a thing in service keeps its identity. The check runs before the entry is
	// consumed, so a refused request leaves the serial usable by its real device.
	holder, err := h.activePrincipalOtherThan(ctx, thing, req.CertificateID)
	if err != nil {
		h.deny(ctx, req, serial, ReasonRegistryError, slog.String("thingName", thing), slog.String("error", err.Error()))
		return Response{}, fmt.Errorf("check principals of thing %q: %w", thing, err)
	}
	if holder != "" {
		return h.deny(ctx, req, serial, ReasonThingInUse, slog.String("thingName", thing), slog.String("activePrincipal", holder)), nil
	}
	if retry {
		return h.admit(ctx, req, serial, thing, overrides, ReasonRetrySameCert, !unbound), nil
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
	reason := ReasonAdmitted
	if unbound {
		reason = ReasonAdmittedUnbound
	}
	return h.admit(ctx, req, serial, thing, overrides, reason, !unbound), nil
}

// activePrincipalOtherThan returns a principal attached to thing that is in service and is
// not the certificate certID: an ACTIVE certificate, or any principal that is not a
// certificate (a Cognito identity has no status to check, so it counts as in service). It
// returns "" when there is none, including when the thing does not exist yet.
func (h *Handler) activePrincipalOtherThan(ctx context.Context, thing, certID string) (string, error) {
	if h.principals == nil || h.certificates == nil {
		return "", errors.New("no IoT registry client configured")
	}
	var token *string
	for range maxPrincipalPages {
		out, err := h.principals.ListThingPrincipals(ctx, &iot.ListThingPrincipalsInput{ThingName: aws.String(thing), NextToken: token})
		var missing *iottypes.ResourceNotFoundException
		if errors.As(err, &missing) {
			return "", nil
		}
		if err != nil {
			return "", fmt.Errorf("list thing principals: %w", err)
		}
		for _, p := range out.Principals {
			id, ok := certificateID(p)
			if !ok {
				return p, nil
			}
			if id == certID {
				continue
			}
			d, err := h.certificates.DescribeCertificate(ctx, &iot.DescribeCertificateInput{CertificateId: aws.String(id)})
			if errors.As(err, &missing) {
				continue // deleted since it was listed
			}
			if err != nil {
				return "", fmt.Errorf("describe certificate %s: %w", id, err)
			}
			if d.CertificateDescription != nil && d.CertificateDescription.Status == iottypes.CertificateStatusActive {
				return p, nil
			}
		}
		if out.NextToken == nil || *out.NextToken == "" {
			return "", nil
		}
		token = out.NextToken
	}
	return "", fmt.Errorf("more than %d pages of principals", maxPrincipalPages)
}

// certificateID returns the certificate id of an IoT certificate ARN
// (arn:<partition>:iot:<region>:<account>:cert/<id>).
func certificateID(principal string) (string, bool) {
	if !strings.HasPrefix(principal, "arn:") || !strings.Contains(principal, ":iot:") {
		return "", false
	}
	_, id, ok := strings.Cut(principal, ":cert/")
	return id, ok && id != ""
}

func (h *Handler) admit(ctx context.Context, req Request, serial, thing string, overrides map[string]string, reason string, keyBound bool) Response {
	attrs := append([]slog.Attr{
		slog.String("serial", serial), slog.String(contract.DimensionReason, reason), slog.String("certificateId", req.CertificateID),
		slog.String("thingName", thing), slog.String("clientId", truncate(req.ClientID, 128)), slog.Bool("keyBound", keyBound),
	}, h.metric()...)
	h.log.LogAttrs(ctx, slog.LevelInfo, "provisioning admitted", attrs...)
	return Response{AllowProvisioning: true, ParameterOverrides: overrides}
}

func (h *Handler) deny(ctx context.Context, req Request, serial, reason string, extra ...slog.Attr) Response {
	attrs := append([]slog.Attr{
		slog.String("serial", serial), slog.String(contract.DimensionReason, reason), slog.String("certificateId", req.CertificateID),
		slog.String("clientId", truncate(req.ClientID, 128)),
	}, extra...)
	attrs = append(attrs, h.metric()...)
	level := slog.LevelWarn
	if reason == ReasonAllowlistUnreadable || reason == ReasonRegistryError {
		level = slog.LevelError
	}
	h.log.LogAttrs(ctx, level, "provisioning refused", attrs...)
	return Response{AllowProvisioning: false}
}

// emf is the embedded-metric-format directive of a decision line: CloudWatch Logs turns the
// line's MetricDecisions (1) into a metric in MetricNamespace with the line's reason as the
// DimensionReason dimension.
type emf struct {
	Timestamp         int64          `json:"Timestamp"`
	CloudWatchMetrics []emfDirective `json:"CloudWatchMetrics"`
}

type emfDirective struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []emfMetric `json:"Metrics"`
}

type emfMetric struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

// metric returns the attributes that make a decision line a metric.
func (h *Handler) metric() []slog.Attr {
	return []slog.Attr{
		slog.Int(contract.MetricDecisions, 1),
		slog.Any("_aws", emf{Timestamp: h.now().UnixMilli(), CloudWatchMetrics: []emfDirective{{
			Namespace:  contract.MetricNamespace,
			Dimensions: [][]string{{contract.DimensionReason}},
			Metrics:    []emfMetric{{Name: contract.MetricDecisions, Unit: "Count"}},
		}}}),
	}
}

// truncate bounds device-chosen strings before they reach the logs.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
