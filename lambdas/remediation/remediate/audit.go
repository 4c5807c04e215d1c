package remediate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	iottypes "github.com/aws/aws-sdk-go-v2/service/iot/types"
)

// Step is one kind of response to an audit finding. Each maps to a mitigation action the CDK
// defines (its name comes from the environment).
type Step string

// Steps, in the order a task applies them. Device Defender skips a finding's later actions
// when an earlier one fails, so containment comes before the notification.
const (
	StepDeactivateCertificate Step = "deactivate-certificate" // UPDATE_DEVICE_CERTIFICATE, DEACTIVATE
	StepQuarantine            Step = "quarantine"             // ADD_THINGS_TO_THING_GROUP, the quarantine group
	StepEnableLogging         Step = "enable-logging"         // ENABLE_IOT_LOGGING
	StepPublishFinding        Step = "publish-finding"        // PUBLISH_FINDING_TO_SNS, the alert topic
)

var (
	containDevice = []Step{StepDeactivateCertificate, StepQuarantine, StepPublishFinding}
	notifyOnly    = []Step{StepPublishFinding}
)

// checkSteps maps every audit check to its response. The rule: automate only what is scoped to
// one device's identity (its certificate, its thing) or restores the detection path itself
// (logging); anything whose blast radius is the whole fleet (a CA, a shared IoT policy, a
// role) or that calls for rotation rather than revocation is published for an operator.
var checkSteps = map[string][]Step{
	// A certificate presented by several client ids, or one whose issuer revoked it (directly
	// or through an intermediate CA), is a stolen or cloned identity: cut it off.
	"DEVICE_CERTIFICATE_SHARED_CHECK":                              containDevice,
	"REVOKED_DEVICE_CERTIFICATE_STILL_ACTIVE_CHECK":                containDevice,
	"INTERMEDIATE_CA_REVOKED_FOR_ACTIVE_DEVICE_CERTIFICATES_CHECK": containDevice,
	// A weak key may be forged but is not known to be: quarantine (reversible by removing the
	// thing from the group) until the device is re-keyed, keep the certificate.
	"DEVICE_CERTIFICATE_KEY_QUALITY_CHECK": {StepQuarantine, StepPublishFinding},
	// Logging off blinds the detection path; turning it back on is always safe.
	"LOGGING_DISABLED_CHECK": {StepEnableLogging, StepPublishFinding},
	// Expiring or old certificates need rotation; deactivating them early only brings the
	// outage forward.
	"DEVICE_CERTIFICATE_EXPIRING_CHECK": notifyOnly,
	"DEVICE_CERTIFICATE_AGE_CHECK":      notifyOnly,
	// Deactivating a CA (UPDATE_CA_CERTIFICATE) strands every device it issued: an operator's
	// decision, not an automatic one.
	"CA_CERTIFICATE_EXPIRING_CHECK":             notifyOnly,
	"CA_CERTIFICATE_KEY_QUALITY_CHECK":          notifyOnly,
	"REVOKED_CA_CERTIFICATE_STILL_ACTIVE_CHECK": notifyOnly,
	// Device Defender supports only publishing for these.
	"CONFLICTING_CLIENT_IDS_CHECK":                          notifyOnly,
	"AUTHENTICATED_COGNITO_ROLE_OVERLY_PERMISSIVE_CHECK":    notifyOnly,
	"UNAUTHENTICATED_COGNITO_ROLE_OVERLY_PERMISSIVE_CHECK":  notifyOnly,
	"IOT_ROLE_ALIAS_ALLOWS_ACCESS_TO_UNUSED_SERVICES_CHECK": notifyOnly,
	"IOT_ROLE_ALIAS_OVERLY_PERMISSIVE_CHECK":                notifyOnly,
	// REPLACE_DEFAULT_POLICY_VERSION would install a blank policy and disconnect every device
	// using it; the policies are synthesized and checked in the CDK app, so drift is fixed by
	// redeploying.
	"IOT_POLICY_OVERLY_PERMISSIVE_CHECK":          notifyOnly,
	"IOT_POLICY_POTENTIAL_MISCONFIGURATION_CHECK": notifyOnly,
}

