package api

import (
	"encoding/json"
	"io"
	"os"

	"github.com/secure-smart-city/platform/lambdas/command/contract"
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
			"Namespace": contract.Namespace, "Dimensions": dims,
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
