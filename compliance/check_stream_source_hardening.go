package compliance

import (
	"fmt"
	"strings"
)

// checkStreamSourceHardening: a stream consumer that fails retries its batch until the
// records expire, blocking the shard; bisecting, partial-failure reports and a bounded retry
// isolate the one bad record, and the failure queue keeps it.
var checkStreamSourceHardening = Check{
	Name:    "stream-source-hardening",
	Default: "stream consumers batch (>= 100), bisect on error, retry a bounded number of times, report partial failures and send what still fails to a queue",
	Run:     streamSourceHardening,
}

func streamSourceHardening(t Template) (int, []string) {
	n := 0
	var out []string
	for _, m := range t.Resources("AWS::Lambda::EventSourceMapping") {
		if Get(m.Properties, "StartingPosition") == nil { // SQS sources have none
			continue
		}
		n++
		var bad []string
		if b, _ := Get(m.Properties, "BatchSize").(float64); b < 100 {
			bad = append(bad, fmt.Sprintf("BatchSize %v below 100", Get(m.Properties, "BatchSize")))
		}
		if Get(m.Properties, "BisectBatchOnFunctionError") != true {
			bad = append(bad, "no bisect on error")
		}
		if r, ok := Get(m.Properties, "MaximumRetryAttempts").(float64); !ok || r < 0 {
			bad = append(bad, "retries unbounded")
		}
		if Get(m.Properties, "DestinationConfig", "OnFailure", "Destination") == nil {
			bad = append(bad, "no on-failure destination")
		}
		partial := false
		for _, f := range List(Get(m.Properties, "FunctionResponseTypes")) {
			partial = partial || f == "ReportBatchItemFailures"
		}
		if !partial {
			bad = append(bad, "no ReportBatchItemFailures")
		}
		if len(bad) > 0 {
			out = append(out, m.ID+": "+strings.Join(bad, "; "))
		}
	}
	return n, out
}
