package sim_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/secure-smart-city/platform/cmd/devicesim/sim"
	"github.com/secure-smart-city/platform/constructs/ota/document"
	"github.com/secure-smart-city/platform/internal/mqtttest"
	"github.com/secure-smart-city/platform/policies"
	"github.com/secure-smart-city/platform/topics"
)

// signer is a code-signing key and its certificate.
type signer struct {
	key  *ecdsa.PrivateKey
	cert *x509.Certificate
}

func newSigner(t *testing.T, cn string) signer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return signer{key: key, cert: cert}
}

func (s signer) sign(t *testing.T, image []byte) string {
	t.Helper()
	d := sha256.Sum256(image)
	sig, err := ecdsa.SignASN1(rand.Reader, s.key, d[:])
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

// jobsService is a stand-in for AWS IoT Jobs on the MQTT topics a device uses: it answers
// start-next with the thing's next queued execution, notifies on notify-next, and records
// every execution update (and acknowledges it on update/accepted).
type jobsService struct {
	t       *testing.T
	c       *paho.Client
	mu      sync.Mutex
	queued  map[string][]map[string]any
	updates chan jobUpdate
}

type jobUpdate struct {
	Thing, JobID string
	Status       string            `json:"status"`
	Details      map[string]string `json:"statusDetails"`
}

const jobsServiceACL = `
user jobs-service
topic readwrite $aws/things/#
`

func startJobsService(t *testing.T, b broker) *jobsService {
	s := &jobsService{t: t, queued: map[string][]map[string]any{}, updates: make(chan jobUpdate, 16)}
	in := make(chan *paho.Publish, 64)
	c, _ := b.client(t, b.tlsFor(t, b.ca.IssueClient(t, "jobs-service")), "jobs-service")
	s.c = c
	c.AddOnPublishReceived(func(r paho.PublishReceived) (bool, error) { in <- r.Packet; return true, nil })
	for _, f := range []string{"$aws/things/+/jobs/start-next", "$aws/things/+/jobs/+/update"} {
		if err := sim.Subscribe(context.Background(), c, f, wait); err != nil {
			t.Fatal(err)
		}
	}
	ctx, stop := context.WithCancel(context.Background())
	t.Cleanup(stop)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case p := <-in:
				s.handle(ctx, p)
			}
		}
	}()
	return s
}

func (s *jobsService) reply(ctx context.Context, topic string, v any) {
	b, _ := json.Marshal(v)
	if err := sim.Publish(ctx, s.c, topic, b, wait); err != nil && ctx.Err() == nil {
		s.t.Errorf("jobs service publish %s: %v", topic, err)
	}
}

func (s *jobsService) handle(ctx context.Context, p *paho.Publish) {
	parts := strings.Split(p.Topic, "/") // $aws things <thing> jobs ...
	if len(parts) < 5 {
		return
	}
	thing := parts[2]
	prefix := topics.JobsPrefix(thing)
	switch {
	case parts[4] == "start-next":
		var req struct {
			ClientToken          string `json:"clientToken"`
			StepTimeoutInMinutes int64  `json:"stepTimeoutInMinutes"`
		}
		if json.Unmarshal(p.Payload, &req) != nil || req.StepTimeoutInMinutes < 1 {
			s.t.Errorf("start-next from %s without a step timeout: %s", thing, p.Payload)
		}
		s.mu.Lock()
		var next map[string]any
		if q := s.queued[thing]; len(q) > 0 {
			next, s.queued[thing] = q[0], q[1:]
		}
		s.mu.Unlock()
		resp := map[string]any{"clientToken": req.ClientToken, "timestamp": time.Now().Unix()}
		if next != nil {
			next["status"] = "IN_PROGRESS"
			resp["execution"] = next
		}
		s.reply(ctx, prefix+"start-next/accepted", resp)
	case len(parts) == 6 && parts[5] == "update":
		u := jobUpdate{Thing: thing, JobID: parts[4]}
		if err := json.Unmarshal(p.Payload, &u); err != nil {
			s.t.Errorf("update from %s: %v", thing, err)
		}
		s.updates <- u
		s.reply(ctx, prefix+parts[4]+"/update/accepted", map[string]any{"timestamp": time.Now().Unix()})
	}
}

