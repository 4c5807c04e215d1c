package hook

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/iot"
	iottypes "github.com/aws/aws-sdk-go-v2/service/iot/types"
	"github.com/google/go-cmp/cmp"

	"github.com/secure-smart-city/platform/lambdas/provisioninghook/allowlist"
	"github.com/secure-smart-city/platform/lambdas/provisioninghook/contract"
)

// The attacks issue 12 names, played against the hook: each must be refused and leave a log
// line and a metric that say why.

// certificatePEM makes a certificate for a fresh P-256 key, as AWS IoT issues one from a
// device's CSR, and returns it with the key's fingerprint.
func certificatePEM(cn string) (string, string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: fixedNow.Add(-time.Hour), NotAfter: fixedNow.Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	spki, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		panic(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), allowlist.Fingerprint(spki)
}

// The real device's certificate and the fingerprint the manufacturer recorded for it; the
// attacker holds the claim certificate and knows the serial, but has another key.
var (
	devicePEM, deviceFP     = certificatePEM("device")
	attackerPEM, attackerFP = certificatePEM("attacker")
)

// fakeRegistry is the IoT registry's view of things and certificates.
type fakeRegistry struct {
	mu         sync.Mutex
	principals map[string][]string // thing name -> principal ARNs
	status     map[string]iottypes.CertificateStatus
	pageSize   int
	listErr    error
	descErr    error
	lists      int
}

func newFakeRegistry() *fakeRegistry {
	return &fakeRegistry{principals: map[string][]string{}, status: map[string]iottypes.CertificateStatus{}, pageSize: 250}
}

func certArn(id string) string { return "arn:aws:iot:eu-west-1:123456789012:cert/" + id }

// attach registers a certificate with a status and attaches it to thing.
func (r *fakeRegistry) attach(thing, certID string, status iottypes.CertificateStatus) {
	r.principals[thing] = append(r.principals[thing], certArn(certID))
	r.status[certID] = status
}

func (r *fakeRegistry) ListThingPrincipals(_ context.Context, in *iot.ListThingPrincipalsInput, _ ...func(*iot.Options)) (*iot.ListThingPrincipalsOutput, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lists++
	if r.listErr != nil {
		return nil, r.listErr
	}
	all, ok := r.principals[*in.ThingName]
	if !ok {
		return nil, &iottypes.ResourceNotFoundException{Message: strPtr("thing not found")}
	}
	start := 0
	if in.NextToken != nil {
		start = int((*in.NextToken)[0] - '0')
	}
	end := min(start+r.pageSize, len(all))
	out := &iot.ListThingPrincipalsOutput{Principals: all[start:end]}
	if end < len(all) {
		out.NextToken = strPtr(string(rune('0' + end)))
	}
	return out, nil
}

func (r *fakeRegistry) DescribeCertificate(_ context.Context, in *iot.DescribeCertificateInput, _ ...func(*iot.Options)) (*iot.DescribeCertificateOutput, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.descErr != nil {
		return nil, r.descErr
	}
	st, ok := r.status[*in.CertificateId]
	if !ok {
		return nil, &iottypes.ResourceNotFoundException{Message: strPtr("certificate not found")}
	}
	return &iot.DescribeCertificateOutput{CertificateDescription: &iottypes.CertificateDescription{
		CertificateId: in.CertificateId, CertificateArn: strPtr(certArn(*in.CertificateId)), Status: st,
	}}, nil
}

// checkMetricLine: a decision line is an embedded-metric-format record that counts 1 in
// SmartCity/Provisioning Decisions under its own reason, so CloudWatch holds the metric the
// Fleet stack's alarms watch.
func checkMetricLine(t *testing.T, line map[string]any) {
	t.Helper()
	if line[contract.MetricDecisions] != 1.0 {
		t.Errorf("log line %v: %s = %v, want 1", line, contract.MetricDecisions, line[contract.MetricDecisions])
	}
	if r, _ := line[contract.DimensionReason].(string); r == "" {
		t.Errorf("log line %v has no %s dimension value", line, contract.DimensionReason)
	}
	want := map[string]any{
		"Timestamp": float64(fixedNow.UnixMilli()),
		"CloudWatchMetrics": []any{map[string]any{
			"Namespace":  contract.MetricNamespace,
			"Dimensions": []any{[]any{contract.DimensionReason}},
			"Metrics":    []any{map[string]any{"Name": contract.MetricDecisions, "Unit": "Count"}},
		}},
	}
	if diff := cmp.Diff(want, line["_aws"]); diff != "" {
		t.Errorf("EMF directive (-want +got):\n%s", diff)
	}
}

