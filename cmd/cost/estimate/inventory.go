package estimate

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Template is one synthesized CloudFormation template.
type Template map[string]any

// Inventory is what the synthesized templates deploy, as far as cost is concerned.
type Inventory struct {
	// Region is the region the templates pin, "" for environment-agnostic ones.
	Region string

	Rules      []Rule
	Streams    []Stream
	Tables     []Table
	Functions  []Function
	Consumers  []Consumer
	Alarms     Alarms
	Dashboards int
	LogGroups  []LogGroup
	// Audit is true when Device Defender audit is configured (an account audit
	// configuration or a scheduled audit); ScheduledAudits counts the schedules.
	Audit           bool
	ScheduledAudits int
	KMSKeys         int
	WebACLs         []WebACL
	RestAPIs        int
	// MetricFilters are log metric filters: each makes custom metric series.
	MetricFilters []MetricFilter
	// Classes and Districts are the fleet's device classes (one topic rule each) and
	// districts (one thing group each, "<fleet>_<stage>_district_<id>").
	Classes, Districts int
	// Idle lists resources whose charges are per request and which see no traffic in steady
	// state (dead-letter queues, the alert topic, provisioning and command tables), by type.
	Idle map[string][]string
	// Free counts resources that carry no charge of their own, by type.
	Free map[string]int
	// Unknown lists resources of a type the model does not know ("stack/id (type)").
	Unknown []string

	// insightQueries holds Metrics Insights queries until every rule is read.
	insightQueries []string
}

// Rule is a topic rule.
type Rule struct {
	ID, Name string
	SQL      string
	// BasicIngestOnly is true when the SQL has no FROM clause, so only Basic Ingest can
	// trigger it and its messages carry no messaging charge.
	BasicIngestOnly bool
	Actions         []string // action types, e.g. "Kinesis", "Lambda"
	ErrorAction     string
	// AddedBytes estimates what the SQL adds to each message (topic(), clientid(),
	// timestamp() as JSON fields; with EncodedPayload, the payload's key and quotes too).
	AddedBytes int
	// EncodedPayload is true when the SQL carries the payload base64-encoded
	// (encode(*, 'base64') AS <key>): the record holds 4 bytes per 3 of payload.
	EncodedPayload bool
}

// Stream is a Kinesis data stream.
type Stream struct {
	ID          string
	OnDemand    bool
	Shards      int // provisioned mode only
	RetentionHr int
}

// Table is a DynamoDB table.
type Table struct {
	ID          string
	OnDemand    bool
	WCU, RCU    float64 // provisioned base capacity
	WriteScale  *Scaling
	ReadScale   *Scaling
	Telemetry   bool // the telemetry processor's state table
	PITR        bool
	ScalingNote string
}

// Scaling is a target-tracking autoscaling range.
type Scaling struct {
	Min, Max float64
	Target   float64 // utilization percent
}

// Function is a Lambda function.
type Function struct {
	ID       string
	MemoryMB float64
	Arm64    bool
	// Telemetry is true for the function a Kinesis event source mapping feeds.
	Telemetry bool
	LogGroup  string
}

// Consumer is a Kinesis event source mapping.
type Consumer struct {
	ID, Function, Stream string
	BatchSize            float64
	WindowSeconds        float64
}

// Alarms counts alarm metrics by how CloudWatch bills them.
type Alarms struct {
	Count int
	// Standard and HighRes count alarm metrics (one per metric an alarm or its math reads).
	Standard, HighRes int
	// Insights counts Metrics Insights query alarms; InsightsMetrics the metrics their
	// queries analyze.
	Insights, InsightsMetrics int
}

// LogGroup is a CloudWatch Logs group.
type LogGroup struct {
	ID            string
	RetentionDays float64
}

// WebACL is a WAFv2 web ACL.
type WebACL struct {
	ID    string
	Rules int
}

// MetricFilter is a log metric filter.
type MetricFilter struct {
	ID         string
	Metric     string
	Dimensions []string
}

// protocolsPerQuery is how many Protocol values a broker Metrics Insights query sums over
// (MQTT and HTTP): the values are CloudWatch's, not the template's.
const protocolsPerQuery = 2

