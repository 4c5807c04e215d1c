package ota

import (
	"strconv"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/interfaces/interfacesawscloudwatch"
	"github.com/aws/jsii-runtime-go"
)

// AWS IoT Jobs metrics (AWS IoT developer guide, "Jobs metrics"), namespace AWS/IoT, dimension
// JobId. The guide lists no metric for executions that reach TIMED_OUT: a device reports its
// own step timeout as FAILED with reason TIMEOUT (counted by the failed alarm), and a
// service-side TIMED_OUT counts toward the templates' TIMED_OUT abort criterion, whose
// cancellation the aborted alarm sees as cancelled executions.
const (
	IoTNamespace              = "AWS/IoT"
	DimensionJobID            = "JobId"
	MetricFailedExecutions    = "FailedJobExecutionCount"
	MetricRejectedExecutions  = "RejectedJobExecutionCount"
	MetricCanceledExecutions  = "CanceledJobExecutionCount"
	MetricSucceededExecutions = "SuccededJobExecutionCount" // sic: AWS's spelling
	MetricInProgressTotal     = "InProgressJobExecutionTotalCount"
	MetricQueuedTotal         = "QueuedJobExecutionTotalCount"
)

// InsightsSum is a Metrics Insights query summing metric over every job (one series), which an
// alarm can use: job ids are made per release, so no alarm can name them in advance.
func InsightsSum(metric string) string {
	return `SELECT SUM(` + metric + `) FROM SCHEMA("` + IoTNamespace + `", ` + DimensionJobID + `)`
}

// InsightsByJob is the same query with one series per job, for the dashboard.
func InsightsByJob(metric string) string {
	return InsightsSum(metric) + ` GROUP BY ` + DimensionJobID
}

func insights(label, query string, opts *awscloudwatch.MathExpressionOptions) awscloudwatch.MathExpression {
	props := &awscloudwatch.MathExpressionProps{
		Expression: jsii.String(query), Label: jsii.String(label), Period: awscdk.Duration_Minutes(jsii.Number(5)),
	}
	if opts != nil {
		props.Color, props.SearchAccount, props.SearchRegion = opts.Color, opts.SearchAccount, opts.SearchRegion
		if opts.Label != nil {
			props.Label = opts.Label
		}
		if opts.Period != nil {
			props.Period = opts.Period
		}
	}
	return awscloudwatch.NewMathExpression(props)
}

// The Metric...Executions methods are Metrics Insights queries (math expressions), summed over
// every job, since job ids are made per release; opts may set the label, color and period
// (default: 5 minutes). For one job's series, use MetricJobExecutions.

// MetricFailedExecutions sums job executions that became FAILED, over every job.
func (o *OTA) MetricFailedExecutions(opts *awscloudwatch.MathExpressionOptions) awscloudwatch.MathExpression {
	return insights("Failed executions", InsightsSum(MetricFailedExecutions), opts)
}

// MetricRejectedExecutions sums job executions that became REJECTED, over every job.
func (o *OTA) MetricRejectedExecutions(opts *awscloudwatch.MathExpressionOptions) awscloudwatch.MathExpression {
	return insights("Rejected executions", InsightsSum(MetricRejectedExecutions), opts)
}

// MetricCanceledExecutions sums job executions that became CANCELED, over every job.
func (o *OTA) MetricCanceledExecutions(opts *awscloudwatch.MathExpressionOptions) awscloudwatch.MathExpression {
	return insights("Cancelled executions", InsightsSum(MetricCanceledExecutions), opts)
}

// MetricJobExecutions is one AWS IoT Jobs metric (MetricFailedExecutions, MetricQueuedTotal,
// ...) of one job, for example the job a release started. Default statistic: Sum; default
// period: 5 minutes.
func (o *OTA) MetricJobExecutions(metricName, jobID string, opts *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	props := &awscloudwatch.MetricProps{
		Namespace: jsii.String(IoTNamespace), MetricName: jsii.String(metricName),
		DimensionsMap: &map[string]*string{DimensionJobID: jsii.String(jobID)},
		Statistic:     jsii.String("Sum"), Period: awscdk.Duration_Minutes(jsii.Number(5)),
	}
	if opts != nil {
		props.Account, props.Color, props.Label, props.Region, props.Unit = opts.Account, opts.Color, opts.Label, opts.Region, opts.Unit
		if opts.Statistic != nil {
			props.Statistic = opts.Statistic
		}
		if opts.Period != nil {
			props.Period = opts.Period
		}
	}
	return awscloudwatch.NewMetric(props)
}

