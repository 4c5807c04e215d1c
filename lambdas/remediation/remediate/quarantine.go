package remediate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	iottypes "github.com/aws/aws-sdk-go-v2/service/iot/types"
)

// MetricDataGetter reads metric data (cloudwatch.Client satisfies it).
type MetricDataGetter interface {
	GetMetricData(ctx context.Context, in *cloudwatch.GetMetricDataInput, optFns ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricDataOutput, error)
}

// ThingGroupAdder adds a thing to a thing group (iot.Client satisfies it).
type ThingGroupAdder interface {
	AddThingToThingGroup(ctx context.Context, in *iot.AddThingToThingGroupInput, optFns ...func(*iot.Options)) (*iot.AddThingToThingGroupOutput, error)
}

// PrincipalLister lists the principals attached to a thing (iot.Client satisfies it).
type PrincipalLister interface {
	ListThingPrincipals(ctx context.Context, in *iot.ListThingPrincipalsInput, optFns ...func(*iot.Options)) (*iot.ListThingPrincipalsOutput, error)
}

// CertificateUpdater changes a certificate's status (iot.Client satisfies it).
type CertificateUpdater interface {
	UpdateCertificate(ctx context.Context, in *iot.UpdateCertificateInput, optFns ...func(*iot.Options)) (*iot.UpdateCertificateOutput, error)
}

// Quarantine handles, through SNS, CloudWatch alarm notifications for the per-device security
// metrics (it finds the devices that crossed the alarm's threshold and quarantines them) and
// Device Defender Detect violations (it quarantines the violating device).
type Quarantine struct {
	// Group is the quarantine thing group (env QUARANTINE_GROUP); its deny-all policy cuts the
	// member things off.
	Group string
	// DeactivateCertificates also sets the things' certificates INACTIVE (env
	// DEACTIVATE_CERTIFICATES=true). Default: off; the group's policy already denies everything,
	// and an inactive certificate needs an operator to reactivate.
	DeactivateCertificates bool
	// DeviceThreshold is the per-device sum per period at or above which (or above which, per
	// the alarm's comparison operator) a device is an offender (env DEVICE_THRESHOLD).
	// Default (0): the alarm's own threshold.
	DeviceThreshold float64
	// Scope is which things may be quarantined: the registry's things of the fleet's classes.
	Scope Scope

	Metrics      MetricDataGetter
	Groups       ThingGroupAdder
	Principals   PrincipalLister
	Certificates CertificateUpdater
	Log          *slog.Logger
}

// thingLabel makes GetMetricData label each series returned by the search with its ThingName.
const thingLabel = "${PROP('Dim." + DimensionThingName + "')}"

var (
	metricNamePattern = regexp.MustCompile(`MetricName\s*=\s*"?([A-Za-z]+)"?`)
	certARNPattern    = regexp.MustCompile(`^arn:aws[a-z-]*:iot:[a-z0-9-]+:\d{12}:cert/([0-9a-f]{64})$`)
	thingNamePattern  = regexp.MustCompile(`^[a-zA-Z0-9:_-]{1,128}$`)
)

// Handle processes every record. Bad input (malformed message, alarm not in ALARM, a metric it
// does not handle, things outside the fleet or the registry) is logged and skipped; an AWS
// failure is returned so Lambda retries and then uses the on-failure destination. Every action
// is idempotent (adding a member, deactivating an inactive certificate), so redelivery is safe.
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

// window is what the alarm evaluated: a metric, its period and the time range.
type window struct {
	metric     string
	period     int32
	start, end time.Time
	threshold  float64
	operator   string
}

// Violation is the part of a Device Defender Detect alarm notification (a security profile's
// SNS alert target) that the quarantine acts on; the fields follow the API's ViolationEvent.
type Violation struct {
	ViolationID         string `json:"violationId"`
	ViolationEventType  string `json:"violationEventType"` // in-alarm, alarm-cleared, alarm-invalidated
	ThingName           string `json:"thingName"`
	SecurityProfileName string `json:"securityProfileName"`
}

// ViolationInAlarm is the Detect event type that quarantines its thing.
const ViolationInAlarm = "in-alarm"