// decide runs one request and returns the response, the error and the one log line.
func decide(t *testing.T, h *Handler, buf interface{ Reset() }, req Request) (Response, error) {
	t.Helper()
	buf.Reset()
	return h.Handle(context.Background(), req)
}

func onlyLine(t *testing.T, _ *Handler, lines []map[string]any, reason string) map[string]any {
	t.Helper()
	if len(lines) != 1 {
		t.Fatalf("%d log lines, want 1: %v", len(lines), lines)
	}
	if lines[0][contract.DimensionReason] != reason {
		t.Errorf("logged reason %v, want %s", lines[0][contract.DimensionReason], reason)
	}
	checkMetricLine(t, lines[0])
	return lines[0]
}

// TestClaimWithWrongKeyRefused: an attacker with the shared claim certificate and an
// allowlisted serial, but not the device's key, is refused, leaves the entry unconsumed, and
// the real device is admitted after.
func TestClaimWithWrongKeyRefused(t *testing.T) {
	f := newFakeTable(lightEntry)
	h, buf := newHandler(f)
	attack := request("cert-attacker", map[string]string{ParamSerialNumber: "SN-0001"})
	attack.CertificatePEM = attackerPEM
	got, err := decide(t, h, buf, attack)
	if err != nil || got.AllowProvisioning {
		t.Fatalf("attacker: %+v, %v; want a refusal", got, err)
	}
	line := onlyLine(t, h, logLines(t, buf), ReasonFingerprintMismatch)
	if line["presentedKeyFingerprint"] != attackerFP || line["level"] != "WARN" {
		t.Errorf("refusal line %v: want the attacker's key fingerprint at WARN", line)
	}
	if f.updates != 0 || f.stored(t, "SN-0001")[allowlist.AttrStatus] != allowlist.StatusAllowed {
		t.Fatalf("the refused claim consumed the entry: %v", f.stored(t, "SN-0001"))
	}

	got, err = decide(t, h, buf, request("cert-device", map[string]string{ParamSerialNumber: "SN-0001"}))
	if err != nil || !got.AllowProvisioning {
		t.Fatalf("real device after the attack: %+v, %v; want admitted", got, err)
	}
	onlyLine(t, h, logLines(t, buf), ReasonAdmitted)
}

// TestClaimCertificateUnreadable: a request whose certificatePem does not parse cannot prove
// the key and is refused.
func TestClaimCertificateUnreadable(t *testing.T) {
	for name, pemText := range map[string]string{
		"empty":       "",
		"not pem":     "MIIB",
		"not a cert":  "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n",
		"garbage der": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
	} {
		t.Run(name, func(t *testing.T) {
			f := newFakeTable(lightEntry)
			h, buf := newHandler(f)
			req := request("cert-a", map[string]string{ParamSerialNumber: "SN-0001"})
			req.CertificatePEM = pemText
			if got, err := decide(t, h, buf, req); err != nil || got.AllowProvisioning {
				t.Fatalf("%+v, %v; want a refusal", got, err)
			}
			onlyLine(t, h, logLines(t, buf), ReasonUnreadableCertificate)
			if f.updates != 0 {
				t.Error("entry consumed")
			}
		})
	}
}

