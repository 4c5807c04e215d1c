package sim

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/secure-smart-city/platform/constructs/ota/document"
	"github.com/secure-smart-city/platform/topics"
)

// The AWS IoT Jobs MQTT API, as the device sees it (AWS IoT developer guide, "Jobs device MQTT
// API operations"): every topic sits under $aws/things/<thing>/jobs/, which the device policy
// allows the device for its own thing only.
const (
	jobsNotifyNext     = "notify-next"
	jobsStartNext      = "start-next"
	jobsAccepted       = "/accepted"
	jobsRejected       = "/rejected"
	jobsUpdateSuffix   = "/update"
	jobStatusSucceeded = "SUCCEEDED"
	jobStatusFailed    = "FAILED"
	jobStatusProgress  = "IN_PROGRESS"
)

// DefaultStepTimeout bounds one firmware update on the device (download, verification,
// apply). The device asks AWS IoT for a step timeout one minute longer, rounded up to whole
// minutes, so its own FAILED/TIMEOUT report lands before the service times the execution out.
const DefaultStepTimeout = 10 * time.Minute

// JobsConfig configures the device's firmware update agent.
type JobsConfig struct {
	// Thing and Class: the device. An update for another class is refused.
	Thing string
	Class string
	// FirmwareVersion is the version the device runs. Default: "1.0.0".
	FirmwareVersion string
	// CodeSigningCertFile is the PEM code-signing certificate pinned in the device: only images
	// signed by its key are applied. Ignored when CodeSigningCert is set.
	CodeSigningCertFile string
	CodeSigningCert     *x509.Certificate
	// HTTPClient downloads images. Default: an HTTPS-only client with the system roots.
	HTTPClient *http.Client
	// StepTimeout bounds one update on the device. Default: DefaultStepTimeout.
	StepTimeout time.Duration
	// MaxImageBytes refuses a document announcing a bigger image. Default: 16 MiB.
	MaxImageBytes int64
	// Apply installs a verified image. Default: the image is kept in memory only.
	Apply func(version string, image []byte) error
	// Logger. Default: slog.Default().
	Logger *slog.Logger
}

// Jobs runs the AWS IoT Jobs flow for firmware updates on one device's MQTT connection:
// notify-next, start-next with a step timeout, HTTPS download, signature verification against
// the pinned code-signing certificate, a version check that refuses downgrades, then an
// update to SUCCEEDED, or FAILED with a reason code. An image is applied only after every
// check passed; on any failure the device keeps its version and says why.
type Jobs struct {
	cfg     JobsConfig
	key     *ecdsa.PublicKey
	log     *slog.Logger
	prefix  string
	in      chan *paho.Publish
	version atomic.Value // string
	running sync.Mutex   // one update at a time
	token   atomic.Int64
}

// NewJobs validates cfg and loads the pinned certificate.
func NewJobs(cfg JobsConfig) (*Jobs, error) {
	if cfg.Thing == "" || cfg.Class == "" {
		return nil, errors.New("jobs: thing and class are required")
	}
	if cfg.FirmwareVersion == "" {
		cfg.FirmwareVersion = "1.0.0"
	}
	if _, err := document.ParseVersion(cfg.FirmwareVersion); err != nil {
		return nil, fmt.Errorf("jobs: firmware %w", err)
	}
	cert := cfg.CodeSigningCert
	if cert == nil {
		if cfg.CodeSigningCertFile == "" {
			return nil, errors.New("jobs: a pinned code-signing certificate is required: a device that cannot verify images must not take updates")
		}
		var err error
		if cert, err = LoadCodeSigningCert(cfg.CodeSigningCertFile); err != nil {
			return nil, err
		}
	}
	key, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || key.Curve.Params().Name != "P-256" {
		return nil, fmt.Errorf("jobs: code-signing certificate %q: want an ECDSA P-256 key", cert.Subject.CommonName)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Transport: &http.Transport{ForceAttemptHTTP2: true}}
	}
	if cfg.StepTimeout <= 0 {
		cfg.StepTimeout = DefaultStepTimeout
	}
	if cfg.MaxImageBytes <= 0 {
		cfg.MaxImageBytes = 16 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	j := &Jobs{cfg: cfg, key: key, log: cfg.Logger.With("thing", cfg.Thing, "agent", "jobs"),
		prefix: topics.JobsPrefix(cfg.Thing), in: make(chan *paho.Publish, 16)}
	j.version.Store(cfg.FirmwareVersion)
	return j, nil
}

// LoadCodeSigningCert reads a PEM code-signing certificate and checks it is one: an ECDSA key
// with the code-signing extended key usage.
func LoadCodeSigningCert(path string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("code-signing certificate: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("code-signing certificate %s: no PEM CERTIFICATE block", path)
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("code-signing certificate %s: %w", path, err)
	}
	for _, u := range cert.ExtKeyUsage {
		if u == x509.ExtKeyUsageCodeSigning {
			return cert, nil
		}
	}
	return nil, fmt.Errorf("code-signing certificate %s: lacks the code-signing extended key usage", path)
}