// freeTypes carry no charge of their own: their cost, if any, is the traffic they route,
// which the model prices where it flows.
var freeTypes = map[string]bool{
	"AWS::CDK::Metadata": true, "AWS::IAM::Role": true, "AWS::IAM::Policy": true, "AWS::IAM::ManagedPolicy": true,
	"AWS::IoT::Policy": true, "AWS::IoT::Thing": true, "AWS::IoT::ThingGroup": true, "AWS::IoT::ThingType": true,
	"AWS::IoT::Logging": true, "AWS::IoT::DomainConfiguration": true, "AWS::IoT::ProvisioningTemplate": true,
	"AWS::IoT::MitigationAction": true, "AWS::KMS::Alias": true, "AWS::S3::Bucket": true, "AWS::S3::BucketPolicy": true,
	"AWS::SNS::TopicPolicy": true, "AWS::SQS::QueuePolicy": true, "AWS::SNS::Subscription": true,
	"AWS::Lambda::Permission": true, "AWS::Lambda::EventInvokeConfig": true, "AWS::Logs::MetricFilter": true,
	"AWS::ApiGateway::Account": true, "AWS::ApiGateway::Deployment": true, "AWS::ApiGateway::Method": true,
	"AWS::ApiGateway::Model": true, "AWS::ApiGateway::RequestValidator": true, "AWS::ApiGateway::Resource": true,
	"AWS::ApiGateway::Stage": true, "AWS::WAFv2::LoggingConfiguration": true, "AWS::WAFv2::WebACLAssociation": true,
	"AWS::ApplicationAutoScaling::ScalableTarget": true, "AWS::ApplicationAutoScaling::ScalingPolicy": true,
	"AWS::IoT::AccountAuditConfiguration": true, "AWS::IoT::ScheduledAudit": true,
	// A job template has no charge of its own: AWS IoT Jobs bills each job execution, which a
	// firmware release makes once per device, not a steady monthly flow this model prices.
	"AWS::IoT::JobTemplate": true,
}

// idleTypes are billed per request and see no steady-state traffic on this platform.
var idleTypes = map[string]bool{"AWS::SQS::Queue": true, "AWS::SNS::Topic": true}

// ReadDir reads the templates of one stage's stacks ("SmartCity-<stage>-*") from a cloud
// assembly directory such as cdk.out.
func ReadDir(dir, stage string) (map[string]Template, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.template.json"))
	if err != nil {
		return nil, err
	}
	prefix := "SmartCity-" + stage + "-"
	out := map[string]Template{}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".template.json")
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var t Template
		if err := json.Unmarshal(data, &t); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		out[name] = t
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no %s*.template.json in %s: synthesize the stage first (make synth STAGE=%s)", prefix, dir, stage)
	}
	return out, nil
}

type resource struct {
	stack, id, typ string
	props          map[string]any
}

func (r resource) where() string { return fmt.Sprintf("%s/%s (%s)", r.stack, r.id, r.typ) }

// readErr is a known resource type whose cost-relevant property cannot be read.
func (r resource) readErr(field string, v any) error {
	return fmt.Errorf("%s: cannot read %s: %s", r.where(), field, short(v))
}

func short(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 120 {
		return string(b[:120]) + "..."
	}
	return string(b)
}

var (
	districtGroup = regexp.MustCompile(`_district_[a-z0-9_]+$`)
	fromClause    = regexp.MustCompile(`(?i)\bFROM\b`)
	encodedStar   = regexp.MustCompile(`(?i)\bencode\(\s*\*\s*,\s*'base64'\s*\)\s+AS\s+([A-Za-z_][A-Za-z0-9_]*)`)
	ruleAlias     = regexp.MustCompile(`(?i)\b(topic|clientid|timestamp)\(\)\s+AS\s+([A-Za-z_][A-Za-z0-9_]*)`)
	insightsRule  = regexp.MustCompile(`RuleName\s*=\s*'([^']+)'`)
)

// Sizes the rule SQL's added fields are estimated with: a thing name of 32 characters, the
// Basic Ingest topic with its district, and 13-digit millisecond timestamps.
const (
	assumedThingName = 32
	assumedTopic     = 110
	timestampDigits  = 13
)

