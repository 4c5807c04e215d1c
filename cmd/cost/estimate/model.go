package estimate

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strings"

	"github.com/secure-smart-city/platform/lambdas/telemetry/pipeline"
)

// A month is 30 days, as in issue 13's figures (100,000 devices x 1/min = 4.32 billion).
const (
	monthMinutes = 30 * 24 * 60
	monthHours   = 30 * 24
	monthSeconds = monthMinutes * 60
	kib          = 1024.0
	gib          = kib * kib * kib
)

// Estimates the model uses where neither the templates nor the figures file say; each is
// written down here and in the README's cost section.
const (
	// iotUnitBytes: AWS IoT Core meters messages in 5 KB units.
	iotUnitBytes = 5 * 1024
	// kinesisPUTUnitBytes: provisioned streams meter PUT payload units of 25 KB.
	kinesisPUTUnitBytes = 25 * 1024
	// onDemandBaseShards: an on-demand stream starts with 4 MB/s of write capacity (4 shards'
	// worth), which bounds the records per shard and so the batches the processor gets.
	onDemandBaseShards = 4
	// archiveRatio: gzip NDJSON of JSON telemetry (the archive's format) is taken to be 30%
	// of the raw bytes; not measured.
	archiveRatio = 0.30
	// lambdaPlatformLogBytes: START, END and REPORT lines per invocation.
	lambdaPlatformLogBytes = 350
	// emfLineBytes: one embedded-metric line per (class, district) in a batch.
	emfLineBytes = 500
	// metricsPerClass: Received, Accepted, Rejected, Duplicates, Retried and
	// ProcessingLatency, per Class and per (Class, District) (pipeline.emitMetrics).
	metricsPerClass = 6
	// serviceKMSPerHour: Kinesis (and DynamoDB, S3 bucket keys) call KMS about every five
	// minutes per credential that uses the key (Kinesis developer guide, "Costs, Regions,
	// and performance considerations").
	serviceKMSPerHour = 12
	// apiLogBytes: access, execution and WAF log bytes per command API request.
	apiLogBytes = 2500
	// apiFunctionSeconds: the command function's duration per request (I/O bound).
	apiFunctionSeconds = 0.1
	// ddbItemOverhead: DynamoDB bills 100 bytes of overhead per stored item (its pricing
	// page's storage note; not checked against stored docs).
	ddbItemOverhead = 100
)

// Secure defaults, for the README's "what each secure default adds".
const (
	DefaultKeys     = "customer-managed KMS keys and their requests"
	DefaultAudit    = "Device Defender audits"
	DefaultWAF      = "WAF on the command API"
	DefaultLogsAlms = "logs and alarms"
	DefaultPITR     = "DynamoDB point-in-time recovery"
)

// Params is the fleet being priced.
type Params struct {
	Devices float64
	// PerMinute is messages per device per minute.
	PerMinute float64
	// Bytes is the message payload size.
	Bytes float64
	// APIRequests is command API requests per month.
	APIRequests float64
}

// Line is one component's monthly cost.
type Line struct {
	Component string
	Usage     string
	USD       float64
	// Default names the secure default the line belongs to, if any.
	Default string
	// Unpriced lines are resources the model cannot price: never a silent zero.
	Unpriced bool
}

// Result is the estimate for both paths.
type Result struct {
	Params
	Region, PriceDate          string
	Messages                   float64
	Platform, PerMessage       []Line
	PlatformUSD, PerMessageUSD float64
	Ratio                      float64
	Warnings                   []string
}

// Estimate prices the inventory for a fleet, and the per-message pattern with the same
// prices and rules.
func Estimate(inv *Inventory, fig Figures, prices PriceTable, p Params) (Result, error) {
	if p.Devices <= 0 || p.PerMinute <= 0 || p.Bytes <= 0 || p.APIRequests < 0 {
		return Result{}, fmt.Errorf("devices, rate and bytes must be positive, api requests not negative (got %v, %v/min, %v B, %v)", p.Devices, p.PerMinute, p.Bytes, p.APIRequests)
	}
	e := &estimator{inv: inv, fig: fig, t: prices, p: p}
	e.msgs = p.Devices * p.PerMinute * monthMinutes
	e.perSecond = e.msgs / monthSeconds
	e.platform()
	e.perMessage()
	r := Result{Params: p, Region: prices.Region, PriceDate: prices.Date, Messages: e.msgs,
		Platform: e.lines, PerMessage: e.pattern, Warnings: e.warnings}
	for _, l := range r.Platform {
		r.PlatformUSD += l.USD
	}
	for _, l := range r.PerMessage {
		r.PerMessageUSD += l.USD
	}
	if r.PerMessageUSD > 0 {
		r.Ratio = r.PlatformUSD / r.PerMessageUSD
	}
	return r, nil
}