func (o *OTA) alarms(p Props) {
	add := func(id, name, description string, metric awscloudwatch.IMetric, threshold float64) {
		a := awscloudwatch.NewAlarm(o.Construct, jsii.String(id), &awscloudwatch.AlarmProps{
			AlarmName:          jsii.String(p.AlarmPrefix + "-" + name),
			AlarmDescription:   jsii.String(description),
			Metric:             metric,
			Threshold:          jsii.Number(threshold),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
			EvaluationPeriods:  jsii.Number(1),
			DatapointsToAlarm:  jsii.Number(1),
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
		if p.AlarmAction != nil {
			a.AddAlarmAction(p.AlarmAction)
			a.AddOkAction(p.AlarmAction)
		}
		o.Alarms = append(o.Alarms, a)
	}
	add("FailedExecutionsAlarm", "Ota-FailedExecutions",
		"Firmware job executions failed (5 or more in 5 minutes): devices refused an image (bad signature, digest, downgrade, "+
			"wrong class) or could not download or apply it in time. Run `go run ./cmd/ota status -job <id>` and read each "+
			"execution's statusDetails.reason; the rollout aborts by itself at the template's threshold.",
		o.MetricFailedExecutions(nil), 5)
	add("RejectedExecutionsAlarm", "Ota-RejectedExecutions",
		"A device rejected a firmware job execution. Read the execution's statusDetails (`go run ./cmd/ota status -job <id>`).",
		o.MetricRejectedExecutions(nil), 1)
	add("AbortedExecutionsAlarm", "Ota-CanceledExecutions",
		"Firmware job executions were cancelled: a rollout hit its abort criteria (failures, rejections or timeouts above "+
			"the threshold; AWS IoT publishes no timed-out metric) or an operator cancelled it. Check `go run ./cmd/ota status`.",
		o.MetricCanceledExecutions(nil), 1)
}

func (o *OTA) dashboard(p Props) {
	byJob := func(label, metric string) awscloudwatch.IMetric {
		return insights(label, InsightsByJob(metric), nil)
	}
	d := awscloudwatch.NewDashboard(o.Construct, jsii.String("Rollouts"), &awscloudwatch.DashboardProps{
		DashboardName: jsii.String(p.AlarmPrefix + "-Rollouts"),
	})
	var alarms []interfacesawscloudwatch.IAlarmRef
	for _, a := range o.Alarms {
		alarms = append(alarms, a)
	}
	d.AddWidgets(awscloudwatch.NewTextWidget(&awscloudwatch.TextWidgetProps{
		Markdown: jsii.String("# Firmware rollouts (" + p.NamePrefix + ")\nOne series per job (`JobId`). Release, watch and " +
			"cancel with `go run ./cmd/ota`; the job templates abort a rollout when " + fmtPercent(o.Rollout.AbortPercent) +
			" of the first " + strconv.Itoa(o.Rollout.AbortMinExecuted) + " executions fail, are rejected or time out."),
		Width: jsii.Number(24), Height: jsii.Number(2),
	}))
	d.AddWidgets(
		awscloudwatch.NewAlarmStatusWidget(&awscloudwatch.AlarmStatusWidgetProps{Title: jsii.String("OTA alarms"), Alarms: &alarms, Width: jsii.Number(24)}),
	)
	d.AddWidgets(
		awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{Title: jsii.String("Succeeded per job"),
			Left: &[]awscloudwatch.IMetric{byJob("Succeeded", MetricSucceededExecutions)}, Width: jsii.Number(8)}),
		awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{Title: jsii.String("Failed, rejected, cancelled per job"),
			Left: &[]awscloudwatch.IMetric{byJob("Failed", MetricFailedExecutions), byJob("Rejected", MetricRejectedExecutions),
				byJob("Cancelled", MetricCanceledExecutions)}, Width: jsii.Number(8)}),
		awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{Title: jsii.String("Queued and in progress per job"),
			Left: &[]awscloudwatch.IMetric{byJob("Queued", MetricQueuedTotal), byJob("In progress", MetricInProgressTotal)}, Width: jsii.Number(8)}),
	)
	o.Dashboard = d
}

func fmtPercent(v float64) string {
	return strconv.FormatFloat(v, 'f', -1, 64) + "%"
}