// Read builds the inventory of a set of stack templates. A resource of a known type whose
// cost-relevant properties cannot be read is an error naming it; an unknown type is listed
// in Unknown.
func Read(templates map[string]Template) (*Inventory, error) {
	inv := &Inventory{Idle: map[string][]string{}, Free: map[string]int{}}
	var all []resource
	stacks := make([]string, 0, len(templates))
	for s := range templates {
		stacks = append(stacks, s)
	}
	sort.Strings(stacks)
	for _, s := range stacks {
		res, _ := templates[s]["Resources"].(map[string]any)
		ids := make([]string, 0, len(res))
		for id := range res {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			m, _ := res[id].(map[string]any)
			typ, _ := m["Type"].(string)
			props, _ := m["Properties"].(map[string]any)
			all = append(all, resource{stack: s, id: id, typ: typ, props: props})
		}
		if inv.Region == "" {
			inv.Region = regionOf(templates[s])
		}
	}
	var errs []error
	// Event source mappings first: they say which function and stream carry telemetry.
	for _, r := range all {
		if r.typ != "AWS::Lambda::EventSourceMapping" {
			continue
		}
		c := Consumer{ID: r.id, BatchSize: 100, WindowSeconds: 0}
		fn, ok := refID(r.props["FunctionName"])
		if !ok {
			errs = append(errs, r.readErr("FunctionName", r.props["FunctionName"]))
			continue
		}
		c.Function = fn
		c.Stream, _ = refID(r.props["EventSourceArn"])
		if v, ok := r.props["BatchSize"]; ok {
			if c.BatchSize, ok = num(v); !ok || c.BatchSize < 1 {
				errs = append(errs, r.readErr("BatchSize", v))
			}
		}
		if v, ok := r.props["MaximumBatchingWindowInSeconds"]; ok {
			if c.WindowSeconds, ok = num(v); !ok {
				errs = append(errs, r.readErr("MaximumBatchingWindowInSeconds", v))
			}
		}
		inv.Consumers = append(inv.Consumers, c)
	}
	telemetryFn := map[string]bool{}
	for _, c := range inv.Consumers {
		telemetryFn[c.Function] = true
	}
	var processorEnv any
	for _, r := range all {
		if r.typ == "AWS::Lambda::Function" && telemetryFn[r.id] {
			processorEnv = r.props["Environment"]
		}
	}
	for _, r := range all {
		var err error
		switch r.typ {
		case "AWS::Lambda::EventSourceMapping":
		case "AWS::IoT::TopicRule":
			err = inv.addRule(r)
		case "AWS::Kinesis::Stream":
			err = inv.addStream(r)
		case "AWS::DynamoDB::Table":
			err = inv.addTable(r, all, processorEnv)
		case "AWS::Lambda::Function":
			err = inv.addFunction(r, telemetryFn[r.id])
		case "AWS::CloudWatch::Alarm":
			err = inv.addAlarm(r)
		case "AWS::CloudWatch::Dashboard":
			inv.Dashboards++
		case "AWS::Logs::LogGroup":
			lg := LogGroup{ID: r.id}
			if v, ok := r.props["RetentionInDays"]; ok {
				if lg.RetentionDays, ok = num(v); !ok {
					err = r.readErr("RetentionInDays", v)
				}
			}
			inv.LogGroups = append(inv.LogGroups, lg)
		case "AWS::KMS::Key":
			inv.KMSKeys++
		case "AWS::WAFv2::WebACL":
			rules, ok := r.props["Rules"].([]any)
			if !ok && r.props["Rules"] != nil {
				err = r.readErr("Rules", r.props["Rules"])
			}
			inv.WebACLs = append(inv.WebACLs, WebACL{ID: r.id, Rules: len(rules)})
		case "AWS::ApiGateway::RestApi":
			inv.RestAPIs++
		case "AWS::Logs::MetricFilter":
			err = inv.addMetricFilter(r)
		}
		if err != nil {
			errs = append(errs, err)
		}
		switch r.typ {
		case "AWS::IoT::AccountAuditConfiguration":
			inv.Audit = true
		case "AWS::IoT::ScheduledAudit":
			inv.Audit = true
			inv.ScheduledAudits++
		case "AWS::IoT::ThingGroup":
			if name, _ := r.props["ThingGroupName"].(string); districtGroup.MatchString(name) {
				inv.Districts++
			}
		}
		switch {
		case idleTypes[r.typ]:
			inv.Idle[r.typ] = append(inv.Idle[r.typ], r.id)
		case freeTypes[r.typ] || strings.HasPrefix(r.typ, "Custom::"):
			inv.Free[r.typ]++
		case priced[r.typ]:
		default:
			inv.Unknown = append(inv.Unknown, r.where())
		}
	}
	inv.Classes = len(inv.Rules)
	inv.countInsightsMetrics()
	return inv, errors.Join(errs...)
}