type estimator struct {
	inv            *Inventory
	fig            Figures
	t              PriceTable
	p              Params
	msgs           float64
	perSecond      float64
	lines, pattern []Line
	warnings       []string
	// batch is the processor's records per invocation; invocations per month.
	batch, invocations float64
	shards             float64
}

func (e *estimator) add(component, usage string, usd float64, def string) {
	e.lines = append(e.lines, Line{Component: component, Usage: usage, USD: usd, Default: def})
}

func (e *estimator) warn(format string, a ...any) {
	e.warnings = append(e.warnings, fmt.Sprintf(format, a...))
}

func ceilDiv(a, b float64) float64 { return math.Ceil(a / b) }

func (e *estimator) platform() {
	inv, t := e.inv, e.t
	connMin := e.p.Devices * monthMinutes
	e.add("IoT Core connectivity", fmt.Sprintf("%s connection-minutes", si(connMin)), t.cost(PriceIoTConnect, connMin), "")

	// Messaging: none through Basic Ingest (a rule without FROM can only be triggered that way).
	broker := false
	var actions, added, encoded float64
	for _, r := range inv.Rules {
		broker = broker || !r.BasicIngestOnly
		actions += float64(len(r.Actions))
		added += float64(r.AddedBytes)
		if r.EncodedPayload {
			encoded++
		}
	}
	if n := float64(len(inv.Rules)); n > 0 {
		actions /= n
		added /= n
		encoded /= n
	}
	if broker {
		units := e.msgs * ceilDiv(e.p.Bytes, iotUnitBytes)
		e.add("IoT Core messaging", fmt.Sprintf("%s 5 KB units (a rule reads the broker)", si(units)), t.cost(PriceIoTMessage, units), "")
	} else if len(inv.Rules) > 0 {
		e.add("IoT Core messaging", "Basic Ingest only: no messaging charge", 0, "")
	}
	if len(inv.Rules) > 0 {
		e.add("IoT rules triggered", fmt.Sprintf("%s (1 rule per message, %d rules)", si(e.msgs), len(inv.Rules)), t.cost(PriceIoTRule, e.msgs), "")
		e.add("IoT rule actions", fmt.Sprintf("%s (%.3g per message)", si(e.msgs*actions), actions), t.cost(PriceIoTAction, e.msgs*actions), "")
	}

	// A rule that carries the payload base64-encoded (encode(*, 'base64')) puts 4 bytes on the
	// stream per 3 of payload; the rest of the record is the rule's keys.
	payload := e.p.Bytes + encoded*(4*math.Ceil(e.p.Bytes/3)-e.p.Bytes)
	recBytes := payload + added
	e.stream(recBytes)
	e.processor()
	e.tables()
	e.archive()
	e.keys()
	e.observability()
	e.security()
	e.idle()
	for _, u := range inv.Unknown {
		e.lines = append(e.lines, Line{Component: "unpriced resource", Usage: u, Unpriced: true})
		e.warn("unpriced resource type, not in the model: %s", u)
	}
}

func (e *estimator) stream(recBytes float64) {
	t := e.t
	recPerSec := e.perSecond
	needed := math.Max(ceilDiv(recPerSec*recBytes, 1<<20), ceilDiv(recPerSec, 1000))
	for _, s := range e.inv.Streams {
		consumers := 0
		for _, c := range e.inv.Consumers {
			if c.Stream == s.ID {
				consumers++
			}
		}
		if s.RetentionHr > 24 {
			e.warn("stream %s keeps data %d hours: extended retention is not priced", s.ID, s.RetentionHr)
		}
		if s.OnDemand {
			e.shards = math.Max(onDemandBaseShards, needed)
			recKB := ceilDiv(recBytes, kib)
			gbIn := e.msgs * recKB / (kib * kib)
			e.add("Kinesis on-demand data in", fmt.Sprintf("%s GB (%.0f B records rounded to %.0f KB)", si(gbIn), recBytes, recKB), t.cost(PriceKinesisODIn, gbIn), "")
			e.add("Kinesis on-demand data out", fmt.Sprintf("%s GB x %d consumer(s)", si(gbIn), consumers), t.cost(PriceKinesisODOut, gbIn*float64(consumers)), "")
			e.add("Kinesis on-demand stream-hours", fmt.Sprintf("%d hours", monthHours), t.cost(PriceKinesisODHour, monthHours), "")
			continue
		}
		e.shards = float64(s.Shards)
		if float64(s.Shards) < needed {
			e.warn("stream %s has %d shards, the fleet needs %.0f: writes would be throttled", s.ID, s.Shards, needed)
		}
		units := e.msgs * ceilDiv(recBytes, kinesisPUTUnitBytes)
		e.add("Kinesis provisioned shard-hours", fmt.Sprintf("%d shards x %d hours (fleet needs %.0f)", s.Shards, monthHours, needed), t.cost(PriceKinesisShardHour, float64(s.Shards)*monthHours), "")
		e.add("Kinesis PUT payload units", fmt.Sprintf("%s 25 KB units", si(units)), t.cost(PriceKinesisPUTUnit, units), "")
	}
}