// queue adds an execution for thing, as CreateJob does for each target, and notifies it.
func (s *jobsService) queue(thing, jobID string, doc any) {
	raw, err := json.Marshal(doc)
	if err != nil {
		s.t.Fatal(err)
	}
	ex := map[string]any{"jobId": jobID, "thingName": thing, "status": "QUEUED", "versionNumber": 1,
		"executionNumber": 1, "jobDocument": json.RawMessage(raw)}
	s.mu.Lock()
	s.queued[thing] = append(s.queued[thing], ex)
	s.mu.Unlock()
	s.reply(context.Background(), topics.JobsPrefix(thing)+"notify-next",
		map[string]any{"timestamp": time.Now().Unix(), "execution": map[string]any{"jobId": jobID, "status": "QUEUED"}})
}

func (s *jobsService) update(t *testing.T, thing, jobID string) jobUpdate {
	t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case u := <-s.updates:
			if u.Thing == thing && u.JobID == jobID {
				return u
			}
		case <-deadline:
			t.Fatalf("no update of job %s from %s within %v", jobID, thing, wait)
		}
	}
}

// jobsACL derives the broker ACL from the whole device policy, with the test's devices
// registered as street lights in old_town, so the flow runs under exactly what the policy
// allows.
func jobsACL(t *testing.T) string {
	t.Helper()
	doc := policies.Device(streetLight)
	var reg policies.Registry
	for _, name := range []string{"sl-ota-good", "sl-ota-tampered", "sl-ota-rogue", "sl-ota-unsigned", "sl-ota-downgrade", "sl-ota-same", "sl-ota-class", "sl-ota-slow"} {
		reg = append(reg, policies.CityThing(name, topics.RuleName(rulePrefix, streetLight.ID), "old_town"))
	}
	acl, err := policies.MosquittoACL(reg, doc)
	if err != nil {
		t.Fatalf("derive the ACL from the device policy: %v", err)
	}
	return acl
}