// priced types are read above and priced by the model.
var priced = map[string]bool{
	"AWS::Lambda::EventSourceMapping": true, "AWS::IoT::TopicRule": true, "AWS::Kinesis::Stream": true,
	"AWS::DynamoDB::Table": true, "AWS::Lambda::Function": true, "AWS::CloudWatch::Alarm": true,
	"AWS::CloudWatch::Dashboard": true, "AWS::Logs::LogGroup": true, "AWS::KMS::Key": true,
	"AWS::WAFv2::WebACL": true, "AWS::ApiGateway::RestApi": true,
}

func (inv *Inventory) addRule(r resource) error {
	payload, ok := r.props["TopicRulePayload"].(map[string]any)
	if !ok {
		return r.readErr("TopicRulePayload", r.props["TopicRulePayload"])
	}
	sql, ok := payload["Sql"].(string)
	if !ok {
		return r.readErr("TopicRulePayload.Sql", payload["Sql"])
	}
	rule := Rule{ID: r.id, SQL: sql, BasicIngestOnly: !fromClause.MatchString(sql)}
	rule.Name, _ = r.props["RuleName"].(string)
	actions, ok := payload["Actions"].([]any)
	if !ok || len(actions) == 0 {
		return r.readErr("TopicRulePayload.Actions", payload["Actions"])
	}
	for _, a := range actions {
		m, ok := a.(map[string]any)
		if !ok || len(m) != 1 {
			return r.readErr("TopicRulePayload.Actions", a)
		}
		for k := range m {
			rule.Actions = append(rule.Actions, k)
		}
	}
	if ea, ok := payload["ErrorAction"].(map[string]any); ok {
		for k := range ea {
			rule.ErrorAction = k
		}
	}
	for _, m := range ruleAlias.FindAllStringSubmatch(sql, -1) {
		// ,"<alias>":<value>
		n := len(m[2]) + 4
		switch strings.ToLower(m[1]) {
		case "topic":
			n += assumedTopic + 2
		case "clientid":
			n += assumedThingName + 2
		case "timestamp":
			n += timestampDigits
		}
		rule.AddedBytes += n
	}
	if m := encodedStar.FindStringSubmatch(sql); m != nil {
		// {"<key>":"<base64>",...}: the braces, the key, its quotes and colon, the string's
		// quotes (with SELECT * the braces were the payload's own).
		rule.EncodedPayload = true
		rule.AddedBytes += len(m[1]) + 7
	}
	inv.Rules = append(inv.Rules, rule)
	return nil
}

func (inv *Inventory) addStream(r resource) error {
	s := Stream{ID: r.id, RetentionHr: 24}
	mode := "PROVISIONED" // CloudFormation's default when StreamModeDetails is absent
	if d, ok := r.props["StreamModeDetails"]; ok {
		m, ok := d.(map[string]any)
		if !ok {
			return r.readErr("StreamModeDetails", d)
		}
		if mode, ok = m["StreamMode"].(string); !ok {
			return r.readErr("StreamModeDetails.StreamMode", m["StreamMode"])
		}
	}
	switch mode {
	case "ON_DEMAND":
		s.OnDemand = true
	case "PROVISIONED":
		v, ok := num(r.props["ShardCount"])
		if !ok || v < 1 {
			return r.readErr("ShardCount (provisioned mode)", r.props["ShardCount"])
		}
		s.Shards = int(v)
	default:
		return r.readErr("StreamModeDetails.StreamMode", mode)
	}
	if v, ok := r.props["RetentionPeriodHours"]; ok {
		h, ok := num(v)
		if !ok {
			return r.readErr("RetentionPeriodHours", v)
		}
		s.RetentionHr = int(h)
	}
	inv.Streams = append(inv.Streams, s)
	return nil
}