func (e *estimator) function(id string) (Function, bool) {
	for _, f := range e.inv.Functions {
		if f.ID == id {
			return f, true
		}
	}
	return Function{}, false
}

func lambdaDuration(t PriceTable, invocations, billedMs, memMB float64, arm bool) (float64, float64) {
	gbs := invocations * billedMs / 1000 * memMB / 1024
	key := PriceLambdaX86GBs
	if arm {
		key = PriceLambdaArmGBs
	}
	return gbs, t.cost(key, gbs)
}

func (e *estimator) processor() {
	if len(e.inv.Consumers) == 0 {
		e.lines = append(e.lines, Line{Component: "telemetry processor (Lambda)", Usage: "no stream consumer in the templates: invocations not modeled", Unpriced: true})
		e.warn("no Kinesis event source mapping: the telemetry processor's invocations are not priced")
		return
	}
	c := e.inv.Consumers[0]
	f, ok := e.function(c.Function)
	if !ok {
		e.warn("event source mapping %s names function %s, which is not in the templates", c.ID, c.Function)
		return
	}
	perShard := e.perSecond / math.Max(e.shards, 1)
	// The mapping polls each shard about once a second; a batch holds what arrived since,
	// at most BatchSize (or what the batching window gathers).
	e.batch = math.Max(1, math.Min(c.BatchSize, math.Floor(perShard*math.Max(c.WindowSeconds, 1))))
	e.invocations = e.msgs / e.batch
	billedMs := math.Max(1, math.Ceil(e.batch*e.fig.NsPerMessage/1e6))
	gbs, dur := lambdaDuration(e.t, e.invocations, billedMs, f.MemoryMB, f.Arm64)
	e.add("telemetry processor requests", fmt.Sprintf("%s invocations (batches of %.0f)", si(e.invocations), e.batch), e.t.cost(PriceLambdaRequest, e.invocations), "")
	e.add("telemetry processor duration", fmt.Sprintf("%s GB-s (%.0f MB %s, %.0f ms per batch)", si(gbs), f.MemoryMB, arch(f.Arm64), billedMs), dur, "")
}

func arch(arm bool) string {
	if arm {
		return "arm64"
	}
	return "x86_64"
}

// units returns a DynamoDB operation's request units for a message of the given size.
func (op ItemOp) units(payload, unit float64) float64 {
	size := float64(op.Bytes)
	if op.PayloadSized {
		size += payload
	}
	return math.Max(1, ceilDiv(size, unit))
}

func (e *estimator) wruPerMessage() float64 {
	var n float64
	for _, op := range e.fig.DynamoWrites {
		n += op.PerMessage * op.units(e.p.Bytes, kib)
	}
	return n
}

func (e *estimator) rruPerMessage() float64 {
	var n float64
	for _, op := range e.fig.DynamoReads {
		u := op.units(e.p.Bytes, 4*kib)
		if !op.Consistent {
			u /= 2
		}
		n += op.PerMessage * u
	}
	return n
}

// stateBytes is the size of a payload-sized item (the latest state), 0 without one.
func (e *estimator) stateBytes() float64 {
	for _, op := range e.fig.DynamoWrites {
		if op.PayloadSized {
			return e.p.Bytes + float64(op.Bytes)
		}
	}
	return 0
}