// TestEntryWithoutFingerprint: an entry with no recorded key is refused by default and
// admitted only with the trial setting, which the log line and metric then say.
func TestEntryWithoutFingerprint(t *testing.T) {
	unboundEntry := entry{Serial: "SN-0009", Status: allowlist.StatusAllowed, ThingName: "light-0009", Class: "street_light", District: "old_town"}
	req := request("cert-a", map[string]string{ParamSerialNumber: "SN-0009"})
	req.CertificatePEM = attackerPEM // any key at all

	f := newFakeTable(unboundEntry)
	h, buf := newHandler(f)
	if got, err := decide(t, h, buf, req); err != nil || got.AllowProvisioning {
		t.Fatalf("default: %+v, %v; want a refusal", got, err)
	}
	onlyLine(t, h, logLines(t, buf), ReasonFingerprintMissing)
	if f.updates != 0 {
		t.Error("default: entry consumed")
	}

	f = newFakeTable(unboundEntry)
	h, buf = newHandler(f, WithUnboundClaims(true))
	got, err := decide(t, h, buf, req)
	if err != nil || !got.AllowProvisioning {
		t.Fatalf("trial setting: %+v, %v; want admitted", got, err)
	}
	line := onlyLine(t, h, logLines(t, buf), ReasonAdmittedUnbound)
	if line["keyBound"] != false {
		t.Errorf("trial admission line %v does not say the key was not checked", line)
	}

	// The trial setting never skips a recorded fingerprint.
	f = newFakeTable(lightEntry)
	h, buf = newHandler(f, WithUnboundClaims(true))
	wrong := request("cert-x", map[string]string{ParamSerialNumber: "SN-0001"})
	wrong.CertificatePEM = attackerPEM
	if got, err := decide(t, h, buf, wrong); err != nil || got.AllowProvisioning {
		t.Fatalf("trial setting, wrong key: %+v, %v; want a refusal", got, err)
	}
	onlyLine(t, h, logLines(t, buf), ReasonFingerprintMismatch)
}

// TestMalformedFingerprintRefused: an entry whose fingerprint is not 64 lowercase hex digits
// is an allowlist mistake, never compared.
func TestMalformedFingerprintRefused(t *testing.T) {
	e := lightEntry
	e.KeyFingerprint = "SHA256:" + deviceFP
	f := newFakeTable(e)
	h, buf := newHandler(f)
	if got, err := decide(t, h, buf, request("cert-a", map[string]string{ParamSerialNumber: "SN-0001"})); err != nil || got.AllowProvisioning {
		t.Fatalf("%+v, %v; want a refusal", got, err)
	}
	onlyLine(t, h, logLines(t, buf), ReasonInvalidAllowlist)
}

// TestThingInServiceRefused: a claim for a thing that already has an active certificate is
// refused whatever the allowlist says, and the entry stays unconsumed; a thing whose old
// certificates are all inactive or revoked, and a thing that does not exist, are provisioned.
func TestThingInServiceRefused(t *testing.T) {
	tests := []struct {
		name   string
		attach func(r *fakeRegistry)
		want   string
		admit  bool
	}{
		{"active certificate", func(r *fakeRegistry) { r.attach("light-0001", "cert-old", iottypes.CertificateStatusActive) }, ReasonThingInUse, false},
		{"active certificate on the second page", func(r *fakeRegistry) {
			r.pageSize = 1
			r.attach("light-0001", "cert-revoked", iottypes.CertificateStatusRevoked)
			r.attach("light-0001", "cert-old", iottypes.CertificateStatusActive)
		}, ReasonThingInUse, false},
		{"cognito identity", func(r *fakeRegistry) {
			r.principals["light-0001"] = []string{"eu-west-1:0d9e8f52-5a7c-4e9b-9f0e-000000000000"}
		}, ReasonThingInUse, false},
		{"only inactive and revoked certificates", func(r *fakeRegistry) {
			r.attach("light-0001", "cert-inactive", iottypes.CertificateStatusInactive)
			r.attach("light-0001", "cert-revoked", iottypes.CertificateStatusRevoked)
		}, ReasonAdmitted, true},
		{"certificate deleted after listing", func(r *fakeRegistry) {
			r.principals["light-0001"] = []string{certArn("cert-gone")}
		}, ReasonAdmitted, true},
		{"thing exists without principals", func(r *fakeRegistry) { r.principals["light-0001"] = nil }, ReasonAdmitted, true},
		{"thing does not exist", func(*fakeRegistry) {}, ReasonAdmitted, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeTable(lightEntry)
			reg := newFakeRegistry()
			tt.attach(reg)
			h, buf := newHandler(f, WithRegistry(reg, reg))
			got, err := decide(t, h, buf, request("cert-a", map[string]string{ParamSerialNumber: "SN-0001"}))
			if err != nil || got.AllowProvisioning != tt.admit {
				t.Fatalf("%+v, %v; want admitted = %v", got, err, tt.admit)
			}
			line := onlyLine(t, h, logLines(t, buf), tt.want)
			if !tt.admit {
				if line["thingName"] != "light-0001" || line["activePrincipal"] == nil {
					t.Errorf("refusal line %v does not name the thing and its principal", line)
				}
				if f.updates != 0 {
					t.Error("the refused claim consumed the entry")
				}
			}
		})
	}
}