func (inv *Inventory) addTable(r resource, all []resource, processorEnv any) error {
	t := Table{ID: r.id}
	mode, _ := r.props["BillingMode"].(string)
	switch mode {
	case "PAY_PER_REQUEST":
		t.OnDemand = true
	case "", "PROVISIONED":
		pt, ok := r.props["ProvisionedThroughput"].(map[string]any)
		if !ok {
			return r.readErr("ProvisionedThroughput (provisioned billing)", r.props["ProvisionedThroughput"])
		}
		var ok1, ok2 bool
		t.WCU, ok1 = num(pt["WriteCapacityUnits"])
		t.RCU, ok2 = num(pt["ReadCapacityUnits"])
		if !ok1 || !ok2 {
			return r.readErr("ProvisionedThroughput", pt)
		}
		var err error
		if t.WriteScale, err = scalingFor(r, all, "dynamodb:table:WriteCapacityUnits"); err != nil {
			return err
		}
		if t.ReadScale, err = scalingFor(r, all, "dynamodb:table:ReadCapacityUnits"); err != nil {
			return err
		}
	default:
		return r.readErr("BillingMode", r.props["BillingMode"])
	}
	if p, ok := r.props["PointInTimeRecoverySpecification"].(map[string]any); ok {
		t.PITR, _ = p["PointInTimeRecoveryEnabled"].(bool)
	}
	t.Telemetry = mentions(processorEnv, r.id)
	inv.Tables = append(inv.Tables, t)
	return nil
}

// scalingFor finds the target-tracking autoscaling of a table's dimension: a scalable
// target whose ResourceId names the table, and a TargetTrackingScaling policy on it.
func scalingFor(table resource, all []resource, dimension string) (*Scaling, error) {
	for _, st := range all {
		if st.typ != "AWS::ApplicationAutoScaling::ScalableTarget" || st.props["ScalableDimension"] != dimension || !mentions(st.props["ResourceId"], table.id) {
			continue
		}
		minC, ok1 := num(st.props["MinCapacity"])
		maxC, ok2 := num(st.props["MaxCapacity"])
		if !ok1 || !ok2 || minC > maxC {
			return nil, st.readErr("MinCapacity/MaxCapacity", map[string]any{"MinCapacity": st.props["MinCapacity"], "MaxCapacity": st.props["MaxCapacity"]})
		}
		for _, sp := range all {
			if sp.typ != "AWS::ApplicationAutoScaling::ScalingPolicy" || !mentions(sp.props["ScalingTargetId"], st.id) {
				continue
			}
			cfg, ok := sp.props["TargetTrackingScalingPolicyConfiguration"].(map[string]any)
			if !ok {
				return nil, sp.readErr("TargetTrackingScalingPolicyConfiguration", sp.props["TargetTrackingScalingPolicyConfiguration"])
			}
			target, ok := num(cfg["TargetValue"])
			if !ok || target <= 0 || target > 100 {
				return nil, sp.readErr("TargetTrackingScalingPolicyConfiguration.TargetValue", cfg["TargetValue"])
			}
			return &Scaling{Min: minC, Max: maxC, Target: target}, nil
		}
		return nil, st.readErr("its target-tracking ScalingPolicy (none found)", st.id)
	}
	return nil, nil
}

func (inv *Inventory) addFunction(r resource, telemetry bool) error {
	f := Function{ID: r.id, MemoryMB: 128, Telemetry: telemetry}
	if v, ok := r.props["MemorySize"]; ok {
		if f.MemoryMB, ok = num(v); !ok {
			return r.readErr("MemorySize", v)
		}
	}
	if v, ok := r.props["Architectures"]; ok {
		a, ok := v.([]any)
		if !ok || len(a) != 1 {
			return r.readErr("Architectures", v)
		}
		switch a[0] {
		case "arm64":
			f.Arm64 = true
		case "x86_64":
		default:
			return r.readErr("Architectures", v)
		}
	}
	if lc, ok := r.props["LoggingConfig"].(map[string]any); ok {
		f.LogGroup, _ = refID(lc["LogGroup"])
	}
	inv.Functions = append(inv.Functions, f)
	return nil
}