// provisioned returns the capacity a target-tracking table settles at for a steady load.
func (e *estimator) provisioned(table, dim string, base float64, sc *Scaling, perSec float64) float64 {
	if sc == nil {
		if perSec > base {
			e.warn("table %s: %.0f %s provisioned without autoscaling, the fleet needs %.0f: requests would be throttled", table, base, dim, perSec)
		}
		return base
	}
	capacity := math.Ceil(perSec / (sc.Target / 100))
	if capacity > sc.Max {
		e.warn("table %s: the fleet needs %.0f %s at %.0f%% utilization, autoscaling stops at %.0f: requests would be throttled", table, capacity, dim, sc.Target, sc.Max)
		capacity = sc.Max
	}
	return math.Max(capacity, sc.Min)
}

func (e *estimator) tables() {
	t := e.t
	wru, rru := e.wruPerMessage(), e.rruPerMessage()
	found := false
	for _, tb := range e.inv.Tables {
		if !tb.Telemetry {
			if tb.OnDemand {
				continue // listed with the idle resources
			}
			w := e.provisioned(tb.ID, "WCU", tb.WCU, tb.WriteScale, 0)
			r := e.provisioned(tb.ID, "RCU", tb.RCU, tb.ReadScale, 0)
			e.add("DynamoDB "+name(tb.ID)+" (provisioned, no telemetry)", fmt.Sprintf("%.0f WCU + %.0f RCU x %d hours", w, r, monthHours),
				t.cost(PriceDDBWCUHour, w*monthHours)+t.cost(PriceDDBRCUHour, r*monthHours), "")
			continue
		}
		found = true
		label := "DynamoDB " + name(tb.ID)
		if tb.OnDemand {
			e.add(label+" writes", fmt.Sprintf("%s WRU (%.3g per message)", si(e.msgs*wru), wru), t.cost(PriceDDBWrite, e.msgs*wru), "")
			e.add(label+" reads", fmt.Sprintf("%s RRU (%.3g per message)", si(e.msgs*rru), rru), t.cost(PriceDDBRead, e.msgs*rru), "")
		} else {
			w := e.provisioned(tb.ID, "WCU", tb.WCU, tb.WriteScale, e.perSecond*wru)
			r := e.provisioned(tb.ID, "RCU", tb.RCU, tb.ReadScale, e.perSecond*rru)
			e.add(label+" write capacity", fmt.Sprintf("%.0f WCU x %d hours (%.3g WRU per message, target tracking)", w, monthHours, wru), t.cost(PriceDDBWCUHour, w*monthHours), "")
			e.add(label+" read capacity", fmt.Sprintf("%.0f RCU x %d hours (%.3g RRU per message, target tracking)", r, monthHours, rru), t.cost(PriceDDBRCUHour, r*monthHours), "")
		}
		gb, what := e.storedGB()
		e.add(label+" storage", fmt.Sprintf("%s GB (%s)", si(gb), what), t.cost(PriceDDBStorage, gb), "")
		if tb.PITR {
			e.add(label+" point-in-time recovery", fmt.Sprintf("%s GB", si(gb)), t.cost(PriceDDBPITR, gb), DefaultPITR)
		}
	}
	if !found && (wru > 0 || rru > 0) {
		e.lines = append(e.lines, Line{Component: "DynamoDB telemetry traffic", Usage: "no table referenced by the processor's environment", Unpriced: true})
		e.warn("the figures file has DynamoDB operations per message, but no table is referenced by the telemetry processor")
	}
}

// storedGB is the telemetry table's size: one payload-sized item per device, and the items
// written anew per message for as long as they are retained (until their TTL; DynamoDB's
// deletion lag after expiry is not counted).
func (e *estimator) storedGB() (float64, string) {
	var bytes float64
	var parts []string
	for _, op := range e.fig.DynamoWrites {
		size := float64(op.Bytes) + ddbItemOverhead
		switch {
		case op.PayloadSized:
			size += e.p.Bytes
			bytes += e.p.Devices * size
			parts = append(parts, op.Item+" per device")
		case op.RetainedHours > 0:
			bytes += e.msgs * op.PerMessage * op.RetainedHours / monthHours * size
			parts = append(parts, fmt.Sprintf("%s for %.0f h", op.Item, op.RetainedHours))
		}
	}
	return bytes / gib, strings.Join(parts, ", ")
}

func (e *estimator) archive() {
	if e.invocations == 0 {
		return
	}
	puts := e.invocations * e.fig.S3PutsPerBatch
	e.add("S3 archive PUTs", fmt.Sprintf("%s (%.3g per batch)", si(puts), e.fig.S3PutsPerBatch), e.t.cost(PriceS3Put, puts), "")
	gb := e.msgs * e.p.Bytes * archiveRatio / gib
	e.add("S3 archive storage", fmt.Sprintf("%s GB added this month (gzip at %.0f%%, estimate)", si(gb), archiveRatio*100), e.t.cost(PriceS3Storage, gb), "")
}

