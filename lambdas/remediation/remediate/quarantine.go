package remediate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	logtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	iottypes "github.com/aws/aws-sdk-go-v2/service/iot/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/secure-smart-city/platform/fleetspec"
	"github.com/secure-smart-city/platform/lambdas/remediation/contract"
)

// One-method views of the AWS clients the quarantine uses, so tests use in-memory fakes.
type (
	// AlarmDescriber reads alarm definitions (cloudwatch.Client).
	AlarmDescriber interface {
		DescribeAlarms(ctx context.Context, in *cloudwatch.DescribeAlarmsInput, optFns ...func(*cloudwatch.Options)) (*cloudwatch.DescribeAlarmsOutput, error)
	}
	// MetricDataGetter reads metric data (cloudwatch.Client).
	MetricDataGetter interface {
		GetMetricData(ctx context.Context, in *cloudwatch.GetMetricDataInput, optFns ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricDataOutput, error)
	}
	// QueryStarter starts a CloudWatch Logs Insights query (cloudwatchlogs.Client).
	QueryStarter interface {
		StartQuery(ctx context.Context, in *cloudwatchlogs.StartQueryInput, optFns ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.StartQueryOutput, error)
	}
	// QueryResultsGetter reads a Logs Insights query's results (cloudwatchlogs.Client).
	QueryResultsGetter interface {
		GetQueryResults(ctx context.Context, in *cloudwatchlogs.GetQueryResultsInput, optFns ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.GetQueryResultsOutput, error)
	}
	// PrincipalThingsLister lists the things attached to a certificate (iot.Client).
	PrincipalThingsLister interface {
		ListPrincipalThings(ctx context.Context, in *iot.ListPrincipalThingsInput, optFns ...func(*iot.Options)) (*iot.ListPrincipalThingsOutput, error)
	}
	// PolicyTargetsLister lists the certificates an IoT policy is attached to (iot.Client).
	PolicyTargetsLister interface {
		ListTargetsForPolicy(ctx context.Context, in *iot.ListTargetsForPolicyInput, optFns ...func(*iot.Options)) (*iot.ListTargetsForPolicyOutput, error)
	}
	// ViolationLister lists Device Defender Detect's active violations (iot.Client).
	ViolationLister interface {
		ListActiveViolations(ctx context.Context, in *iot.ListActiveViolationsInput, optFns ...func(*iot.Options)) (*iot.ListActiveViolationsOutput, error)
	}
	// ThingGroupAdder adds a thing to a thing group (iot.Client).
	ThingGroupAdder interface {
		AddThingToThingGroup(ctx context.Context, in *iot.AddThingToThingGroupInput, optFns ...func(*iot.Options)) (*iot.AddThingToThingGroupOutput, error)
	}
	// CertificateUpdater changes a certificate's status (iot.Client).
	CertificateUpdater interface {
		UpdateCertificate(ctx context.Context, in *iot.UpdateCertificateInput, optFns ...func(*iot.Options)) (*iot.UpdateCertificateOutput, error)
	}
	// Notifier publishes to the alert topic (sns.Client).
	Notifier interface {
		Publish(ctx context.Context, in *sns.PublishInput, optFns ...func(*sns.Options)) (*sns.PublishOutput, error)
	}
)