// Version is the firmware version the device runs now.
func (j *Jobs) Version() string { return j.version.Load().(string) }

// Subscriptions are the topics the agent needs.
func (j *Jobs) Subscriptions() []string {
	return []string{
		j.prefix + jobsNotifyNext,
		j.prefix + jobsStartNext + jobsAccepted,
		j.prefix + jobsStartNext + jobsRejected,
		j.prefix + "+" + jobsUpdateSuffix + jobsAccepted,
		j.prefix + "+" + jobsUpdateSuffix + jobsRejected,
	}
}

// Owns says whether a message belongs to the agent.
func (j *Jobs) Owns(topic string) bool {
	return len(topic) > len(j.prefix) && topic[:len(j.prefix)] == j.prefix
}

// Deliver hands the agent a message on one of its topics; it never blocks the caller.
func (j *Jobs) Deliver(p *paho.Publish) {
	select {
	case j.in <- p:
	default:
		j.log.Warn("jobs inbox full, dropping message", "topic", p.Topic)
	}
}

// Publisher publishes one message at QoS 1 and waits for its acknowledgement.
type Publisher func(ctx context.Context, topic string, payload []byte) error

// Run asks for the next pending job, then handles notifications and job executions until ctx
// is done. Updates run one at a time, outside the MQTT receive path.
func (j *Jobs) Run(ctx context.Context, publish Publisher) error {
	if err := j.startNext(ctx, publish); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case p := <-j.in:
			if err := j.handle(ctx, publish, p); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
		}
	}
}

type startNextRequest struct {
	ClientToken          string `json:"clientToken"`
	StepTimeoutInMinutes int64  `json:"stepTimeoutInMinutes"`
}

type jobExecution struct {
	JobID         string          `json:"jobId"`
	Status        string          `json:"status"`
	VersionNumber int64           `json:"versionNumber"`
	JobDocument   json.RawMessage `json:"jobDocument"`
}

type executionMessage struct {
	Execution *jobExecution `json:"execution"`
}

type updateRequest struct {
	Status          string            `json:"status"`
	StatusDetails   map[string]string `json:"statusDetails,omitempty"`
	ExpectedVersion int64             `json:"expectedVersion,omitempty"`
	ClientToken     string            `json:"clientToken"`
}

func (j *Jobs) startNext(ctx context.Context, publish Publisher) error {
	minutes := int64(math.Ceil((j.cfg.StepTimeout + time.Minute).Minutes()))
	b, _ := json.Marshal(startNextRequest{ClientToken: j.nextToken(), StepTimeoutInMinutes: minutes})
	return publish(ctx, j.prefix+jobsStartNext, b)
}

func (j *Jobs) nextToken() string {
	return j.cfg.Thing + "-" + strconv.FormatInt(j.token.Add(1), 10)
}

func (j *Jobs) handle(ctx context.Context, publish Publisher, p *paho.Publish) error {
	switch p.Topic {
	case j.prefix + jobsNotifyNext:
		var m executionMessage
		if err := json.Unmarshal(p.Payload, &m); err != nil || m.Execution == nil {
			return nil // no pending job
		}
		return j.startNext(ctx, publish)
	case j.prefix + jobsStartNext + jobsAccepted:
		var m executionMessage
		if err := json.Unmarshal(p.Payload, &m); err != nil {
			j.log.Warn("malformed start-next response", "error", err)
			return nil
		}
		if m.Execution == nil {
			j.log.Debug("no pending job")
			return nil
		}
		return j.execute(ctx, publish, *m.Execution)
	case j.prefix + jobsStartNext + jobsRejected:
		j.log.Warn("start-next rejected", "response", string(p.Payload))
	default:
		// update accepted/rejected: the outcome is already logged; a rejection means the
		// execution had reached a terminal state (for example TIMED_OUT) first.
		j.log.Info("job update response", "topic", p.Topic, "response", string(p.Payload))
	}
	return nil
}

// refusal is a failed update with its reason code.
type refusal struct {
	reason string
	err    error
}

func (r *refusal) Error() string { return r.reason + ": " + r.err.Error() }

func refuse(reason string, format string, args ...any) *refusal {
	return &refusal{reason: reason, err: fmt.Errorf(format, args...)}
}