func (e *estimator) keys() {
	if e.inv.KMSKeys == 0 {
		return
	}
	e.add("KMS customer-managed keys", fmt.Sprintf("%d keys", e.inv.KMSKeys), e.t.cost(PriceKMSKey, float64(e.inv.KMSKeys)), DefaultKeys)
	own := e.msgs / 10000 * e.fig.KMSRequestsPer10k
	// Producer and consumer credentials per shard on the stream, the processor's DynamoDB
	// and S3 (bucket key) use per concurrent invocation (one per shard).
	service := 4 * math.Max(e.shards, 1) * serviceKMSPerHour * monthHours
	e.add("KMS requests", fmt.Sprintf("%s (processor %.3g per 10k messages, services about %s)", si(own+service), e.fig.KMSRequestsPer10k, si(service)), e.t.cost(PriceKMSRequest, own+service), DefaultKeys)
}

func (e *estimator) observability() {
	t, inv := e.t, e.inv
	series := 0.0
	if len(inv.Consumers) > 0 {
		// Per Class (the fleet's classes and "unknown"), per (Class, District), and Rejected
		// per (Class, Reason) for every reason (an upper bound: a reason seen in the month).
		classes := float64(inv.Classes)
		series = metricsPerClass*(classes+1) + metricsPerClass*classes*float64(inv.Districts) + classes*float64(len(pipeline.Reasons))
	}
	perDevice := 0
	for _, mf := range inv.MetricFilters {
		if len(mf.Dimensions) == 0 {
			series++
		} else {
			perDevice++
		}
	}
	e.add("CloudWatch custom metrics", fmt.Sprintf("%.0f series (%d classes, %d districts, %d reasons; %d per-device filter metrics: misbehaving devices only)",
		series, inv.Classes, inv.Districts, len(pipeline.Reasons), perDevice), t.cost(PriceCWMetric, series), DefaultLogsAlms)
	a := inv.Alarms
	alarms := t.cost(PriceCWAlarm, float64(a.Standard)) + t.cost(PriceCWAlarmHighRes, float64(a.HighRes)) + t.cost(PriceCWAlarmInsights, float64(a.InsightsMetrics))
	e.add("CloudWatch alarms", fmt.Sprintf("%d alarms: %d metrics, %d high-resolution, %d Metrics Insights (%d metrics analyzed)", a.Count, a.Standard, a.HighRes, a.Insights, a.InsightsMetrics), alarms, DefaultLogsAlms)
	if inv.Dashboards > 0 {
		e.add("CloudWatch dashboards", fmt.Sprintf("%d", inv.Dashboards), t.cost(PriceCWDashboard, float64(inv.Dashboards)), "")
	}
	if e.invocations > 0 {
		lines := math.Min(e.batch, float64(max(inv.Classes*inv.Districts, 1)))
		gb := e.invocations * (lambdaPlatformLogBytes + lines*emfLineBytes) / gib
		e.add("CloudWatch Logs, processor", fmt.Sprintf("%s GB ingested (%.0f metric lines per batch), stored a month", si(gb), lines),
			t.cost(PriceLogsIngest, gb)+t.cost(PriceLogsStorage, gb), DefaultLogsAlms)
	}
	if e.p.APIRequests > 0 {
		gb := e.p.APIRequests * apiLogBytes / gib
		e.add("CloudWatch Logs, command API and WAF", fmt.Sprintf("%s GB", si(gb)), t.cost(PriceLogsIngest, gb)+t.cost(PriceLogsStorage, gb), DefaultLogsAlms)
	}
	if n := len(inv.LogGroups); n > 0 {
		e.add("CloudWatch Logs, other groups", fmt.Sprintf("%d groups: event-driven (IoT connect/disconnect at INFO, remediation, provisioning), not modeled", n), 0, DefaultLogsAlms)
	}
}

