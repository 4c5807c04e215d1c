package ingest

import "github.com/secure-smart-city/platform/lambdas/telemetry/contract"

// Logs Insights queries over the telemetry processor's log group (Ingest.Processor.LogGroup).
// The processor writes one JSON line per rejected record (message contract.LogRejected with
// the keys contract.LogKeyThing, LogKeyClass, LogKeyDistrict and LogKeyReason); Lambda keeps
// application logs that are already JSON as they are, so Logs Insights discovers those keys
// as fields.
const (

	// RejectsByThingQuery counts rejected records per thing, with their class, district and
	// reason, worst first. It answers "which devices send what we refuse" without a metric
	// dimension per thing (100,000 things would be 100,000 custom metric series; a query
	// costs per GB scanned only when someone looks). For a dashboard's Logs Insights widget
	// over the processor's log group.
	RejectsByThingQuery = `fields @timestamp, ` + rejectFields + `
| filter msg = "` + contract.LogRejected + `"
| stats count(*) as rejects by ` + rejectFields + `
| sort rejects desc
| limit 50`

	rejectFields = contract.LogKeyThing + ", " + contract.LogKeyClass + ", " + contract.LogKeyDistrict + ", " + contract.LogKeyReason
)