func (j *Jobs) execute(ctx context.Context, publish Publisher, ex jobExecution) error {
	j.running.Lock()
	defer j.running.Unlock()
	log := j.log.With("jobId", ex.JobID)
	stepCtx, cancel := context.WithTimeout(ctx, j.cfg.StepTimeout)
	defer cancel()

	version, err := j.update(stepCtx, ex)
	status, details := jobStatusSucceeded, map[string]string{document.DetailVersion: j.Version()}
	if err != nil {
		var r *refusal
		if !errors.As(err, &r) {
			r = &refusal{reason: document.ReasonDownloadFailed, err: err}
		}
		if stepCtx.Err() == context.DeadlineExceeded && ctx.Err() == nil {
			r = refuse(document.ReasonTimeout, "the update did not finish within the step timeout %v: %v", j.cfg.StepTimeout, r.err)
		}
		status = jobStatusFailed
		details[document.DetailReason] = r.reason
		details[document.DetailMessage] = truncate(r.err.Error(), 512)
		log.Warn("firmware update refused; keeping the running version", "reason", r.reason, "error", r.err, "version", j.Version())
	} else {
		log.Info("firmware applied", "version", version)
	}
	b, _ := json.Marshal(updateRequest{Status: status, StatusDetails: details, ExpectedVersion: ex.VersionNumber, ClientToken: j.nextToken()})
	if err := publish(ctx, j.prefix+ex.JobID+jobsUpdateSuffix, b); err != nil {
		return err
	}
	// A terminal update makes the next queued job (if any) arrive on notify-next.
	return nil
}

// update runs the checks and applies the image; it returns the new version.
func (j *Jobs) update(ctx context.Context, ex jobExecution) (string, error) {
	doc, err := document.Parse(ex.JobDocument)
	if err != nil {
		return "", refuse(document.ReasonBadDocument, "%v", err)
	}
	if doc.Class != j.cfg.Class {
		return "", refuse(document.ReasonWrongClass, "the image is for class %q, this device is %q", doc.Class, j.cfg.Class)
	}
	next, _ := document.ParseVersion(doc.Version)
	current, _ := document.ParseVersion(j.Version())
	if next.Compare(current) <= 0 {
		return "", refuse(document.ReasonDowngrade, "version %s is not above the running %s (roll back by releasing the old image under a higher version)", doc.Version, j.Version())
	}
	if doc.Size > j.cfg.MaxImageBytes {
		return "", refuse(document.ReasonBadDocument, "image size %d is above the device's limit %d", doc.Size, j.cfg.MaxImageBytes)
	}
	sig, err := doc.ReceivedSignature()
	if err != nil {
		return "", refuse(document.ReasonUnsigned, "%v", err)
	}
	image, err := j.download(ctx, doc)
	if err != nil {
		return "", err
	}
	digest := sha256.Sum256(image)
	if hex.EncodeToString(digest[:]) != doc.SHA256 {
		return "", refuse(document.ReasonDigestMismatch, "the downloaded image's SHA-256 is not the document's")
	}
	der, err := base64.StdEncoding.DecodeString(sig.Signature)
	if err != nil {
		return "", refuse(document.ReasonSignatureInvalid, "signature is not base64: %v", err)
	}
	// The signature covers the image itself, not the document's digest field: a document
	// whose sha256 was changed with the image still fails here.
	if !ecdsa.VerifyASN1(j.key, digest[:], der) {
		return "", refuse(document.ReasonSignatureInvalid, "the image's signature does not verify against the pinned code-signing certificate")
	}
	if j.cfg.Apply != nil {
		if err := j.cfg.Apply(doc.Version, image); err != nil {
			return "", refuse(document.ReasonDownloadFailed, "apply: %v", err)
		}
	}
	j.version.Store(doc.Version)
	return doc.Version, nil
}

func (j *Jobs) download(ctx context.Context, doc document.Document) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, doc.Image.URL, nil)
	if err != nil {
		return nil, refuse(document.ReasonBadDocument, "image url: %v", err)
	}
	if req.URL.Scheme != "https" {
		return nil, refuse(document.ReasonBadDocument, "image url is not https")
	}
	resp, err := j.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, refuse(document.ReasonDownloadFailed, "download: %v", redactURL(err))
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, refuse(document.ReasonDownloadFailed, "download: HTTP %d", resp.StatusCode)
	}
	// Read one byte past the announced size, so a longer body is caught without reading it all.
	image, err := io.ReadAll(io.LimitReader(resp.Body, doc.Size+1))
	if err != nil {
		return nil, refuse(document.ReasonDownloadFailed, "download: %v", redactURL(err))
	}
	if int64(len(image)) != doc.Size {
		return nil, refuse(document.ReasonDigestMismatch, "downloaded %d bytes, the document announces %d", len(image), doc.Size)
	}
	return image, nil
}

// redactURL drops the URL from an HTTP client error: a presigned URL is a bearer credential
// for its lifetime and must not reach logs or status details.
func redactURL(err error) error {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			return inner
		}
	}
	return err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// runJobs starts the device's jobs agent, if any, on the device's connection; the channel
// carries its error and stop ends it. A nil channel (no agent) never fires.
func (d *Device) runJobs(ctx context.Context) (<-chan error, func()) {
	if d.cfg.Jobs == nil {
		return nil, func() {}
	}
	ctx, stop := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() {
		errc <- d.cfg.Jobs.Run(ctx, func(ctx context.Context, topic string, payload []byte) error {
			return Publish(ctx, d.client, topic, payload, d.cfg.Timeout)
		})
	}()
	return errc, stop
}