func (e *estimator) security() {
	t, inv := e.t, e.inv
	if inv.Audit {
		e.add("Device Defender audit", fmt.Sprintf("%s devices (%d scheduled audits; billed per active device)", si(e.p.Devices), inv.ScheduledAudits), t.cost(PriceDefenderAudit, e.p.Devices), DefaultAudit)
	}
	for _, w := range inv.WebACLs {
		usd := t.cost(PriceWAFACL, 1) + t.cost(PriceWAFRule, float64(w.Rules)) + t.cost(PriceWAFRequest, e.p.APIRequests)
		e.add("WAF web ACL", fmt.Sprintf("1 ACL, %d rules, %s requests", w.Rules, si(e.p.APIRequests)), usd, DefaultWAF)
	}
	if inv.RestAPIs > 0 {
		var mem float64 = 128
		arm := true
		for _, f := range inv.Functions {
			if strings.Contains(f.ID, "CommandApi") {
				mem, arm = f.MemoryMB, f.Arm64
			}
		}
		_, dur := lambdaDuration(t, e.p.APIRequests, apiFunctionSeconds*1000, mem, arm)
		usd := t.cost(PriceAPIGWRequest, e.p.APIRequests) + t.cost(PriceLambdaRequest, e.p.APIRequests) + dur
		e.add("command API (API Gateway + Lambda)", fmt.Sprintf("%s requests (-api-requests)", si(e.p.APIRequests)), usd, "")
	}
}

func (e *estimator) idle() {
	var parts []string
	n := 0
	types := make([]string, 0, len(e.inv.Idle))
	for typ := range e.inv.Idle {
		types = append(types, typ)
	}
	sort.Strings(types)
	for _, typ := range types {
		parts = append(parts, fmt.Sprintf("%d %s", len(e.inv.Idle[typ]), strings.TrimPrefix(typ, "AWS::")))
		n += len(e.inv.Idle[typ])
	}
	idleTables := 0
	for _, tb := range e.inv.Tables {
		if !tb.Telemetry && tb.OnDemand {
			idleTables++
		}
	}
	if idleTables > 0 {
		parts = append(parts, fmt.Sprintf("%d on-demand tables", idleTables))
		n += idleTables
	}
	var others int
	for _, f := range e.inv.Functions {
		if !f.Telemetry && !strings.Contains(f.ID, "CommandApi") {
			others++
		}
	}
	if others > 0 {
		parts = append(parts, fmt.Sprintf("%d event-driven functions", others))
		n += others
	}
	if n > 0 {
		e.add("per-request resources idle in steady state", strings.Join(parts, ", "), 0, "")
	}
}

// perMessage prices the pattern of the Solutions Constructs and the CDK IoT L2, fixed: a
// broker publish (5 KB units), one rule with one Lambda action, one invocation per message
// (128 MB arm64, the measured ns per message), one on-demand DynamoDB write of the state.
func (e *estimator) perMessage() {
	t := e.t
	add := func(c, u string, usd float64) { e.pattern = append(e.pattern, Line{Component: c, Usage: u, USD: usd}) }
	connMin := e.p.Devices * monthMinutes
	add("IoT Core connectivity", fmt.Sprintf("%s connection-minutes", si(connMin)), t.cost(PriceIoTConnect, connMin))
	units := e.msgs * ceilDiv(e.p.Bytes, iotUnitBytes)
	add("IoT Core messaging", fmt.Sprintf("%s 5 KB units", si(units)), t.cost(PriceIoTMessage, units))
	add("IoT rules triggered", si(e.msgs), t.cost(PriceIoTRule, e.msgs))
	add("IoT rule actions (Lambda)", si(e.msgs), t.cost(PriceIoTAction, e.msgs))
	add("Lambda requests", fmt.Sprintf("%s invocations", si(e.msgs)), t.cost(PriceLambdaRequest, e.msgs))
	billedMs := math.Max(1, math.Ceil(e.fig.NsPerMessage/1e6))
	gbs, dur := lambdaDuration(t, e.msgs, billedMs, 128, true)
	add("Lambda duration", fmt.Sprintf("%s GB-s (128 MB arm64, %.0f ms billed per message)", si(gbs), billedMs), dur)
	wru := math.Max(1, ceilDiv(e.stateBytes(), kib))
	add("DynamoDB on-demand writes", fmt.Sprintf("%s WRU (%.0f per message)", si(e.msgs*wru), wru), t.cost(PriceDDBWrite, e.msgs*wru))
}

var hashSuffix = regexp.MustCompile(`[0-9A-F]{8}$`)

// name drops the hash CDK appends to a logical id.
func name(id string) string { return hashSuffix.ReplaceAllString(id, "") }

// si formats a quantity compactly: 4.32e9 -> "4.32G".
func si(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e9:
		return fmt.Sprintf("%.3gG", v/1e9)
	case a >= 1e6:
		return fmt.Sprintf("%.3gM", v/1e6)
	case a >= 1e4:
		return fmt.Sprintf("%.3gk", v/1e3)
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}