// Quarantine contains misbehaving devices, attributed by certificate, never by client id.
//
// A security alarm's notification is only a hint: the function reads the alarm's definition
// (DescribeAlarms) and its metric (GetMetricData) and acts only when the metric really crossed
// the alarm's threshold in the alarm's own window. It then asks CloudWatch Logs Insights which
// principals (certificate ids, the logs' principalId, which AWS IoT authenticated) caused the
// events in that window, and contains only what is attached to them: the things of an
// offending certificate (ListPrincipalThings), or, for a certificate with no thing, the
// certificate itself (flagged; deactivated only under DeactivateCertificates). A client id is
// what a client asked to be called, so it is never read: refused CONNECTs in a victim's name
// cannot quarantine the victim, and random client ids cannot blind the metric filters. A
// Detect violation is acted on only when ListActiveViolations still lists it.
//
// The fleet claim certificates are only ever reported (deactivating one stops provisioning for
// every new device, and any holder of it could trigger that); things of a notify-only class are
// reported, not quarantined; and automated actions stop at Budget's cap per window.
type Quarantine struct {
	// Group is the quarantine thing group (env QUARANTINE_GROUP).
	Group string
	// DeactivateCertificates also sets the offending certificates INACTIVE (env
	// DEACTIVATE_CERTIFICATES=true). Default: off; the group's policy already cuts the things
	// off, and an inactive certificate needs an operator to reactivate.
	DeactivateCertificates bool
	// DeviceThreshold is how many events one certificate may cause in the alarm's window
	// before it is acted on (env DEVICE_THRESHOLD). Default (0): the alarm's own threshold.
	// Never below 1.
	DeviceThreshold float64
	// Alarms are the names of the security alarms this function acts on (env SECURITY_ALARMS,
	// comma separated); any other alarm name in a message is ignored.
	Alarms []string
	// LogGroup is the AWS IoT v2 log group, AWSIotLogsV2 (env IOT_LOG_GROUP).
	LogGroup string
	// CertificateARNPrefix is "arn:<partition>:iot:<region>:<account>:cert/" (env
	// CERTIFICATE_ARN_PREFIX): a principal id plus this is the certificate's ARN.
	CertificateARNPrefix string
	// ClaimCertificates are fleet provisioning claim certificate ids (env
	// CLAIM_CERTIFICATE_IDS, comma separated): reported, never acted on.
	ClaimCertificates []string
	// ClaimPolicy is the claim certificates' IoT policy (env CLAIM_POLICY): every certificate
	// it is attached to is a claim certificate, as above. Default: none.
	ClaimPolicy string
	// AlertTopic is the alert topic's ARN (env ALERT_TOPIC_ARN); what the function did and
	// what it left to a person is published there.
	AlertTopic string
	// Scope is which things may be acted on, and their classes' remediation modes.
	Scope Scope
	// Budget caps automated actions per window.
	Budget Budget
	// Now is the clock. Default: time.Now.
	Now func() time.Time
	// Sleep waits between polls of a Logs Insights query. Default: time.Sleep.
	Sleep func(time.Duration)

	Alarm         AlarmDescriber
	Metrics       MetricDataGetter
	Queries       QueryStarter
	QueryResults  QueryResultsGetter
	PrincipalOf   PrincipalThingsLister
	PolicyTargets PolicyTargetsLister
	Violations    ViolationLister
	Groups        ThingGroupAdder
	Certificates  CertificateUpdater
	Notify        Notifier
	Log           *slog.Logger
}

// MaxPrincipalsPerAlarm bounds the principals one alarm acts on (the Logs Insights query's
// limit), so a flood of certificates cannot make one invocation run out its timeout.
const MaxPrincipalsPerAlarm = 100

// queryPollInterval is how often a running Logs Insights query is polled.
const queryPollInterval = time.Second

// RemediationNotice is the "type" of what the function publishes to the alert topic. The
// remediation subscriptions' filters match none of its keys, so it never loops back.
const RemediationNotice = "smartcity.quarantine"

var (
	certIDPattern    = regexp.MustCompile(`^[0-9a-f]{64}$`)
	certARNPattern   = regexp.MustCompile(`^arn:aws[a-z-]*:iot:[a-z0-9-]+:\d{12}:cert/([0-9a-f]{64})$`)
	thingNamePattern = regexp.MustCompile(`^[a-zA-Z0-9:_-]{1,128}$`)
)

// Violation is the part of a Device Defender Detect alarm notification (a security profile's
// SNS alert target) that the quarantine acts on; the fields follow the API's ViolationEvent.
type Violation struct {
	ViolationID         string `json:"violationId"`
	ViolationEventType  string `json:"violationEventType"` // in-alarm, alarm-cleared, alarm-invalidated
	ThingName           string `json:"thingName"`
	SecurityProfileName string `json:"securityProfileName"`
}