// TestRetryWithSameCertificatePasses: RegisterThing retried after a lost response presents
// the certificate already admitted and attached to the thing; it is admitted again, while
// another certificate for the same serial is refused.
func TestRetryWithSameCertificatePasses(t *testing.T) {
	provisioned := lightEntry
	provisioned.Status, provisioned.CertificateID = allowlist.StatusProvisioned, "cert-first"
	reg := newFakeRegistry()
	reg.attach("light-0001", "cert-first", iottypes.CertificateStatusActive)
	f := newFakeTable(provisioned)
	h, buf := newHandler(f, WithRegistry(reg, reg))

	got, err := decide(t, h, buf, request("cert-first", map[string]string{ParamSerialNumber: "SN-0001"}))
	if err != nil || !got.AllowProvisioning {
		t.Fatalf("retry: %+v, %v; want admitted", got, err)
	}
	onlyLine(t, h, logLines(t, buf), ReasonRetrySameCert)

	got, err = decide(t, h, buf, request("cert-second", map[string]string{ParamSerialNumber: "SN-0001"}))
	if err != nil || got.AllowProvisioning {
		t.Fatalf("second certificate: %+v, %v; want a refusal", got, err)
	}
	onlyLine(t, h, logLines(t, buf), ReasonAlreadyProvisioned)
}

// TestRegistryFailuresFailClosed: when the registry cannot be read (or was never given), the
// hook refuses, returns the error and logs it at ERROR.
func TestRegistryFailuresFailClosed(t *testing.T) {
	boom := errors.New("ThrottlingException")
	tests := []struct {
		name string
		opts func() []Option
	}{
		{"list fails", func() []Option {
			r := newFakeRegistry()
			r.listErr = boom
			return []Option{WithRegistry(r, r)}
		}},
		{"describe fails", func() []Option {
			r := newFakeRegistry()
			r.attach("light-0001", "cert-old", iottypes.CertificateStatusInactive)
			r.descErr = boom
			return []Option{WithRegistry(r, r)}
		}},
		{"too many pages", func() []Option {
			r := newFakeRegistry()
			r.pageSize = 1
			for i := range maxPrincipalPages + 1 {
				r.attach("light-0001", "cert-"+string(rune('a'+i)), iottypes.CertificateStatusInactive)
			}
			return []Option{WithRegistry(r, r)}
		}},
		{"no registry", func() []Option { return []Option{WithRegistry(nil, nil)} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeTable(lightEntry)
			h, buf := newHandler(f, tt.opts()...)
			got, err := decide(t, h, buf, request("cert-a", map[string]string{ParamSerialNumber: "SN-0001"}))
			if err == nil || got.AllowProvisioning {
				t.Fatalf("%+v, %v; want a refusal with an error", got, err)
			}
			if tt.name != "too many pages" && tt.name != "no registry" && !errors.Is(err, boom) {
				t.Errorf("error %v does not wrap %v", err, boom)
			}
			line := onlyLine(t, h, logLines(t, buf), ReasonRegistryError)
			if line["level"] != "ERROR" {
				t.Errorf("registry failure logged at %v, want ERROR", line["level"])
			}
			if f.updates != 0 {
				t.Error("entry consumed although the thing could not be checked")
			}
		})
	}
}

func TestCertificateID(t *testing.T) {
	for in, want := range map[string]string{
		"arn:aws:iot:eu-west-1:123456789012:cert/abc":        "abc",
		"arn:aws-cn:iot:cn-north-1:123456789012:cert/0f1e2d": "0f1e2d",
		"arn:aws:iot:eu-west-1:123456789012:cert/":           "",
		"arn:aws:iam::123456789012:role/cert/abc":            "",
		"eu-west-1:0d9e8f52-5a7c-4e9b-9f0e-000000000000":     "",
		"": "",
	} {
		got, ok := certificateID(in)
		if got != want || ok != (want != "") {
			t.Errorf("certificateID(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}
