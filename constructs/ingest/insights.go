package ingest

// Logs Insights queries over the telemetry processor's log group (Ingest.Processor.LogGroup).
// The processor writes one JSON line per rejected record (lambdas/telemetry/pipeline:
// message pipeline.LogRejected with thing, class, district and reason); Lambda keeps
// application logs that are already JSON as they are, so Logs Insights discovers those keys
// as fields. A test keeps these names in step with the processor's.
const (
	// LogRejectedMessage is the msg of the processor's per-reject log line.
	LogRejectedMessage = "telemetry rejected"

	// RejectsByThingQuery counts rejected records per thing, with their class, district and
	// reason, worst first. It answers "which devices send what we refuse" without a metric
	// dimension per thing (100,000 things would be 100,000 custom metric series; a query
	// costs per GB scanned only when someone looks). For a dashboard's Logs Insights widget
	// over the processor's log group.
	RejectsByThingQuery = `fields @timestamp, thing, class, district, reason
| filter msg = "` + LogRejectedMessage + `"
| stats count(*) as rejects by thing, class, district, reason
| sort rejects desc
| limit 50`
)