// ViolationInAlarm is the Detect event type that may quarantine its thing.
const ViolationInAlarm = contract.ViolationInAlarm

// Action is one thing the function did or left to a person, as published to the alert topic.
type Action struct {
	// Certificate is the offending principal's certificate id (empty for a Detect violation).
	Certificate string `json:"certificate,omitempty"`
	// Thing is the thing acted on or reported (empty for a certificate with no thing).
	Thing string `json:"thing,omitempty"`
	// Outcome is what happened: one of the Outcome constants.
	Outcome string `json:"outcome"`
	// Detail says why, for the operator.
	Detail string `json:"detail,omitempty"`
	// Events is how many events the certificate caused in the window (alarms only).
	Events int `json:"events,omitempty"`
}

// Outcomes of an Action.
const (
	OutcomeQuarantined           = "quarantined"
	OutcomeCertificateFlagged    = "certificate-flagged"
	OutcomeCertificateDeactivate = "certificate-deactivated"
	OutcomeClaimCertificate      = "claim-certificate-notify-only"
	OutcomeNotifyOnlyClass       = "notify-only-class"
	OutcomeCapReached            = "cap-reached-not-quarantined"
	OutcomeOutOfScope            = "not-a-thing-of-the-fleet"
)

// Notice is the message published to the alert topic after acting.
type Notice struct {
	Type    string   `json:"type"`
	Trigger string   `json:"trigger"`
	Window  string   `json:"window,omitempty"`
	Actions []Action `json:"actions"`
}