func (inv *Inventory) addAlarm(r resource) error {
	inv.Alarms.Count++
	period := func(v any) (float64, bool) {
		if v == nil {
			return 60, true
		}
		return num(v)
	}
	if metrics, ok := r.props["Metrics"]; ok {
		list, ok := metrics.([]any)
		if !ok {
			return r.readErr("Metrics", metrics)
		}
		for _, q := range list {
			m, _ := q.(map[string]any)
			if expr, ok := m["Expression"].(string); ok {
				if strings.Contains(strings.ToUpper(expr), "SELECT ") {
					inv.Alarms.Insights++
					// Counted once every rule is read (countInsightsMetrics).
					inv.insightQueries = append(inv.insightQueries, expr)
				}
				continue // metric math reads the other entries
			}
			ms, ok := m["MetricStat"].(map[string]any)
			if !ok {
				return r.readErr("Metrics[].MetricStat", q)
			}
			p, ok := period(ms["Period"])
			if !ok {
				return r.readErr("Metrics[].MetricStat.Period", ms["Period"])
			}
			inv.countAlarmMetric(p)
		}
		return nil
	}
	p, ok := period(r.props["Period"])
	if !ok {
		return r.readErr("Period", r.props["Period"])
	}
	inv.countAlarmMetric(p)
	return nil
}

func (inv *Inventory) countAlarmMetric(period float64) {
	if period < 60 {
		inv.Alarms.HighRes++
	} else {
		inv.Alarms.Standard++
	}
}

// countInsightsMetrics estimates the metrics each Metrics Insights query analyzes: a
// rule's query sums over its action types (actions and error action), a broker query over
// the protocols.
func (inv *Inventory) countInsightsMetrics() {
	types := map[string]int{}
	for _, r := range inv.Rules {
		set := map[string]bool{}
		for _, a := range r.Actions {
			set[a] = true
		}
		if r.ErrorAction != "" {
			set[r.ErrorAction] = true
		}
		types[r.Name] = len(set)
	}
	for _, q := range inv.insightQueries {
		if m := insightsRule.FindStringSubmatch(q); m != nil {
			inv.Alarms.InsightsMetrics += max(types[m[1]], 1)
			continue
		}
		if strings.Contains(q, "Protocol") {
			inv.Alarms.InsightsMetrics += protocolsPerQuery
			continue
		}
		inv.Alarms.InsightsMetrics++
	}
}

func (inv *Inventory) addMetricFilter(r resource) error {
	ts, ok := r.props["MetricTransformations"].([]any)
	if !ok {
		return r.readErr("MetricTransformations", r.props["MetricTransformations"])
	}
	for _, t := range ts {
		m, _ := t.(map[string]any)
		mf := MetricFilter{ID: r.id}
		mf.Metric, _ = m["MetricName"].(string)
		if dims, ok := m["Dimensions"].([]any); ok {
			for _, d := range dims {
				dm, _ := d.(map[string]any)
				k, _ := dm["Key"].(string)
				mf.Dimensions = append(mf.Dimensions, k)
			}
		}
		inv.MetricFilters = append(inv.MetricFilters, mf)
	}
	return nil
}

// refID returns the logical id a Ref or Fn::GetAtt names.
func refID(v any) (string, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		return "", false
	}
	if s, ok := m["Ref"].(string); ok {
		return s, true
	}
	if a, ok := m["Fn::GetAtt"].([]any); ok && len(a) > 0 {
		s, ok := a[0].(string)
		return s, ok
	}
	return "", false
}

// mentions reports whether v refers to logical id anywhere: a Ref, a GetAtt, or a
// cross-stack output named after it (Fn::GetStackOutput's OutputName carries the id).
func mentions(v any, id string) bool {
	switch x := v.(type) {
	case string:
		return strings.Contains(x, id)
	case []any:
		for _, e := range x {
			if mentions(e, id) {
				return true
			}
		}
	case map[string]any:
		for _, e := range x {
			if mentions(e, id) {
				return true
			}
		}
	}
	return false
}

// regionOf finds a literal region a template pins (weak cross-stack references name it).
func regionOf(t Template) string {
	var found string
	var walk func(v any)
	walk = func(v any) {
		if found != "" {
			return
		}
		switch x := v.(type) {
		case map[string]any:
			if g, ok := x["Fn::GetStackOutput"].(map[string]any); ok {
				if r, ok := g["Region"].(string); ok {
					found = r
					return
				}
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(t["Resources"])
	return found
}

// num reads a literal number (JSON number or numeric string); tokens are not numbers.
func num(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, !math.IsNaN(x) && !math.IsInf(x, 0)
	case int:
		return float64(x), true
	case string:
		var f float64
		if _, err := fmt.Sscan(x, &f); err == nil {
			return f, true
		}
	}
	return 0, false
}
