package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/secure-smart-city/platform/lambdas/command/contract"
)

// IdempotencyHeader names the request header that makes a POST idempotent: a retry with the
// same key gets the first request's answer and never sends the command again.
const IdempotencyHeader = "Idempotency-Key"

// ReplayedHeader is set to "true" on an answer replayed for a repeated Idempotency-Key.
const ReplayedHeader = "Idempotent-Replayed"

// idempotencyKeyPattern admits UUIDs, ULIDs and similar tokens; the key becomes part of an
// audit table sort key, so it is bounded and has no "#".
var idempotencyKeyPattern = regexp.MustCompile(contract.IdempotencyKeyPattern)

// Kinds of audit table items (attribute "kind").
const (
	KindIntent     = contract.KindIntent
	KindOutcome    = contract.KindOutcome
	KindIdemClaim  = contract.KindIdemClaim
	KindIdemAnswer = contract.KindIdemAnswer
)

// IdempotencySortKey is the audit table sort key of the item that claims an Idempotency-Key
// for an operator role on a thing; its answer item's sort key adds "#answer". Both sort after
// every time-ordered record of the thing ("i" > "2").
func IdempotencySortKey(role, key string) string {
	return "idempotency#" + role + "#" + key
}

// idemItem is an idempotency claim or answer item of the audit table.
type idemItem struct {
	Thing       string `dynamodbav:"thingName"`
	Key         string `dynamodbav:"requestKey"`
	Kind        string `dynamodbav:"kind"`
	RequestID   string `dynamodbav:"requestId"`
	RequestedAt string `dynamodbav:"requestedAt"`
	Caller      string `dynamodbav:"callerArn"`
	BodySHA256  string `dynamodbav:"bodySha256,omitempty"`
	Status      int    `dynamodbav:"status,omitempty"`
	Body        string `dynamodbav:"body,omitempty"`
}

// idempotencyKey reads the Idempotency-Key header (any case) or the body's "idempotencyKey";
// present is false without either. Both may be given only with the same value.
func idempotencyKey(ev events.APIGatewayProxyRequest, body []byte) (string, bool, error) {
	key, present, err := headerKey(ev)
	if err != nil {
		return "", true, err
	}
	var doc map[string]json.RawMessage
	if json.Unmarshal(body, &doc) != nil {
		// parseCommand refuses the body with a precise message.
		return key, present, nil
	}
	raw, inBody := doc[contract.IdempotencyField]
	if !inBody {
		return key, present, nil
	}
	var bk string
	if err := json.Unmarshal(raw, &bk); err != nil || !idempotencyKeyPattern.MatchString(bk) {
		return "", true, fmt.Errorf("%q %s must be a string of 1-128 letters, digits and ._:- (a UUID, say)", contract.IdempotencyField, truncate(string(raw), 64))
	}
	if present && bk != key {
		return "", true, fmt.Errorf("header %s %q and body %q %q differ; send one key", IdempotencyHeader, key, contract.IdempotencyField, bk)
	}
	return bk, true, nil
}

func headerKey(ev events.APIGatewayProxyRequest) (key string, present bool, err error) {
	for k, v := range ev.Headers {
		if strings.EqualFold(k, IdempotencyHeader) {
			key, present = v, true
		}
	}
	if !present {
		for k, vs := range ev.MultiValueHeaders {
			if strings.EqualFold(k, IdempotencyHeader) && len(vs) > 0 {
				if len(vs) > 1 {
					return "", true, fmt.Errorf("header %s appears %d times; send it once", IdempotencyHeader, len(vs))
				}
				key, present = vs[0], true
			}
		}
	}
	if present && !idempotencyKeyPattern.MatchString(key) {
		return "", true, fmt.Errorf("header %s %q must be 1-128 of letters, digits and ._:- (a UUID, say)", IdempotencyHeader, truncate(key, 64))
	}
	return key, present, nil
}