// Handle processes every record. Bad input (malformed message, an alarm it does not own, an
// alarm its metric does not confirm, a violation Detect does not list) is logged and skipped;
// an AWS failure is returned so Lambda retries and then uses the on-failure destination. Every
// action is idempotent (a group member, an inactive certificate, a budget entry per thing), so
// redelivery is safe.
func (q *Quarantine) Handle(ctx context.Context, ev events.SNSEvent) error {
	var errs []error
	for _, rec := range ev.Records {
		if err := q.handleMessage(ctx, rec.SNS.MessageID, rec.SNS.Message); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (q *Quarantine) log() *slog.Logger {
	if q.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return q.Log
}

func (q *Quarantine) now() time.Time {
	if q.Now == nil {
		return time.Now()
	}
	return q.Now()
}

func (q *Quarantine) handleMessage(ctx context.Context, messageID, message string) error {
	log := q.log().With(slog.String("snsMessageId", messageID))
	var v Violation
	if decodeMessage(message, &v) == nil && v.ViolationEventType != "" {
		return q.handleViolation(ctx, log, v)
	}
	// Only the alarm's name and new state are read from the message; everything the decision
	// rests on comes from CloudWatch itself.
	var alarm struct {
		AlarmName     string `json:"AlarmName"`
		NewStateValue string `json:"NewStateValue"`
	}
	if err := decodeMessage(message, &alarm); err != nil {
		log.Error("malformed alarm notification", slog.String("error", err.Error()))
		return nil
	}
	log = log.With(slog.String("alarmName", truncate(alarm.AlarmName, 255)))
	if alarm.NewStateValue != "ALARM" {
		log.Info("alarm not in ALARM state; nothing to do", slog.String("state", truncate(alarm.NewStateValue, 32)))
		return nil
	}
	if !slices.Contains(q.Alarms, alarm.AlarmName) {
		log.Error("not one of the security alarms; no action")
		return nil
	}
	return q.handleAlarm(ctx, log, alarm.AlarmName)
}

// window is what an alarm evaluated, read from its definition.
type window struct {
	metric     string
	period     int32
	start, end time.Time
	threshold  float64
	operator   cwtypes.ComparisonOperator
}

func (q *Quarantine) handleAlarm(ctx context.Context, log *slog.Logger, name string) error {
	out, err := q.Alarm.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{
		AlarmNames: []string{name},
		AlarmTypes: []cwtypes.AlarmType{cwtypes.AlarmTypeMetricAlarm},
	})
	if err != nil {
		return fmt.Errorf("alarm %s: describe: %w", name, err)
	}
	if len(out.MetricAlarms) != 1 {
		log.Error("alarm not found in CloudWatch; no action")
		return nil
	}
	w, err := q.windowOf(out.MetricAlarms[0])
	if err != nil {
		log.Error("alarm definition cannot be acted on", slog.String("error", err.Error()))
		return nil
	}
	log = log.With(slog.String("metric", w.metric), slog.Time("windowStart", w.start), slog.Time("windowEnd", w.end))

	confirmed, peak, err := q.confirm(ctx, w)
	if err != nil {
		return fmt.Errorf("alarm %s: read %s: %w", name, w.metric, err)
	}
	if !confirmed {
		log.Warn("alarm not confirmed by its metric; no action", slog.Float64("threshold", w.threshold), slog.Float64("peak", peak))
		return nil
	}
	perDevice := w.threshold
	if q.DeviceThreshold > 0 {
		perDevice = q.DeviceThreshold
	}
	perDevice = max(perDevice, 1)
	offenders, err := q.offendingPrincipals(ctx, w, perDevice)
	if err != nil {
		return fmt.Errorf("alarm %s: find principals: %w", name, err)
	}
	if len(offenders) == 0 {
		log.Warn("alarm confirmed but no single certificate reached the per-device threshold", slog.Float64("threshold", perDevice))
		return nil
	}
	var actions []Action
	var errs []error
	for _, o := range offenders {
		acts, err := q.actOnPrincipal(ctx, log.With(slog.String("certificateId", o.principal)), o)
		actions = append(actions, acts...)
		if err != nil {
			errs = append(errs, fmt.Errorf("certificate %s: %w", o.principal, err))
		}
	}
	if err := q.publish(ctx, Notice{Type: RemediationNotice, Trigger: "alarm " + name,
		Window: w.start.Format(time.RFC3339) + "/" + w.end.Format(time.RFC3339), Actions: actions}); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// windowOf reads the metric, period, threshold and evaluation range from the alarm's own
// definition: a simple Sum alarm on one of the detection metrics with an upper threshold.
func (q *Quarantine) windowOf(a cwtypes.MetricAlarm) (window, error) {
	w := window{metric: aws.ToString(a.MetricName), operator: a.ComparisonOperator, threshold: aws.ToFloat64(a.Threshold)}
	if ns := aws.ToString(a.Namespace); ns != Namespace {
		return w, fmt.Errorf("metric namespace %q is not %s", truncate(ns, 256), Namespace)
	}
	if w.metric != MetricAuthorizationFailures && w.metric != MetricDuplicateClientIDs {
		return w, fmt.Errorf("metric %q is not one this function handles", truncate(w.metric, 256))
	}
	if w.operator != cwtypes.ComparisonOperatorGreaterThanThreshold && w.operator != cwtypes.ComparisonOperatorGreaterThanOrEqualToThreshold {
		return w, fmt.Errorf("comparison operator %q is not an upper threshold", w.operator)
	}
	if a.Statistic != cwtypes.StatisticSum {
		return w, fmt.Errorf("statistic %q is not Sum", a.Statistic)
	}
	period := aws.ToInt32(a.Period)
	if period <= 0 || period%60 != 0 || period > 86400 {
		return w, fmt.Errorf("period %d is not a whole number of minutes up to a day", period)
	}
	w.period = period
	evals := max(aws.ToInt32(a.EvaluationPeriods), 1)
	// The window ends at the period boundary after the alarm's last state transition, so each
	// datapoint is one whole period as the alarm saw it.
	changed := q.now()
	if a.StateTransitionedTimestamp != nil {
		changed = a.StateTransitionedTimestamp.UTC()
	}
	p := time.Duration(period) * time.Second
	w.end = changed.Truncate(p)
	if !w.end.Equal(changed) {
		w.end = w.end.Add(p)
	}
	w.start = w.end.Add(-time.Duration(evals) * p)
	return w, nil
}

// confirm reads the alarm's metric over its window and reports whether any period crossed
// the alarm's threshold, with the highest value seen.
func (q *Quarantine) confirm(ctx context.Context, w window) (bool, float64, error) {
	pages := cloudwatch.NewGetMetricDataPaginator(q.Metrics, &cloudwatch.GetMetricDataInput{
		StartTime: aws.Time(w.start),
		EndTime:   aws.Time(w.end),
		MetricDataQueries: []cwtypes.MetricDataQuery{{
			Id: aws.String("fleet"),
			MetricStat: &cwtypes.MetricStat{
				Metric: &cwtypes.Metric{Namespace: aws.String(Namespace), MetricName: aws.String(w.metric)},
				Period: aws.Int32(w.period),
				Stat:   aws.String("Sum"),
			},
			ReturnData: aws.Bool(true),
		}},
	})
	peak, confirmed := 0.0, false
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return false, 0, err
		}
		for _, r := range page.MetricDataResults {
			for _, v := range r.Values {
				if math.IsNaN(v) {
					continue
				}
				peak = max(peak, v)
				if crosses(v, w.threshold, w.operator) {
					confirmed = true
				}
			}
		}
	}
	return confirmed, peak, nil
}

