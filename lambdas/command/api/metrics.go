package api

import (
	"encoding/json"
	"io"
	"os"
)

// Namespace is the CloudWatch namespace of the command function's metrics (embedded metric
// format lines on stdout, which Lambda sends to CloudWatch Logs).
const Namespace = "SmartCity/Commands"

// Metrics. Every dimension value is one of the constants below, never caller input, so the
// metrics cannot grow without bound.
const (
	// MetricAuditWriteFailed counts audit table writes that failed, per Phase: "intent" (the
	// command was not sent, 503), "outcome" (sent, but its outcome is not recorded),
	// "refusal", and the idempotency items.
	MetricAuditWriteFailed = "AuditWriteFailed"
	// MetricRefused counts requests refused for a security reason, per Reason.
	MetricRefused = "Refused"
	// MetricReplayed counts answers replayed for a repeated Idempotency-Key.
	MetricReplayed = "Replayed"

	DimensionPhase  = "Phase"
	DimensionReason = "Reason"

	// Reasons.
	ReasonNotOperator           = "not-operator"
	ReasonOutOfScope            = "out-of-scope"
	ReasonIdempotencyMismatch   = "idempotency-key-reused"
	ReasonIdempotencyInProgress = "idempotency-key-unanswered"
	ReasonAuditUnavailable      = "audit-unavailable"
)

// metric writes one embedded-metric-format line counting 1 of name, with one dimension when
// dim is set.
func (h *Handler) metric(name, dim, value string) {
	doc := map[string]any{name: 1}
	dims := [][]string{{}}
	if dim != "" {
		doc[dim] = value
		dims = [][]string{{dim}}
	}
	doc["_aws"] = map[string]any{
		"Timestamp": h.now().UnixMilli(),
		"CloudWatchMetrics": []any{map[string]any{
			"Namespace": Namespace, "Dimensions": dims,
			"Metrics": []any{map[string]string{"Name": name, "Unit": "Count"}},
		}},
	}
	line, err := json.Marshal(doc)
	if err != nil {
		return
	}
	_, _ = h.metricsOut().Write(append(line, '\n'))
}

func (h *Handler) metricsOut() io.Writer {
	if h.Metrics != nil {
		return h.Metrics
	}
	return os.Stdout
}
