package monitoring

import (
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/interfaces/interfacesawscloudwatch"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/secure-smart-city/platform/internal/propcheck"
)

// ClassMetrics are one device class's telemetry figures.
type ClassMetrics struct {
	// Class is the device class id; Name its display name. Class is required.
	Class, Name string
	// Received, Accepted and Rejected count messages per period. Required.
	Received, Accepted, Rejected awscloudwatch.IMetric
	// RejectedByReason is one series per rejection reason, typically a SEARCH expression.
	// Default: - no widget.
	RejectedByReason awscloudwatch.IMetric
	// Latency is the processing latency (topic rule to durable storage). Default: - no widget.
	Latency awscloudwatch.IMetric
}

// DistrictMetrics are one district's telemetry figures, typically one series per device class
// each (SEARCH expressions over the processor's (Class, District) metrics).
type DistrictMetrics struct {
	// District is the district id; Name its display name. District is required.
	District, Name string
	// Received, Accepted and Rejected count messages per period. Required.
	Received, Accepted, Rejected awscloudwatch.IMetric
}

// ControlCenterProps configures the Smart City Control Center. Its sections are shown in
// this order: the title, the alarm states, the per-class and per-district rows, the pipeline,
// the queries, the devices and the security row.
type ControlCenterProps struct {
	// DashboardName of the CloudWatch dashboard. Required.
	DashboardName string
	// Title heads the dashboard. Default: "Smart City Control Center".
	Title string
	// Notes are markdown shown under the title, for example what the figures do not cover.
	// Default: - none.
	Notes string
	// Alarms are shown in an alarm status widget, in this order (the widget sorts by last
	// state change). Default: - no widget.
	Alarms []awscloudwatch.IAlarm
	// Classes are the per-class telemetry rows. Default: - none.
	Classes []ClassMetrics
	// Districts are the per-district telemetry rows. Default: - none.
	Districts []DistrictMetrics
	// Pipeline is what moves the telemetry: functions, streams, dead-letter queues, topic
	// rules. Default: - no pipeline row.
	Pipeline Pipeline
	// Queries are Logs Insights tables shown after the pipeline row, for questions a metric
	// dimension cannot answer at city scale (rejects per thing). Default: - none.
	Queries []LogQuery
	// IoTLogs is the AWS IoT v2 log group (AWSIotLogsV2); with it the dashboard counts connected
	// devices and lists the certificates failing authorization. Default: - no log widgets.
	IoTLogs awslogs.ILogGroup
	// Security are the behaviour-detection metrics (fleet totals). Default: - no widget.
	Security []awscloudwatch.IMetric
}

// Pipeline is the Control Center's pipeline row, each list graphed in its order.
type Pipeline struct {
	// Functions' errors and throttles, and the stream consumers' iterator age.
	Functions []Function
	// Streams' read lag, after the functions' iterator age.
	Streams []Stream
	// DeadLetters are the dead-letter and failure queues: messages waiting.
	DeadLetters []Queue
	// Rules are topic rule names (may be tokens): messages matched and throttled.
	Rules []string
}

// LogQuery is a Logs Insights table on the dashboard.
type LogQuery struct {
	Title    string
	LogGroup awslogs.ILogGroup
	Query    string
}

// ControlCenter is the Smart City Control Center dashboard.
type ControlCenter struct {
	constructs.Construct
	// Dashboard is the dashboard (child id "Resource").
	Dashboard awscloudwatch.Dashboard
}

// Queries behind the log widgets, over AWS IoT v2 log entries (eventType, status, clientId,
// reason).
const (
	// ConnectedDevicesQuery counts the clients whose last Connect/Disconnect in the time range
	// was a successful Connect; AWS/IoT has no "connected now" metric. Connect and Disconnect
	// are logged at INFO, so it needs IoT logging at INFO or DEBUG.
	ConnectedDevicesQuery = `filter (eventType = "Connect" or eventType = "Disconnect") and status = "Success"
| stats latest(eventType) as lastEvent by clientId
| filter lastEvent = "Connect"
| stats count(*) as connectedDevices`
	// AuthorizationFailuresQuery lists the certificates (principalId, which AWS IoT
	// authenticated) failing authorization most often. The client id is only what the client
	// asked to be called, so it is shown beside the certificate, never in its place: refused
	// CONNECTs in a victim's name show the attacker's certificate, as the quarantine sees it.
	AuthorizationFailuresQuery = `filter status = "Failure" and reason = "AUTHORIZATION_FAILURE"
| stats count(*) as failures, count_distinct(clientId) as clientIdsAskedFor, latest(clientId) as lastClientIdAskedFor by principalId, eventType
| sort failures desc
| limit 20`
)