func crosses(v, threshold float64, op cwtypes.ComparisonOperator) bool {
	if op == cwtypes.ComparisonOperatorGreaterThanOrEqualToThreshold {
		return v >= threshold
	}
	return v > threshold
}

// InsightsQuery is the Logs Insights query that counts a detection metric's events per
// principal in AWSIotLogsV2. The filters are the metric filters' patterns in Insights syntax.
func InsightsQuery(metric string) (string, error) {
	var filter string
	switch metric {
	case MetricAuthorizationFailures:
		filter = `status = "Failure" and reason = "AUTHORIZATION_FAILURE"`
	case MetricDuplicateClientIDs:
		filter = `reason = "DUPLICATE_CLIENT_ID" or disconnectReason = "DUPLICATE_CLIENTID"`
	default:
		return "", fmt.Errorf("no query for metric %q", metric)
	}
	return "filter " + filter + "\n| stats count(*) as events by principalId\n| sort events desc\n| limit " +
		strconv.Itoa(MaxPrincipalsPerAlarm), nil
}

type offender struct {
	principal string
	events    int
}

// offendingPrincipals runs the metric's Insights query over the window and returns the
// principals with at least threshold events, most events first.
func (q *Quarantine) offendingPrincipals(ctx context.Context, w window, threshold float64) ([]offender, error) {
	query, err := InsightsQuery(w.metric)
	if err != nil {
		return nil, err
	}
	started, err := q.Queries.StartQuery(ctx, &cloudwatchlogs.StartQueryInput{
		LogGroupName: aws.String(q.LogGroup),
		StartTime:    aws.Int64(w.start.Unix()),
		// EndTime is inclusive in seconds: stop one second before the next period.
		EndTime:     aws.Int64(w.end.Unix() - 1),
		QueryString: aws.String(query),
		Limit:       aws.Int32(MaxPrincipalsPerAlarm),
	})
	if err != nil {
		return nil, fmt.Errorf("start query: %w", err)
	}
	sleep := q.Sleep
	if sleep == nil {
		sleep = time.Sleep
	}
	for {
		res, err := q.QueryResults.GetQueryResults(ctx, &cloudwatchlogs.GetQueryResultsInput{QueryId: started.QueryId})
		if err != nil {
			return nil, fmt.Errorf("query results: %w", err)
		}
		switch res.Status {
		case logtypes.QueryStatusComplete:
			return parseOffenders(q.log(), res.Results, threshold), nil
		case logtypes.QueryStatusScheduled, logtypes.QueryStatusRunning:
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("query %s still %s: %w", aws.ToString(started.QueryId), res.Status, err)
			}
			sleep(queryPollInterval)
		default:
			// Failed, Cancelled, Timeout: an error, so Lambda retries rather than do nothing.
			return nil, fmt.Errorf("query %s ended %s", aws.ToString(started.QueryId), res.Status)
		}
	}
}