// CheckSteps returns the response to findings of an audit check, as a new slice. A check this
// package does not know (a new one AWS added) is published for an operator.
func CheckSteps(check string) []Step {
	if s, ok := checkSteps[check]; ok {
		return slices.Clone(s)
	}
	return slices.Clone(notifyOnly)
}

// AuditChecks lists the checks CheckSteps knows, sorted.
func AuditChecks() []string {
	out := make([]string, 0, len(checkSteps))
	for c := range checkSteps {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

// ActionNames are the names of the account's mitigation actions, one per Step. An empty name
// drops that step (logged once per task).
type ActionNames struct {
	DeactivateCertificate string // env ACTION_DEACTIVATE_CERT
	Quarantine            string // env ACTION_QUARANTINE
	EnableLogging         string // env ACTION_ENABLE_LOGGING
	PublishFinding        string // env ACTION_PUBLISH_FINDING
}

func (a ActionNames) name(s Step) string {
	switch s {
	case StepDeactivateCertificate:
		return a.DeactivateCertificate
	case StepQuarantine:
		return a.Quarantine
	case StepEnableLogging:
		return a.EnableLogging
	case StepPublishFinding:
		return a.PublishFinding
	}
	return ""
}

// FindingLister lists an audit's findings (iot.Client satisfies it).
type FindingLister interface {
	ListAuditFindings(ctx context.Context, in *iot.ListAuditFindingsInput, optFns ...func(*iot.Options)) (*iot.ListAuditFindingsOutput, error)
}

// MitigationStarter starts a mitigation-actions task (iot.Client satisfies it).
type MitigationStarter interface {
	StartAuditMitigationActionsTask(ctx context.Context, in *iot.StartAuditMitigationActionsTaskInput, optFns ...func(*iot.Options)) (*iot.StartAuditMitigationActionsTaskOutput, error)
}

// Audit handles Device Defender audit notifications delivered through SNS.
type Audit struct {
	Actions ActionNames
	// Scope is which things a finding must name before a containment step acts on it.
	Scope    Scope
	Findings FindingLister
	Tasks    MitigationStarter
	Log      *slog.Logger
}

// AuditNotification is the message Device Defender publishes when an audit finishes.
type AuditNotification struct {
	AccountID               string            `json:"accountId"`
	TaskID                  string            `json:"taskId"`
	TaskStatus              string            `json:"taskStatus"`
	TaskType                string            `json:"taskType"`
	ScheduledAuditName      string            `json:"scheduledAuditName,omitempty"`
	FailedChecksCount       int               `json:"failedChecksCount"`
	CanceledChecksCount     int               `json:"canceledChecksCount"`
	NonCompliantChecksCount int               `json:"nonCompliantChecksCount"`
	CompliantChecksCount    int               `json:"compliantChecksCount"`
	TotalChecksCount        int               `json:"totalChecksCount"`
	TaskStartTime           int64             `json:"taskStartTime"`
	AuditDetails            []AuditCheckState `json:"auditDetails"`
}

// AuditCheckState is one check's result inside an AuditNotification.
type AuditCheckState struct {
	CheckName                  string `json:"checkName"`
	CheckRunStatus             string `json:"checkRunStatus"`
	NonCompliantResourcesCount int64  `json:"nonCompliantResourcesCount"`
	TotalResourcesCount        int64  `json:"totalResourcesCount"`
	Message                    string `json:"message,omitempty"`
	ErrorCode                  string `json:"errorCode,omitempty"`
}

// Limits from the IoT API: an audit task id, a mitigation task id, and how many findings one
// mitigation task may target.
var (
	auditTaskIDPattern = regexp.MustCompile(`^[a-zA-Z0-9-]{1,40}$`)
	checkNamePattern   = regexp.MustCompile(`^[A-Z0-9_]{1,100}$`)
)

const (
	maxFindingsPerTask = 25
	maxTaskIDLength    = 128
)

// Handle processes every record. Bad input (a malformed message, an unfinished audit, findings
// about things outside the fleet) is logged and skipped; an AWS failure is returned so Lambda
// retries the event and, in the end, sends it to the on-failure destination. Redelivery is
// safe: task ids are derived from the audit, the check and the findings.
func (a *Audit) Handle(ctx context.Context, ev events.SNSEvent) error {
	var errs []error
	for _, rec := range ev.Records {
		if err := a.handleMessage(ctx, rec.SNS.MessageID, rec.SNS.Message); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (a *Audit) log() *slog.Logger {
	if a.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return a.Log
}

func (a *Audit) handleMessage(ctx context.Context, messageID, message string) error {
	log := a.log().With(slog.String("snsMessageId", messageID))
	var n AuditNotification
	if err := decodeMessage(message, &n); err != nil {
		log.Error("malformed audit notification", slog.String("error", err.Error()))
		return nil
	}
	if !auditTaskIDPattern.MatchString(n.TaskID) {
		log.Error("audit notification has no valid task id", slog.String("taskId", truncate(n.TaskID, 64)))
		return nil
	}
	log = log.With(slog.String("auditTaskId", n.TaskID))
	if n.TaskStatus != "COMPLETED" {
		log.Info("audit did not complete; nothing to mitigate", slog.String("taskStatus", truncate(n.TaskStatus, 32)))
		return nil
	}
	var errs []error
	for _, d := range n.AuditDetails {
		if d.NonCompliantResourcesCount <= 0 || d.CheckRunStatus != "COMPLETED_NON_COMPLIANT" {
			continue
		}
		if !checkNamePattern.MatchString(d.CheckName) {
			log.Error("audit notification names an invalid check", slog.String("checkName", truncate(d.CheckName, 100)))
			continue
		}
		if err := a.mitigate(ctx, log.With(slog.String("checkName", d.CheckName)), n.TaskID, d.CheckName); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (a *Audit) mitigate(ctx context.Context, log *slog.Logger, auditTaskID, check string) error {
	if _, known := checkSteps[check]; !known {
		log.Warn("unknown audit check; publishing its findings only")
	}
	steps := CheckSteps(check)
	var actions []string
	for _, s := range steps {
		name := a.Actions.name(s)
		if name == "" {
			log.Warn("no mitigation action configured for step; skipping it", slog.String("step", string(s)))
			continue
		}
		actions = append(actions, name)
	}
	if len(actions) == 0 {
		log.Warn("no mitigation action configured for this check; findings left to the audit notification")
		return nil
	}

	findings, err := a.listFindings(ctx, auditTaskID, check)
	if err != nil {
		if isBadInput(err) {
			log.Error("cannot list the audit's findings", slog.String("error", err.Error()))
			return nil
		}
		return fmt.Errorf("list findings of audit %s check %s: %w", auditTaskID, check, err)
	}
	targetsDevice := slices.Contains(steps, StepDeactivateCertificate) || slices.Contains(steps, StepQuarantine)
	var ids []string
	for _, f := range findings {
		id := aws.ToString(f.FindingId)
		if id == "" || aws.ToBool(f.IsSuppressed) {
			continue
		}
		if targetsDevice {
			clients := clientIDs(f)
			member, reasons, err := a.anyMember(ctx, clients)
			if err != nil {
				return fmt.Errorf("audit %s check %s finding %s: %w", auditTaskID, check, id, err)
			}
			if len(clients) > 0 && !member {
				log.Error("finding names only things outside the fleet; no action",
					slog.String("findingId", id), slog.Any("clientIds", clients), slog.Any("reasons", reasons))
				continue
			}
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		log.Info("no actionable findings")
		return nil
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)

	var errs []error
	for chunk := range slices.Chunk(ids, maxFindingsPerTask) {
		taskID := mitigationTaskID(auditTaskID, check, chunk)
		_, err := a.Tasks.StartAuditMitigationActionsTask(ctx, &iot.StartAuditMitigationActionsTaskInput{
			TaskId:                     aws.String(taskID),
			ClientRequestToken:         aws.String(clientToken(taskID)),
			Target:                     &iottypes.AuditMitigationActionsTaskTarget{FindingIds: chunk},
			AuditCheckToActionsMapping: map[string][]string{check: actions},
		})
		var exists *iottypes.TaskAlreadyExistsException
		switch {
		case errors.As(err, &exists):
			log.Info("mitigation task already started", slog.String("mitigationTaskId", taskID))
		case err != nil && isBadInput(err):
			log.Error("mitigation task rejected", slog.String("mitigationTaskId", taskID), slog.String("error", err.Error()))
		case err != nil:
			errs = append(errs, fmt.Errorf("start mitigation task %s: %w", taskID, err))
		default:
			log.Info("mitigation task started", slog.String("mitigationTaskId", taskID),
				slog.Any("actions", actions), slog.Int("findings", len(chunk)))
		}
	}
	return errors.Join(errs...)
}

// anyMember reports whether any of the client ids is a thing of the fleet, with the reason
// for each that is not.
func (a *Audit) anyMember(ctx context.Context, clients []string) (bool, []string, error) {
	var reasons []string
	for _, c := range clients {
		if !thingNamePattern.MatchString(c) {
			reasons = append(reasons, c+": not a valid thing name")
			continue
		}
		ok, why, err := a.Scope.Member(ctx, c)
		if err != nil {
			return false, nil, fmt.Errorf("look up %s: %w", c, err)
		}
		if ok {
			return true, nil, nil
		}
		reasons = append(reasons, c+": "+why)
	}
	return false, reasons, nil
}

func (a *Audit) listFindings(ctx context.Context, auditTaskID, check string) ([]iottypes.AuditFinding, error) {
	// ListSuppressedFindings=false is not sent on the wire (the API then lists both kinds), so
	// suppressed findings are filtered by the caller.
	p := iot.NewListAuditFindingsPaginator(a.Findings, &iot.ListAuditFindingsInput{
		TaskId:    aws.String(auditTaskID),
		CheckName: aws.String(check),
	})
	var out []iottypes.AuditFinding
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, page.Findings...)
	}
	return out, nil
}

// clientIDs returns the MQTT client ids a finding names; in this fleet a client id is a thing
// name.
func clientIDs(f iottypes.AuditFinding) []string {
	var out []string
	add := func(r *iottypes.ResourceIdentifier) {
		if r != nil && aws.ToString(r.ClientId) != "" {
			out = append(out, truncate(aws.ToString(r.ClientId), 128))
		}
	}
	if f.NonCompliantResource != nil {
		add(f.NonCompliantResource.ResourceIdentifier)
	}
	for _, r := range f.RelatedResources {
		add(r.ResourceIdentifier)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// mitigationTaskID is deterministic so that a redelivered notification starts no second task:
// the audit and check stay readable, the hash pins the exact set of findings.
func mitigationTaskID(auditTaskID, check string, findingIDs []string) string {
	h := sha256.New()
	for _, id := range findingIDs {
		h.Write([]byte(id))
		h.Write([]byte{0})
	}
	sum := hex.EncodeToString(h.Sum(nil))[:16]
	id := auditTaskID + "-" + check + "-" + sum
	if len(id) > maxTaskIDLength {
		id = auditTaskID + "-" + sum
	}
	return id
}

// clientToken pairs with the task id: the same task started twice with the same token is one
// task.
func clientToken(taskID string) string {
	sum := sha256.Sum256([]byte(taskID))
	return hex.EncodeToString(sum[:])
}

// decodeMessage decodes an SNS message body. Unknown fields are allowed: AWS adds fields to its
// notifications.
func decodeMessage(message string, v any) error {
	if message == "" {
		return errors.New("empty message")
	}
	if err := json.Unmarshal([]byte(message), v); err != nil {
		return err
	}
	return nil
}

// isBadInput reports whether err is the service refusing this event's content (a thing,
// task or certificate that does not exist or cannot change) rather than failing. Retrying such
// an event cannot succeed, so it is logged instead of returned.
func isBadInput(err error) bool {
	switch apiErrorCode(err) {
	case "ResourceNotFoundException", "InvalidRequestException", "CertificateStateException",
		"InvalidParameterValueException", "InvalidParameterCombinationException", "MissingRequiredParameterException":
		return true
	}
	return false
}