// NewControlCenter builds the dashboard from the given sections. Props errors are reported at
// synth with the construct's path; the dashboard is built from the valid parts all the same.
func NewControlCenter(scope constructs.Construct, id string, props *ControlCenterProps) *ControlCenter {
	this := constructs.NewConstruct(scope, jsii.String(id))
	p := ControlCenterProps{}
	if props != nil {
		p = *props
	}
	c := &ControlCenter{Construct: this}
	var errs propcheck.Errors
	defer func() { errs.Attach(this) }()
	var name *string
	if p.DashboardName == "" {
		errs.Addf("monitoring: ControlCenter DashboardName is required")
	} else {
		name = jsii.String(p.DashboardName)
	}
	var classes []ClassMetrics
	for i, cl := range p.Classes {
		if cl.Class == "" || cl.Received == nil || cl.Accepted == nil || cl.Rejected == nil {
			errs.Addf("monitoring: ControlCenter Classes[%d] needs Class, Received, Accepted and Rejected", i)
			continue
		}
		classes = append(classes, cl)
	}
	var districts []DistrictMetrics
	for i, d := range p.Districts {
		if d.District == "" || d.Received == nil || d.Accepted == nil || d.Rejected == nil {
			errs.Addf("monitoring: ControlCenter Districts[%d] needs District, Received, Accepted and Rejected", i)
			continue
		}
		districts = append(districts, d)
	}
	var alarms []interfacesawscloudwatch.IAlarmRef
	for i, a := range p.Alarms {
		if a == nil {
			errs.Addf("monitoring: ControlCenter Alarms[%d] is nil", i)
			continue
		}
		alarms = append(alarms, a)
	}
	pipe := Pipeline{Rules: p.Pipeline.Rules}
	for i, f := range p.Pipeline.Functions {
		if f.Function == nil {
			errs.Addf("monitoring: ControlCenter Pipeline.Functions[%d] (%q) needs a Function", i, f.Name)
			continue
		}
		pipe.Functions = append(pipe.Functions, f)
	}
	for i, s := range p.Pipeline.Streams {
		if s.Stream == nil {
			errs.Addf("monitoring: ControlCenter Pipeline.Streams[%d] (%q) needs a Stream", i, s.Name)
			continue
		}
		pipe.Streams = append(pipe.Streams, s)
	}
	for i, q := range p.Pipeline.DeadLetters {
		if q.Queue == nil {
			errs.Addf("monitoring: ControlCenter Pipeline.DeadLetters[%d] (%q) needs a Queue", i, q.Name)
			continue
		}
		pipe.DeadLetters = append(pipe.DeadLetters, q)
	}
	var queries []LogQuery
	for i, q := range p.Queries {
		if q.LogGroup == nil || q.Query == "" {
			errs.Addf("monitoring: ControlCenter Queries[%d] (%q) needs a LogGroup and a Query", i, q.Title)
			continue
		}
		queries = append(queries, q)
	}
	if p.Title == "" {
		p.Title = "Smart City Control Center"
	}
	period := period()
	seconds := int(Period.Seconds())

	var rows [][]awscloudwatch.IWidget
	header := "# " + p.Title
	if p.Notes != "" {
		header += "\n\n" + p.Notes
	}
	rows = append(rows, []awscloudwatch.IWidget{awscloudwatch.NewTextWidget(&awscloudwatch.TextWidgetProps{
		Markdown: jsii.String(header), Width: jsii.Number(24), Height: jsii.Number(3),
	})})

	if len(alarms) > 0 {
		rows = append(rows, []awscloudwatch.IWidget{awscloudwatch.NewAlarmStatusWidget(&awscloudwatch.AlarmStatusWidgetProps{
			Title:  jsii.String("Alarm states"),
			Alarms: &alarms,
			SortBy: awscloudwatch.AlarmStatusWidgetSortBy_STATE_UPDATED_TIMESTAMP,
			Width:  jsii.Number(24),
			Height: jsii.Number(float64(2 + (len(alarms)+3)/4)),
		})})
	}

	for _, cl := range classes {
		name := cl.Name
		if name == "" {
			name = cl.Class
		}
		row := []awscloudwatch.IWidget{graph("Messages in, accepted, rejected: "+name, cl.Received, cl.Accepted, cl.Rejected)}
		if cl.RejectedByReason != nil {
			row = append(row, graph("Rejected by reason: "+name, cl.RejectedByReason))
		}
		if cl.Latency != nil {
			row = append(row, graph("Processing latency (ms): "+name, cl.Latency))
		}
		rows = append(rows, row)
	}

	for _, d := range districts {
		name := d.Name
		if name == "" {
			name = d.District
		}
		rows = append(rows, []awscloudwatch.IWidget{
			graph("Messages in by class: "+name, d.Received),
			graph("Accepted and rejected by class: "+name, d.Accepted, d.Rejected),
		})
	}

	var pipeline []awscloudwatch.IWidget
	if len(pipe.Functions) > 0 {
		var errsM, age []awscloudwatch.IMetric
		for _, f := range pipe.Functions {
			errsM = append(errsM,
				f.Function.MetricErrors(&awscloudwatch.MetricOptions{Statistic: jsii.String("Sum"), Period: period, Label: jsii.String(f.Name + " errors")}),
				f.Function.MetricThrottles(&awscloudwatch.MetricOptions{Statistic: jsii.String("Sum"), Period: period, Label: jsii.String(f.Name + " throttles")}))
			if f.StreamConsumer {
				age = append(age, f.Function.Metric(jsii.String("IteratorAge"), &awscloudwatch.MetricOptions{Statistic: jsii.String("Maximum"), Period: period, Label: jsii.String(f.Name)}))
			}
		}
		for _, s := range pipe.Streams {
			age = append(age, s.Stream.MetricGetRecordsIteratorAgeMilliseconds(&awscloudwatch.MetricOptions{Statistic: jsii.String("Maximum"), Period: period, Label: jsii.String(s.Name)}))
		}
		pipeline = append(pipeline, graph("Processor errors and throttles", errsM...))
		if len(age) > 0 {
			pipeline = append(pipeline, graph("Iterator age (ms)", age...))
		}
	}
	if len(pipe.DeadLetters) > 0 {
		var waiting []awscloudwatch.IMetric
		for _, q := range pipe.DeadLetters {
			waiting = append(waiting, q.Queue.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{Statistic: jsii.String("Maximum"), Period: period, Label: jsii.String(q.Name)}))
		}
		pipeline = append(pipeline, graph("Dead letters waiting", waiting...))
	}
	if len(pipe.Rules) > 0 {
		var matched []awscloudwatch.IMetric
		for _, r := range pipe.Rules {
			for _, metric := range []string{MetricRuleTopicMatch, MetricRuleMessageThrottled} {
				matched = append(matched, awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
					Namespace: jsii.String(IoTNamespace), MetricName: jsii.String(metric),
					DimensionsMap: &map[string]*string{DimensionRuleName: jsii.String(r)},
					Statistic:     jsii.String("Sum"), Period: period, Label: jsii.String(r + " " + metric),
				}))
			}
		}
		pipeline = append(pipeline, graph("Topic rules: matched and throttled", matched...))
	}
	rows = append(rows, rowsOf(pipeline)...)
	var logTables []awscloudwatch.IWidget
	for _, q := range queries {
		logTables = append(logTables, awscloudwatch.NewLogQueryWidget(&awscloudwatch.LogQueryWidgetProps{
			Title:         jsii.String(q.Title),
			LogGroupNames: &[]*string{q.LogGroup.LogGroupName()},
			QueryLines:    queryLines(q.Query),
			View:          awscloudwatch.LogQueryVisualizationType_TABLE,
			Width:         jsii.Number(12), Height: jsii.Number(6),
		}))
	}
	rows = append(rows, rowsOf(logTables)...)

	devices := []awscloudwatch.IWidget{
		graph("Connections by protocol", expr(search(IoTNamespace, MetricConnectSuccess, []string{DimensionProtocol}, nil, "Sum", seconds), LabelProtocol, period)),
		graph("Authentication and authorization failures",
			expr(search(IoTNamespace, MetricConnectionAuthNError, []string{DimensionProtocol}, nil, "Sum", seconds), LabelProtocol, period),
			expr(search(IoTNamespace, MetricConnectAuthError, []string{DimensionProtocol}, nil, "Sum", seconds), LabelProtocol, period),
			expr(search(IoTNamespace, MetricPublishInAuthError, []string{DimensionProtocol}, nil, "Sum", seconds), LabelProtocol, period),
			expr(search(IoTNamespace, MetricSubscribeAuthError, []string{DimensionProtocol}, nil, "Sum", seconds), LabelProtocol, period)),
	}
	if p.IoTLogs != nil {
		devices = append([]awscloudwatch.IWidget{awscloudwatch.NewLogQueryWidget(&awscloudwatch.LogQueryWidgetProps{
			Title:         jsii.String("Connected devices (last Connect/Disconnect in range was a Connect)"),
			LogGroupNames: &[]*string{p.IoTLogs.LogGroupName()},
			QueryLines:    queryLines(ConnectedDevicesQuery),
			View:          awscloudwatch.LogQueryVisualizationType_TABLE,
			Width:         jsii.Number(8), Height: jsii.Number(6),
		})}, devices...)
	}
	rows = append(rows, rowsOf(devices)...)

	var security []awscloudwatch.IWidget
	if p.IoTLogs != nil {
		security = append(security, awscloudwatch.NewLogQueryWidget(&awscloudwatch.LogQueryWidgetProps{
			Title:         jsii.String("Certificates failing authorization"),
			LogGroupNames: &[]*string{p.IoTLogs.LogGroupName()},
			QueryLines:    queryLines(AuthorizationFailuresQuery),
			View:          awscloudwatch.LogQueryVisualizationType_TABLE,
			Width:         jsii.Number(8), Height: jsii.Number(6),
		}))
	}
	if len(p.Security) > 0 {
		security = append(security, graph("Behaviour detection (fleet totals)", p.Security...))
	}
	security = append(security, graph("Audit findings: non-compliant resources by check",
		expr(search(IoTNamespace, MetricNonCompliantResources, []string{"CheckName", "ScheduledAuditName"}, nil, "Maximum", 86400), LabelCheck, awscdk.Duration_Days(jsii.Number(1)))))
	rows = append(rows, rowsOf(security)...)

	widgets := make([]*[]awscloudwatch.IWidget, len(rows))
	for i := range rows {
		widgets[i] = &rows[i]
	}
	c.Dashboard = awscloudwatch.NewDashboard(this, jsii.String("Resource"), &awscloudwatch.DashboardProps{
		DashboardName: name,
		Widgets:       &widgets,
	})
	return c
}

