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

// ControlCenterProps configures the Smart City Control Center.
type ControlCenterProps struct {
	// DashboardName of the CloudWatch dashboard. Required.
	DashboardName string
	// Title heads the dashboard. Default: "Smart City Control Center".
	Title string
	// Notes are markdown shown under the title, for example what the figures do not cover.
	// Default: - none.
	Notes string
	// Monitoring supplies the alarms (an alarm status widget) and what it watches (functions,
	// queues, streams, rules). Required.
	Monitoring *Monitoring
	// Classes are the per-class telemetry rows.
	Classes []ClassMetrics
	// Districts are the per-district telemetry rows. Default: - none.
	Districts []DistrictMetrics
	// IoTLogs is the AWS IoT v2 log group (AWSIotLogsV2); with it the dashboard counts connected
	// devices and lists the certificates failing authorization. Default: - no log widgets.
	IoTLogs awslogs.ILogGroup
	// Security are the behaviour-detection metrics (fleet totals). Default: - no widget.
	Security []awscloudwatch.IMetric
	// Queries are Logs Insights tables shown after the pipeline row, for questions a metric
	// dimension cannot answer at city scale (rejects per thing). Default: - none.
	Queries []LogQuery
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

// NewControlCenter builds the dashboard from what Monitoring watches and the given figures. Call
// it after the last Watch call: the alarm status widget lists the alarms existing then.
func NewControlCenter(scope constructs.Construct, id string, props *ControlCenterProps) *ControlCenter {
	this := constructs.NewConstruct(scope, jsii.String(id))
	p := ControlCenterProps{}
	if props != nil {
		p = *props
	}
	c := &ControlCenter{Construct: this}
	var errs propcheck.Errors
	defer func() { errs.Attach(this) }()
	if p.DashboardName == "" {
		errs.Addf("monitoring: ControlCenter DashboardName is required")
	}
	if p.Monitoring == nil {
		errs.Addf("monitoring: ControlCenter Monitoring is required: the dashboard shows its alarms")
		return c
	}
	for i, cl := range p.Classes {
		if cl.Class == "" || cl.Received == nil || cl.Accepted == nil || cl.Rejected == nil {
			errs.Addf("monitoring: ControlCenter Classes[%d] needs Class, Received, Accepted and Rejected", i)
			return c
		}
	}
	for i, d := range p.Districts {
		if d.District == "" || d.Received == nil || d.Accepted == nil || d.Rejected == nil {
			errs.Addf("monitoring: ControlCenter Districts[%d] needs District, Received, Accepted and Rejected", i)
			return c
		}
	}
	if p.Title == "" {
		p.Title = "Smart City Control Center"
	}
	m := p.Monitoring
	period := m.period
	seconds := int(*period.ToSeconds(nil))

	var rows [][]awscloudwatch.IWidget
	header := "# " + p.Title
	if p.Notes != "" {
		header += "\n\n" + p.Notes
	}
	rows = append(rows, []awscloudwatch.IWidget{awscloudwatch.NewTextWidget(&awscloudwatch.TextWidgetProps{
		Markdown: jsii.String(header), Width: jsii.Number(24), Height: jsii.Number(3),
	})})

	if len(m.Alarms) > 0 {
		alarms := make([]interfacesawscloudwatch.IAlarmRef, len(m.Alarms))
		for i, a := range m.Alarms {
			alarms[i] = a
		}
		rows = append(rows, []awscloudwatch.IWidget{awscloudwatch.NewAlarmStatusWidget(&awscloudwatch.AlarmStatusWidgetProps{
			Title:  jsii.String("Alarm states"),
			Alarms: &alarms,
			SortBy: awscloudwatch.AlarmStatusWidgetSortBy_STATE_UPDATED_TIMESTAMP,
			Width:  jsii.Number(24),
			Height: jsii.Number(float64(2 + (len(alarms)+3)/4)),
		})})
	}

	for _, cl := range p.Classes {
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

	for _, d := range p.Districts {
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
	if len(m.functions) > 0 {
		var errsM, age []awscloudwatch.IMetric
		for _, f := range m.functions {
			errsM = append(errsM,
				f.fn.MetricErrors(&awscloudwatch.MetricOptions{Statistic: jsii.String("Sum"), Period: period, Label: jsii.String(f.name + " errors")}),
				f.fn.MetricThrottles(&awscloudwatch.MetricOptions{Statistic: jsii.String("Sum"), Period: period, Label: jsii.String(f.name + " throttles")}))
			if f.stream {
				age = append(age, f.fn.MetricIteratorAge(&awscloudwatch.MetricOptions{Statistic: jsii.String("Maximum"), Period: period, Label: jsii.String(f.name)}))
			}
		}
		for _, s := range m.streams {
			age = append(age, s.s.MetricGetRecordsIteratorAgeMilliseconds(&awscloudwatch.MetricOptions{Statistic: jsii.String("Maximum"), Period: period, Label: jsii.String(s.name)}))
		}
		pipeline = append(pipeline, graph("Processor errors and throttles", errsM...))
		if len(age) > 0 {
			pipeline = append(pipeline, graph("Iterator age (ms)", age...))
		}
	}
	if len(m.queues) > 0 {
		var waiting []awscloudwatch.IMetric
		for _, q := range m.queues {
			waiting = append(waiting, q.q.MetricMessagesVisible(&awscloudwatch.MetricOptions{Statistic: jsii.String("Maximum"), Period: period, Label: jsii.String(q.name)}))
		}
		pipeline = append(pipeline, graph("Dead letters waiting", waiting...))
	}
	if len(m.rules) > 0 {
		var matched []awscloudwatch.IMetric
		for _, r := range m.rules {
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
	var queries []awscloudwatch.IWidget
	for _, q := range p.Queries {
		queries = append(queries, awscloudwatch.NewLogQueryWidget(&awscloudwatch.LogQueryWidgetProps{
			Title:         jsii.String(q.Title),
			LogGroupNames: &[]*string{q.LogGroup.LogGroupName()},
			QueryLines:    queryLines(q.Query),
			View:          awscloudwatch.LogQueryVisualizationType_TABLE,
			Width:         jsii.Number(12), Height: jsii.Number(6),
		}))
	}
	rows = append(rows, rowsOf(queries)...)

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
		DashboardName: jsii.String(p.DashboardName),
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