func parseOffenders(log *slog.Logger, rows [][]logtypes.ResultField, threshold float64) []offender {
	var out []offender
	for _, row := range rows {
		var o offender
		for _, f := range row {
			switch aws.ToString(f.Field) {
			case "principalId":
				o.principal = aws.ToString(f.Value)
			case "events":
				o.events, _ = strconv.Atoi(aws.ToString(f.Value))
			}
		}
		if float64(o.events) < threshold {
			continue
		}
		// AWS IoT logs an X.509 client's certificate id as its principalId; a Cognito or
		// custom-authorizer principal has another shape and is not this platform's device.
		if !certIDPattern.MatchString(o.principal) {
			log.Error("offending principal is not a certificate; no action", slog.String("principalId", truncate(o.principal, 128)),
				slog.Int("events", o.events))
			continue
		}
		out = append(out, o)
	}
	return out
}

// actOnPrincipal contains what is attached to one offending certificate.
func (q *Quarantine) actOnPrincipal(ctx context.Context, log *slog.Logger, o offender) ([]Action, error) {
	claim, err := q.isClaimCertificate(ctx, o.principal)
	if err != nil {
		return nil, err
	}
	if claim {
		log.Warn("offending certificate is a fleet provisioning claim certificate; notify only")
		return []Action{{Certificate: o.principal, Outcome: OutcomeClaimCertificate, Events: o.events,
			Detail: "the shared claim certificate is never deactivated automatically (it would stop all provisioning); rotate it if it leaked"}}, nil
	}
	things, err := q.principalThings(ctx, o.principal)
	if err != nil {
		if isBadInput(err) {
			log.Error("certificate's things cannot be listed; no action", slog.String("error", err.Error()))
			return nil, nil
		}
		return nil, err
	}
	if len(things) == 0 {
		return q.flagCertificate(ctx, log, o)
	}
	var actions []Action
	var errs []error
	deactivate := false
	for _, thing := range things {
		a, acted, err := q.containThing(ctx, log.With(slog.String("thingName", thing)), thing)
		a.Certificate, a.Events = o.principal, o.events
		if err != nil {
			errs = append(errs, err)
			continue
		}
		actions = append(actions, a)
		deactivate = deactivate || acted
	}
	if deactivate && q.DeactivateCertificates {
		// Only the offending certificate: the thing's other certificates did nothing.
		if a, err := q.deactivate(ctx, log, o.principal); err != nil {
			errs = append(errs, err)
		} else if a != nil {
			a.Events = o.events
			actions = append(actions, *a)
		}
	}
	return actions, errors.Join(errs...)
}

// flagCertificate handles a certificate with no thing: it cannot be quarantined (a thing group
// holds things), and the client id it used names someone else's thing at best, so it is
// reported and, under DeactivateCertificates and the cap, deactivated.
func (q *Quarantine) flagCertificate(ctx context.Context, log *slog.Logger, o offender) ([]Action, error) {
	flag := Action{Certificate: o.principal, Outcome: OutcomeCertificateFlagged, Events: o.events,
		Detail: "the certificate has no thing attached; no thing was touched"}
	if !q.DeactivateCertificates {
		log.Warn("offending certificate has no thing; flagged for an operator")
		return []Action{flag}, nil
	}
	ok, err := q.take(ctx, "cert/"+o.principal)
	if err != nil {
		return nil, err
	}
	if !ok {
		log.Warn("quarantine cap reached; certificate flagged, not deactivated")
		flag.Detail += "; the automated-action cap was reached, so it was not deactivated"
		return []Action{flag}, nil
	}
	a, err := q.deactivate(ctx, log, o.principal)
	if err != nil || a == nil {
		return []Action{flag}, err
	}
	a.Events = o.events
	return []Action{flag, *a}, nil
}

