// Package allowlist is the contract of the provisioning allowlist table: the item attributes,
// status values and key fingerprint format that the pre-provisioning hook, the provisioning
// template's parameters, and `fleetctl allowlist import` must agree on. It holds names and one
// pure function, so the CDK app and the tools can import it without any AWS SDK client.
package allowlist

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"regexp"
)

// Item attributes. The table's partition key is AttrSerial (S).
const (
	AttrSerial    = "serial"
	AttrStatus    = "status"
	AttrThingName = "thingName"
	AttrClass     = "class"
	AttrDistrict  = "district"
	// AttrKeyFingerprint is the device's public-key fingerprint (see Fingerprint), which
	// binds an entry to one physical device's key pair.
	AttrKeyFingerprint = "keyFingerprint"
	AttrProvisionedAt  = "provisionedAt"
	AttrCertificateID  = "certificateId"
	// AttrImportedAt is when `fleetctl allowlist import` wrote the entry (RFC 3339, UTC).
	AttrImportedAt = "importedAt"
)

// Status values.
const (
	StatusAllowed     = "allowed"
	StatusProvisioned = "provisioned"
)

// fingerprintPattern is the format Fingerprint returns: 64 lowercase hex digits.
var fingerprintPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

// ValidFingerprint reports whether s has the format Fingerprint returns.
func ValidFingerprint(s string) bool { return fingerprintPattern.MatchString(s) }

// Fingerprint is the SHA-256 of the DER-encoded SubjectPublicKeyInfo, in lowercase hex. It is
// the same for a device's CSR, its certificate and its public key, so a manufacturer can
// record it at the factory and the hook can check it against the certificate being
// provisioned.
func Fingerprint(spkiDER []byte) string {
	sum := sha256.Sum256(spkiDER)
	return hex.EncodeToString(sum[:])
}

// CertificateFingerprint returns the Fingerprint of the public key in a PEM certificate.
func CertificateFingerprint(certPEM []byte) (string, error) {
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return "", errors.New("no PEM CERTIFICATE block")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return "", fmt.Errorf("parse certificate: %w", err)
	}
	return Fingerprint(cert.RawSubjectPublicKeyInfo), nil
}