func (q *Quarantine) handleMessage(ctx context.Context, messageID, message string) error {
	log := q.log().With(slog.String("snsMessageId", messageID))
	var v Violation
	if decodeMessage(message, &v) == nil && v.ViolationEventType != "" {
		return q.handleViolation(ctx, log, v)
	}
	var alarm events.CloudWatchAlarmSNSPayload
	if err := decodeMessage(message, &alarm); err != nil {
		log.Error("malformed alarm notification", slog.String("error", err.Error()))
		return nil
	}
	log = log.With(slog.String("alarmName", truncate(alarm.AlarmName, 255)))
	if alarm.NewStateValue != "ALARM" {
		log.Info("alarm not in ALARM state; nothing to do", slog.String("state", truncate(alarm.NewStateValue, 32)))
		return nil
	}
	w, err := q.windowOf(alarm)
	if err != nil {
		log.Error("alarm notification cannot be acted on", slog.String("error", err.Error()))
		return nil
	}
	log = log.With(slog.String("metric", w.metric))

	offenders, err := q.offenders(ctx, w)
	if err != nil {
		if isBadInput(err) {
			log.Error("metric query rejected", slog.String("error", err.Error()))
			return nil
		}
		return fmt.Errorf("alarm %s: query %s: %w", alarm.AlarmName, w.metric, err)
	}
	if len(offenders) == 0 {
		log.Warn("alarm fired but no single device crossed the threshold", slog.Float64("threshold", w.threshold))
		return nil
	}
	var errs []error
	for _, thing := range offenders {
		if !thingNamePattern.MatchString(thing) {
			log.Error("offending client id is not a thing of the fleet; no action", slog.String("thingName", truncate(thing, 128)),
				slog.String("reason", "not a valid thing name"))
			continue
		}
		member, why, err := q.Scope.Member(ctx, thing)
		if err != nil {
			errs = append(errs, fmt.Errorf("look up %s: %w", thing, err))
			continue
		}
		if !member {
			log.Error("offending client id is not a thing of the fleet; no action", slog.String("thingName", truncate(thing, 128)), slog.String("reason", why))
			continue
		}
		if err := q.quarantine(ctx, log.With(slog.String("thingName", thing)), thing); err != nil {
			errs = append(errs, fmt.Errorf("quarantine %s: %w", thing, err))
		}
	}
	return errors.Join(errs...)
}

// handleViolation quarantines the thing of a Detect violation that went into alarm: the
// ADD_THINGS_TO_THING_GROUP mitigation, applied as soon as the security profile raises it
// (CloudFormation cannot attach mitigation actions to a security profile). Cleared and
// invalidated violations are logged; the quarantine stays until an operator lifts it.
func (q *Quarantine) handleViolation(ctx context.Context, log *slog.Logger, v Violation) error {
	log = log.With(slog.String("violationId", truncate(v.ViolationID, 128)),
		slog.String("securityProfile", truncate(v.SecurityProfileName, 128)), slog.String("thingName", truncate(v.ThingName, 128)))
	if v.ViolationEventType != ViolationInAlarm {
		log.Info("detect violation not in alarm; nothing to do", slog.String("violationEventType", truncate(v.ViolationEventType, 32)))
		return nil
	}
	if !thingNamePattern.MatchString(v.ThingName) {
		log.Error("detect violation names no thing of the fleet; no action", slog.String("reason", "not a valid thing name"))
		return nil
	}
	member, why, err := q.Scope.Member(ctx, v.ThingName)
	if err != nil {
		return fmt.Errorf("violation %s: look up %s: %w", v.ViolationID, v.ThingName, err)
	}
	if !member {
		log.Error("detect violation names no thing of the fleet; no action", slog.String("reason", why))
		return nil
	}
	if err := q.quarantine(ctx, log, v.ThingName); err != nil {
		return fmt.Errorf("violation %s: quarantine %s: %w", v.ViolationID, v.ThingName, err)
	}
	return nil
}

// windowOf reads the alarm's metric, period, evaluation range and threshold from the
// notification. The alarm watches a fleet-level metric (an alarm cannot use SEARCH); the
// per-device series are looked up afterwards over the same range.
func (q *Quarantine) windowOf(a events.CloudWatchAlarmSNSPayload) (window, error) {
	t := a.Trigger
	w := window{metric: t.MetricName, threshold: t.Threshold, operator: t.ComparisonOperator}
	period := t.Period
	ns := t.Namespace
	for _, m := range t.Metrics {
		if w.metric == "" && m.MetricStat.Metric.MetricName != "" {
			w.metric, ns = m.MetricStat.Metric.MetricName, m.MetricStat.Metric.Namespace
		}
		if w.metric == "" {
			if sub := metricNamePattern.FindStringSubmatch(m.Expression); sub != nil {
				w.metric = sub[1]
			}
		}
		if period == 0 {
			period = max(m.MetricStat.Period, m.Period)
		}
	}
	if ns != "" && ns != Namespace {
		return w, fmt.Errorf("metric namespace %q is not %s", truncate(ns, 256), Namespace)
	}
	if w.metric != MetricAuthorizationFailures && w.metric != MetricDuplicateClientIDs {
		return w, fmt.Errorf("metric %q is not one this function handles", truncate(w.metric, 256))
	}
	if w.operator != "GreaterThanThreshold" && w.operator != "GreaterThanOrEqualToThreshold" {
		return w, fmt.Errorf("comparison operator %q is not an upper threshold", truncate(w.operator, 64))
	}
	if q.DeviceThreshold > 0 {
		w.threshold = q.DeviceThreshold
	}
	if period <= 0 || period%60 != 0 || period > 86400 {
		period = 300 // the metric filters' natural resolution; a bad value here is not a reason to do nothing
	}
	w.period = int32(period)
	evals := max(t.EvaluationPeriods, 1)
	changed, err := parseAlarmTime(a.StateChangeTime)
	if err != nil {
		return w, err
	}
	// Align to the period so each returned datapoint is one whole period, as the alarm saw it.
	p := time.Duration(period) * time.Second
	w.end = changed.Truncate(p)
	if !w.end.Equal(changed) {
		w.end = w.end.Add(p)
	}
	w.start = w.end.Add(-time.Duration(evals) * p)
	return w, nil
}