// containThing quarantines one thing if it is the fleet's, its class allows it and the cap
// has room; acted reports whether it was quarantined.
func (q *Quarantine) containThing(ctx context.Context, log *slog.Logger, thing string) (a Action, acted bool, err error) {
	a = Action{Thing: thing}
	class, member, why, err := q.Scope.ClassOf(ctx, thing)
	if err != nil {
		return a, false, fmt.Errorf("look up %s: %w", thing, err)
	}
	if !member {
		log.Error("thing is not one of the fleet's; no action", slog.String("reason", why))
		a.Outcome, a.Detail = OutcomeOutOfScope, why
		return a, false, nil
	}
	if class.RemediationMode() != fleetspec.RemediationAuto {
		log.Warn("class is notify-only; not quarantined", slog.String("class", class.ID))
		a.Outcome, a.Detail = OutcomeNotifyOnlyClass, "class "+class.ID+" is notify-only in the fleet file"
		return a, false, nil
	}
	ok, err := q.take(ctx, "thing/"+thing)
	if err != nil {
		return a, false, err
	}
	if !ok {
		log.Warn("quarantine cap reached; not quarantined")
		a.Outcome, a.Detail = OutcomeCapReached, "the automated-quarantine cap for this window was reached"
		return a, false, nil
	}
	if err := q.addToGroup(ctx, log, thing); err != nil {
		return a, false, fmt.Errorf("quarantine %s: %w", thing, err)
	}
	a.Outcome = OutcomeQuarantined
	return a, true, nil
}

func (q *Quarantine) take(ctx context.Context, key string) (bool, error) {
	if q.Budget == nil {
		// No budget configured is no automated action: the safe side of a missing setting.
		return false, nil
	}
	ok, err := q.Budget.Take(ctx, key, q.now())
	if err != nil {
		return false, fmt.Errorf("quarantine budget: %w", err)
	}
	return ok, nil
}

func (q *Quarantine) isClaimCertificate(ctx context.Context, id string) (bool, error) {
	if slices.Contains(q.ClaimCertificates, id) {
		return true, nil
	}
	if q.ClaimPolicy == "" || q.PolicyTargets == nil {
		return false, nil
	}
	pages := iot.NewListTargetsForPolicyPaginator(q.PolicyTargets, &iot.ListTargetsForPolicyInput{PolicyName: aws.String(q.ClaimPolicy)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			var nf *iottypes.ResourceNotFoundException
			if errors.As(err, &nf) {
				return false, nil // no claim policy in this account: provisioning by claim is off
			}
			return false, fmt.Errorf("list claim policy targets: %w", err)
		}
		for _, target := range page.Targets {
			if m := certARNPattern.FindStringSubmatch(target); m != nil && m[1] == id {
				return true, nil
			}
		}
	}
	return false, nil
}

func (q *Quarantine) principalThings(ctx context.Context, id string) ([]string, error) {
	pages := iot.NewListPrincipalThingsPaginator(q.PrincipalOf, &iot.ListPrincipalThingsInput{Principal: aws.String(q.CertificateARNPrefix + id)})
	var out []string
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list principal things: %w", err)
		}
		out = append(out, page.Things...)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

func (q *Quarantine) addToGroup(ctx context.Context, log *slog.Logger, thing string) error {
	_, err := q.Groups.AddThingToThingGroup(ctx, &iot.AddThingToThingGroupInput{
		ThingGroupName: aws.String(q.Group),
		ThingName:      aws.String(thing),
	})
	switch {
	case err != nil && isBadInput(err):
		// The thing was deleted since it was listed: nothing to quarantine, and a retry will
		// not create it.
		log.Error("thing cannot be added to the quarantine group", slog.String("group", q.Group), slog.String("error", err.Error()))
		return nil
	case err != nil:
		return fmt.Errorf("add to group %s: %w", q.Group, err)
	}
	log.Warn("thing quarantined", slog.String("group", q.Group))
	return nil
}

func (q *Quarantine) deactivate(ctx context.Context, log *slog.Logger, id string) (*Action, error) {
	_, err := q.Certificates.UpdateCertificate(ctx, &iot.UpdateCertificateInput{
		CertificateId: aws.String(id),
		NewStatus:     iottypes.CertificateStatusInactive,
	})
	switch {
	case err != nil && isBadInput(err):
		// Revoked or pending-transfer certificates cannot become INACTIVE; a revoked one is
		// already cut off.
		log.Warn("certificate left as it is", slog.String("error", err.Error()))
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("deactivate certificate %s: %w", id, err)
	}
	log.Warn("certificate deactivated")
	return &Action{Certificate: id, Outcome: OutcomeCertificateDeactivate}, nil
}