func graph(title string, metrics ...awscloudwatch.IMetric) awscloudwatch.IWidget {
	return awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
		Title: jsii.String(title), Left: &metrics, Width: jsii.Number(8), Height: jsii.Number(6),
	})
}

// expr is a dashboard expression (SEARCH). label should be a dynamic label such as
// "${PROP('Dim.Protocol')}": a fixed one would name every series the search returns alike.
func expr(expression, label string, period awscdk.Duration) awscloudwatch.IMetric {
	return awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
		Expression: jsii.String(expression), Label: jsii.String(label), Period: period,
	})
}

// Dynamic labels for SEARCH series.
const (
	LabelProtocol = "${PROP('MetricName')} ${PROP('Dim.Protocol')}"
	LabelCheck    = "${PROP('Dim.CheckName')} (${PROP('Dim.ScheduledAuditName')})"
	LabelReason   = "${PROP('Dim.Reason')}"
)

// rowsOf lays widgets out three to a row.
func rowsOf(ws []awscloudwatch.IWidget) [][]awscloudwatch.IWidget {
	var out [][]awscloudwatch.IWidget
	for len(ws) > 0 {
		n := min(3, len(ws))
		out = append(out, ws[:n])
		ws = ws[n:]
	}
	return out
}

func queryLines(q string) *[]*string {
	var out []*string
	for _, l := range strings.Split(q, "\n") {
		if l = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "|")); l != "" {
			out = append(out, jsii.String(l))
		}
	}
	return &out
}
