package pipeline

import (
	"encoding/json"
	"sort"
	"time"

	"github.com/secure-smart-city/platform/lambdas/telemetry/contract"
)

// Namespace is the CloudWatch namespace of the processor's metrics.
const Namespace = contract.Namespace

// Metric names. Received, Accepted, Rejected, Duplicates and Retried are counts per Class and
// per (Class, District); Rejected is also emitted per (Class, Reason). ProcessingLatency is, per
// Class (and District) and batch, the longest time in milliseconds from the topic rule
// (receivedAt) to durable storage. Class and District are read from the record (the rule's
// class constant, the topic's district) and kept only when the fleet has them: any other
// value, or a record too broken to name one, counts under "unknown".
const (
	MetricReceived   = contract.MetricReceived
	MetricAccepted   = contract.MetricAccepted
	MetricRejected   = contract.MetricRejected
	MetricDuplicates = contract.MetricDuplicates
	MetricRetried    = contract.MetricRetried
	MetricLatency    = contract.MetricLatency
)

// Dimension names.
const (
	DimensionClass    = contract.DimensionClass
	DimensionDistrict = contract.DimensionDistrict
	DimensionReason   = contract.DimensionReason
)

type classCounts struct {
	class, district                                   string
	received, accepted, rejected, duplicates, retried int
	latency                                           int64
	rejects                                           map[Reason]int
}

type emfMetric struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

type emfDirective struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []emfMetric `json:"Metrics"`
}

type emfMeta struct {
	Timestamp         int64          `json:"Timestamp"`
	CloudWatchMetrics []emfDirective `json:"CloudWatchMetrics"`
}

// emitMetrics writes one embedded-metric-format line per (class, district), which CloudWatch
// turns into metrics per Class and per (Class, District) (per-class sums add the districts'
// lines up), and one per (class, district, reason) for Rejected per (Class, Reason). CloudWatch
// Logs makes them metrics without any PutMetricData call.
func (p *Pipeline) emitMetrics(now time.Time, classes []*classCounts) {
	var lines [][]byte
	for _, c := range classes {
		doc := map[string]any{
			DimensionClass:    c.class,
			DimensionDistrict: c.district,
			MetricReceived:    c.received,
			MetricAccepted:    c.accepted,
			MetricRejected:    c.rejected,
			MetricDuplicates:  c.duplicates,
			MetricRetried:     c.retried,
		}
		metrics := []emfMetric{
			{MetricReceived, "Count"}, {MetricAccepted, "Count"}, {MetricRejected, "Count"},
			{MetricDuplicates, "Count"}, {MetricRetried, "Count"},
		}
		if c.accepted > 0 {
			doc[MetricLatency] = max(c.latency, 0)
			metrics = append(metrics, emfMetric{MetricLatency, "Milliseconds"})
		}
		doc["_aws"] = emfMeta{Timestamp: now.UnixMilli(), CloudWatchMetrics: []emfDirective{{
			Namespace: Namespace, Dimensions: [][]string{{DimensionClass}, {DimensionClass, DimensionDistrict}}, Metrics: metrics,
		}}}
		lines = append(lines, mustJSON(doc))
		reasons := make([]string, 0, len(c.rejects))
		for r := range c.rejects {
			reasons = append(reasons, string(r))
		}
		sort.Strings(reasons)
		for _, r := range reasons {
			lines = append(lines, mustJSON(map[string]any{
				DimensionClass:  c.class,
				DimensionReason: r,
				MetricRejected:  c.rejects[Reason(r)],
				"_aws": emfMeta{Timestamp: now.UnixMilli(), CloudWatchMetrics: []emfDirective{{
					Namespace: Namespace, Dimensions: [][]string{{DimensionClass, DimensionReason}},
					Metrics: []emfMetric{{MetricRejected, "Count"}},
				}}},
			}))
		}
	}
	p.metricsMu.Lock()
	defer p.metricsMu.Unlock()
	for _, l := range lines {
		if _, err := p.cfg.Metrics.Write(append(l, '\n')); err != nil {
			p.cfg.Logger.Error("write metrics", "error", err.Error())
			return
		}
	}
}

// mustJSON marshals values built above from strings, ints and structs, which cannot fail.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		return []byte(`{}`)
	}
	return b
}