// TestJobsFlowAgainstMosquitto runs the device's firmware update flow against mosquitto, a
// stand-in for the AWS IoT Jobs service on the jobs topics, and an HTTPS file server on
// 127.0.0.1. Only a correctly signed newer image for the device's class is applied; every
// other case keeps the running version and reports FAILED with its reason code.
func TestJobsFlowAgainstMosquitto(t *testing.T) {
	ca := mqtttest.NewCA(t, "city-ca")
	b := broker{Broker: mqtttest.StartBroker(t, mqtttest.Options{CA: ca, ACL: jobsACL(t) + jobsServiceACL}), ca: ca}
	svc := startJobsService(t, b)

	pinned := newSigner(t, "city-firmware")
	rogue := newSigner(t, "someone-else")
	good := []byte(strings.Repeat("street light firmware 1.1.0\n", 200))
	tampered := append([]byte{}, good...)
	tampered[100] ^= 0xff

	stall := make(chan struct{})
	t.Cleanup(func() { close(stall) })
	files := map[string][]byte{"/fw/good.bin": good, "/fw/tampered.bin": tampered}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fw/slow.bin" {
			select { // never answers within the device's step timeout
			case <-stall:
			case <-r.Context().Done():
			}
			return
		}
		body, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	if !strings.HasPrefix(srv.URL, "https://127.0.0.1:") {
		t.Fatalf("file server at %s, want 127.0.0.1", srv.URL)
	}

	sum := func(b []byte) string { d := sha256.Sum256(b); return hex.EncodeToString(d[:]) }
	doc := func(version, path string, image []byte, sig any) map[string]any {
		return map[string]any{
			"operation": document.Operation, "class": streetLight.ID, "version": version,
			"size": len(image), "sha256": sum(image), "image": map[string]any{"url": srv.URL + path},
			"signature": sig,
		}
	}
	sigOf := func(s signer, image []byte) map[string]any {
		return map[string]any{"signature": s.sign(t, image), "signatureAlgorithm": document.SignatureAlgorithm, "rawPayloadSize": len(image)}
	}

	cases := []struct {
		name, thing, version string
		doc                  map[string]any
		step                 time.Duration
		wantStatus, reason   string
	}{
		{name: "good image applied", thing: "sl-ota-good", doc: doc("1.1.0", "/fw/good.bin", good, sigOf(pinned, good)),
			wantStatus: "SUCCEEDED"},
		// The attacker controls storage and the document's digest, not the signing key.
		{name: "tampered image refused", thing: "sl-ota-tampered", doc: doc("1.1.0", "/fw/tampered.bin", tampered, sigOf(pinned, good)),
			wantStatus: "FAILED", reason: document.ReasonSignatureInvalid},
		{name: "wrong signer refused", thing: "sl-ota-rogue", doc: doc("1.1.0", "/fw/good.bin", good, sigOf(rogue, good)),
			wantStatus: "FAILED", reason: document.ReasonSignatureInvalid},
		{name: "unsigned image refused", thing: "sl-ota-unsigned",
			doc:        doc("1.1.0", "/fw/good.bin", good, "${aws:iot:code-sign-signature:s3://eu-west-1.bucket/fw@v1}"),
			wantStatus: "FAILED", reason: document.ReasonUnsigned},
		{name: "downgrade refused", thing: "sl-ota-downgrade", version: "1.2.0", doc: doc("1.1.0", "/fw/good.bin", good, sigOf(pinned, good)),
			wantStatus: "FAILED", reason: document.ReasonDowngrade},
		{name: "same version refused", thing: "sl-ota-same", version: "1.1.0", doc: doc("1.1.0", "/fw/good.bin", good, sigOf(pinned, good)),
			wantStatus: "FAILED", reason: document.ReasonDowngrade},
		{name: "another class refused", thing: "sl-ota-class", doc: func() map[string]any {
			d := doc("1.1.0", "/fw/good.bin", good, sigOf(pinned, good))
			d["class"] = "camera"
			return d
		}(), wantStatus: "FAILED", reason: document.ReasonWrongClass},
		{name: "timeout reported", thing: "sl-ota-slow", step: 2 * time.Second, doc: doc("1.1.0", "/fw/slow.bin", good, sigOf(pinned, good)),
			wantStatus: "FAILED", reason: document.ReasonTimeout},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := "1.0.0"
			if tc.version != "" {
				start = tc.version
			}
			var applied []string
			var appliedMu sync.Mutex
			jobs, err := sim.NewJobs(sim.JobsConfig{
				Thing: tc.thing, Class: streetLight.ID, FirmwareVersion: start, CodeSigningCert: pinned.cert,
				HTTPClient: srv.Client(), StepTimeout: tc.step,
				Apply: func(v string, _ []byte) error {
					appliedMu.Lock()
					defer appliedMu.Unlock()
					applied = append(applied, v)
					return nil
				},
				Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
			})
			if err != nil {
				t.Fatal(err)
			}
			kp := b.ca.IssueClient(t, tc.thing)
			d, err := sim.New(sim.Config{
				Endpoint: b.Host, Port: b.Port, CertFile: kp.CertFile, KeyFile: kp.KeyFile, CAFile: b.ca.CertFile,
				Thing: tc.thing, Class: streetLight, District: "old_town", RulePrefix: rulePrefix, Rate: 1, Timeout: wait,
				Jobs: jobs, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := d.Connect(context.Background()); err != nil {
				t.Fatalf("connect: %v", err)
			}
			ctx, stop := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- d.Run(ctx) }()
			defer func() {
				stop()
				if err := <-done; err != nil {
					t.Errorf("run: %v", err)
				}
			}()

			jobID := "fw-" + tc.thing
			svc.queue(tc.thing, jobID, tc.doc)
			u := svc.update(t, tc.thing, jobID)
			if u.Status != tc.wantStatus || u.Details[document.DetailReason] != tc.reason {
				t.Fatalf("update = %s %v, want %s reason %q", u.Status, u.Details, tc.wantStatus, tc.reason)
			}
			appliedMu.Lock()
			defer appliedMu.Unlock()
			if tc.wantStatus == "SUCCEEDED" {
				if len(applied) != 1 || applied[0] != "1.1.0" || jobs.Version() != "1.1.0" || u.Details[document.DetailVersion] != "1.1.0" {
					t.Errorf("applied %v, version %s, details %v; want 1.1.0 applied once", applied, jobs.Version(), u.Details)
				}
				return
			}
			if len(applied) != 0 || jobs.Version() != start || u.Details[document.DetailVersion] != start {
				t.Errorf("refused image was applied (%v) or the version changed to %s (details %v); want %s kept", applied, jobs.Version(), u.Details, start)
			}
			if u.Details[document.DetailMessage] == "" || strings.Contains(u.Details[document.DetailMessage], srv.URL) {
				t.Errorf("message %q: want a reason without the image URL", u.Details[document.DetailMessage])
			}
		})
	}
}