// handleViolation quarantines the thing of a Detect violation that went into alarm, once
// ListActiveViolations confirms the violation is active: the ADD_THINGS_TO_THING_GROUP
// mitigation, which CloudFormation cannot attach to a security profile.
func (q *Quarantine) handleViolation(ctx context.Context, log *slog.Logger, v Violation) error {
	log = log.With(slog.String("violationId", truncate(v.ViolationID, 128)),
		slog.String("securityProfile", truncate(v.SecurityProfileName, 128)), slog.String("thingName", truncate(v.ThingName, 128)))
	if v.ViolationEventType != ViolationInAlarm {
		log.Info("detect violation not in alarm; nothing to do", slog.String("violationEventType", truncate(v.ViolationEventType, 32)))
		return nil
	}
	if !thingNamePattern.MatchString(v.ThingName) || v.ViolationID == "" || q.Violations == nil {
		log.Error("detect violation cannot be confirmed; no action")
		return nil
	}
	active, err := q.violationActive(ctx, v)
	if err != nil {
		if isBadInput(err) {
			log.Error("detect violation cannot be confirmed; no action", slog.String("error", err.Error()))
			return nil
		}
		return fmt.Errorf("violation %s: confirm: %w", v.ViolationID, err)
	}
	if !active {
		log.Warn("detect violation not among the active violations; no action")
		return nil
	}
	a, _, err := q.containThing(ctx, log, v.ThingName)
	if err != nil {
		return fmt.Errorf("violation %s: %w", v.ViolationID, err)
	}
	return q.publish(ctx, Notice{Type: RemediationNotice, Trigger: "detect violation " + truncate(v.ViolationID, 128), Actions: []Action{a}})
}

func (q *Quarantine) violationActive(ctx context.Context, v Violation) (bool, error) {
	in := &iot.ListActiveViolationsInput{ThingName: aws.String(v.ThingName)}
	if v.SecurityProfileName != "" {
		in.SecurityProfileName = aws.String(v.SecurityProfileName)
	}
	pages := iot.NewListActiveViolationsPaginator(q.Violations, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return false, err
		}
		for _, av := range page.ActiveViolations {
			if aws.ToString(av.ViolationId) == v.ViolationID && aws.ToString(av.ThingName) == v.ThingName {
				return true, nil
			}
		}
	}
	return false, nil
}

// publish tells a person what was done and what was left to them. Failing to notify is an
// error (Lambda retries; every action is idempotent), because a flagged certificate that no
// one hears of is a silent failure.
func (q *Quarantine) publish(ctx context.Context, n Notice) error {
	if len(n.Actions) == 0 {
		return nil
	}
	for _, a := range n.Actions {
		q.log().Info("remediation", slog.String("outcome", a.Outcome), slog.String("certificateId", a.Certificate),
			slog.String("thingName", a.Thing), slog.String("detail", a.Detail))
	}
	if q.AlertTopic == "" || q.Notify == nil {
		return nil
	}
	body, err := json.MarshalIndent(n, "", "  ")
	if err != nil {
		return fmt.Errorf("encode notice: %w", err)
	}
	_, err = q.Notify.Publish(ctx, &sns.PublishInput{
		TopicArn: aws.String(q.AlertTopic),
		Subject:  aws.String(subject(n)),
		Message:  aws.String(string(body)),
	})
	if err != nil {
		return fmt.Errorf("notify %s: %w", q.AlertTopic, err)
	}
	return nil
}

// subject summarizes a notice in SNS's subject limit (100 ASCII characters).
func subject(n Notice) string {
	counts := map[string]int{}
	for _, a := range n.Actions {
		counts[a.Outcome]++
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d %s", counts[k], k))
	}
	return truncate("SmartCity quarantine: "+strings.Join(parts, ", "), 100)
}