func parseAlarmTime(s string) (time.Time, error) {
	for _, layout := range []string{"2006-01-02T15:04:05.000-0700", "2006-01-02T15:04:05-0700", time.RFC3339Nano} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("state change time %q is not a timestamp", truncate(s, 64))
}

// SearchExpression is the GetMetricData expression that returns one series per device.
func SearchExpression(metric string, periodSeconds int32) string {
	return fmt.Sprintf(`SEARCH('{%s,%s} MetricName="%s"', 'Sum', %d)`, Namespace, DimensionThingName, metric, periodSeconds)
}

// offenders returns, sorted, the things whose sum in any period of the window crossed the
// threshold.
func (q *Quarantine) offenders(ctx context.Context, w window) ([]string, error) {
	p := cloudwatch.NewGetMetricDataPaginator(q.Metrics, &cloudwatch.GetMetricDataInput{
		StartTime: aws.Time(w.start),
		EndTime:   aws.Time(w.end),
		ScanBy:    cwtypes.ScanByTimestampDescending,
		MetricDataQueries: []cwtypes.MetricDataQuery{{
			Id:         aws.String("devices"),
			Expression: aws.String(SearchExpression(w.metric, w.period)),
			Label:      aws.String(thingLabel),
			ReturnData: aws.Bool(true),
		}},
	})
	seen := map[string]bool{}
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, r := range page.MetricDataResults {
			thing := strings.TrimSpace(aws.ToString(r.Label))
			if thing == "" || !slices.ContainsFunc(r.Values, func(v float64) bool { return crosses(v, w) }) {
				continue
			}
			seen[thing] = true
		}
	}
	out := make([]string, 0, len(seen))
	for t := range seen {
		out = append(out, t)
	}
	slices.Sort(out)
	return out, nil
}

func crosses(v float64, w window) bool {
	if math.IsNaN(v) {
		return false
	}
	if w.operator == "GreaterThanOrEqualToThreshold" {
		return v >= w.threshold
	}
	return v > w.threshold
}

func (q *Quarantine) quarantine(ctx context.Context, log *slog.Logger, thing string) error {
	_, err := q.Groups.AddThingToThingGroup(ctx, &iot.AddThingToThingGroupInput{
		ThingGroupName: aws.String(q.Group),
		ThingName:      aws.String(thing),
	})
	switch {
	case err != nil && isBadInput(err):
		// The registry held the thing a moment ago (or the cache did) but has none now: it
		// was deleted, so there is nothing to quarantine, and retrying will not create it.
		log.Error("thing cannot be added to the quarantine group", slog.String("group", q.Group), slog.String("error", err.Error()))
		return nil
	case err != nil:
		return fmt.Errorf("add to group %s: %w", q.Group, err)
	}
	log.Warn("thing quarantined", slog.String("group", q.Group))
	if !q.DeactivateCertificates {
		return nil
	}

	pages := iot.NewListThingPrincipalsPaginator(q.Principals, &iot.ListThingPrincipalsInput{ThingName: aws.String(thing)})
	var errs []error
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			if isBadInput(err) {
				log.Error("cannot list the thing's principals", slog.String("error", err.Error()))
				return nil
			}
			return fmt.Errorf("list principals: %w", err)
		}
		for _, principal := range page.Principals {
			m := certARNPattern.FindStringSubmatch(principal)
			if m == nil {
				continue // not an X.509 certificate (a Cognito identity, say)
			}
			_, err := q.Certificates.UpdateCertificate(ctx, &iot.UpdateCertificateInput{
				CertificateId: aws.String(m[1]),
				NewStatus:     iottypes.CertificateStatusInactive,
			})
			switch {
			case err != nil && isBadInput(err):
				// Revoked or pending-transfer certificates cannot become INACTIVE; a revoked
				// one is already cut off.
				log.Warn("certificate left as it is", slog.String("certificateId", m[1]), slog.String("error", err.Error()))
			case err != nil:
				errs = append(errs, fmt.Errorf("deactivate certificate %s: %w", m[1], err))
			default:
				log.Warn("certificate deactivated", slog.String("certificateId", m[1]))
			}
		}
	}
	return errors.Join(errs...)
}