func bodyDigest(thing string, body []byte) string {
	h := sha256.New()
	h.Write([]byte(thing))
	h.Write([]byte{0})
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// claimResult is what claiming an Idempotency-Key decided.
type claimResult struct {
	// claimed: this request holds the key and proceeds; the answer must be stored.
	claimed bool
	// Otherwise the request is answered with status and body (a replayed answer when
	// replayed), and reason says why for the audit.
	status   int
	body     string
	replayed bool
	outcome  string
	reason   string
}

// claim puts the key's claim item (attribute_not_exists, so only the first request gets it)
// or, when another request holds it, decides the answer from that request's items: its stored
// answer when the body is the same, 422 when the body differs, 409 while it has no answer.
// Any other failure is 503: the audit table is not writable, so nothing is sent.
func (h *Handler) claim(ctx context.Context, thing, role, key, digest string, req request) claimResult {
	sk := IdempotencySortKey(role, key)
	item, err := attributevalue.MarshalMap(idemItem{
		Thing: thing, Key: sk, Kind: KindIdemClaim, RequestID: req.id,
		RequestedAt: req.startedAt.Format(auditTimeLayout), Caller: req.caller, BodySHA256: digest,
	})
	if err == nil {
		err = h.putOnce(ctx, item)
	}
	if err == nil {
		return claimResult{claimed: true}
	}
	var ccf *ddbtypes.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		h.metric(contract.MetricAuditWriteFailed, contract.DimensionPhase, KindIdemClaim)
		return claimResult{status: 503, body: h.errorJSON("the request could not be recorded, so nothing was sent; try again later", req.id),
			outcome: OutcomeFailed, reason: "idempotency claim write failed: " + err.Error()}
	}
	first, err := h.getIdem(ctx, thing, sk)
	if err != nil || first == nil {
		reason := "idempotency claim exists but could not be read"
		if err != nil {
			reason += ": " + err.Error()
		}
		return claimResult{status: 503, body: h.errorJSON("could not read the earlier request with this Idempotency-Key; nothing was sent, try again later", req.id),
			outcome: OutcomeFailed, reason: reason}
	}
	if first.BodySHA256 != digest {
		reason := fmt.Sprintf("%s %q was first used by request %s at %s with another request body; a key names one request, use a new key for a new one",
			IdempotencyHeader, key, first.RequestID, first.RequestedAt)
		h.metric(contract.MetricRefused, contract.DimensionReason, contract.ReasonIdempotencyMismatch)
		return claimResult{status: 422, body: h.errorJSON(reason, req.id), outcome: OutcomeRejected, reason: reason}
	}
	answer, err := h.getIdem(ctx, thing, sk+"#answer")
	if err != nil {
		return claimResult{status: 503, body: h.errorJSON("could not read the earlier answer for this Idempotency-Key; nothing was sent, try again later", req.id),
			outcome: OutcomeFailed, reason: "idempotency answer could not be read: " + err.Error()}
	}
	if answer == nil {
		reason := fmt.Sprintf("request %s with %s %q (at %s) has no recorded answer: it is in progress, or it ended without recording one (see its audit records); nothing was sent again",
			first.RequestID, IdempotencyHeader, key, first.RequestedAt)
		h.metric(contract.MetricRefused, contract.DimensionReason, contract.ReasonIdempotencyInProgress)
		return claimResult{status: 409, body: h.errorJSON(reason, req.id), outcome: OutcomeRejected, reason: reason}
	}
	h.metric(contract.MetricReplayed, "", "")
	return claimResult{status: answer.Status, body: answer.Body, replayed: true, outcome: OutcomeReplayed,
		reason: fmt.Sprintf("replay of request %s (%s %q): its answer returned, nothing sent", first.RequestID, IdempotencyHeader, key)}
}

// storeAnswer records the claimed key's answer; a failure leaves the key claimed without an
// answer, so a retry gets 409 and the command is still never sent twice.
func (h *Handler) storeAnswer(ctx context.Context, thing, role, key string, req request, status int, body string) {
	item, err := attributevalue.MarshalMap(idemItem{
		Thing: thing, Key: IdempotencySortKey(role, key) + "#answer", Kind: KindIdemAnswer, RequestID: req.id,
		RequestedAt: req.startedAt.Format(auditTimeLayout), Caller: req.caller, Status: status, Body: body,
	})
	if err == nil {
		err = h.putOnce(ctx, item)
	}
	if err != nil {
		h.metric(contract.MetricAuditWriteFailed, contract.DimensionPhase, KindIdemAnswer)
		h.logger().ErrorContext(ctx, "idempotency answer write failed", "thing", thing, "requestId", req.id, "status", status, "error", err)
	}
}

func (h *Handler) getIdem(ctx context.Context, thing, sk string) (*idemItem, error) {
	out, err := h.AuditReads.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(h.AuditTable),
		Key: map[string]ddbtypes.AttributeValue{
			AuditPartitionKey: &ddbtypes.AttributeValueMemberS{Value: thing},
			AuditSortKey:      &ddbtypes.AttributeValueMemberS{Value: sk},
		},
		// The claim was just written by another request: read it, not a stale replica.
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, err
	}
	if out == nil || len(out.Item) == 0 {
		return nil, nil
	}
	var it idemItem
	if err := attributevalue.UnmarshalMap(out.Item, &it); err != nil {
		return nil, fmt.Errorf("decode idempotency item %s: %w", sk, err)
	}
	return &it, nil
}

// putOnce puts an audit table item that must not exist yet: items are never overwritten.
func (h *Handler) putOnce(ctx context.Context, item map[string]ddbtypes.AttributeValue) error {
	_, err := h.Audit.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                aws.String(h.AuditTable),
		Item:                     item,
		ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": AuditPartitionKey},
	})
	return err
}
