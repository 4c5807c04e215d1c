// Package document is the contract between the release command (cmd/ota) and devices
// (cmd/devicesim): the firmware job document, the status details a device reports and the
// reason codes of a refused update. Both sides import it, so neither can drift.
package document

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Operation marks a firmware job document; a device ignores jobs with any other operation.
const Operation = "smartcity-firmware-update"

// SignatureAlgorithm is the only algorithm a device accepts: ECDSA over P-256 with SHA-256,
// the algorithm of the AWSIoTDeviceManagement-SHA256-ECDSA signing platform, spelled as AWS IoT
// Jobs writes it when it substitutes a code-signing placeholder.
const SignatureAlgorithm = "SHA256withECDSA"

// Document is a firmware job document. AWS IoT Jobs replaces the two placeholders before a
// device sees it: Image.URL by a presigned S3 URL (PresignedURLPlaceholder) and Signature by
// the signing job's signature object (SignaturePlaceholder).
type Document struct {
	Operation string `json:"operation"`
	// Class is the device class the image is built for; a device of another class refuses it.
	Class string `json:"class"`
	// Version is the image's semantic version; a device refuses one not above its own.
	Version string `json:"version"`
	// Size is the image's length in bytes and SHA256 its hex digest: a download of another
	// length is abandoned before it is read to the end.
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	Image  Image  `json:"image"`
	// Signature is a JSON string (the placeholder) in the document operators create and an
	// object (Signature) in the document devices receive.
	Signature json.RawMessage `json:"signature"`
}

// Image says where the image is.
type Image struct {
	URL string `json:"url"`
}

// Signature is what AWS IoT Jobs puts in place of a code-signing placeholder. The field
// names follow the substituted document shown in aws/aws-iot-device-sdk-js issue 298 (AWS does
// not document the shape beyond it); the device reads only Signature and SignatureAlgorithm.
type Signature struct {
	Signature          string `json:"signature"`
	SignatureAlgorithm string `json:"signatureAlgorithm"`
	RawPayloadSize     int64  `json:"rawPayloadSize,omitempty"`
}

// PresignedURLPlaceholder is the AWS IoT Jobs placeholder for a presigned S3 URL of
// bucket/key, made with the job's presigned-URL role when a device fetches the document.
func PresignedURLPlaceholder(bucket, key string) string {
	return "${aws:iot:s3-presigned-url:https://s3.amazonaws.com/" + bucket + "/" + key + "}"
}

// SignaturePlaceholder is the AWS IoT Jobs placeholder for the code signature of a signed
// object (region-qualified bucket, key and object version).
func SignaturePlaceholder(region, bucket, key, version string) string {
	return "${aws:iot:code-sign-signature:s3://" + region + "." + bucket + "/" + key + "@" + version + "}"
}

// Reason codes a device reports in statusDetails.reason when it refuses or fails an update.
const (
	ReasonBadDocument      = "BAD_DOCUMENT"
	ReasonWrongClass       = "WRONG_CLASS"
	ReasonDowngrade        = "DOWNGRADE_REFUSED"
	ReasonDownloadFailed   = "DOWNLOAD_FAILED"
	ReasonTimeout          = "TIMEOUT"
	ReasonDigestMismatch   = "DIGEST_MISMATCH"
	ReasonUnsigned         = "UNSIGNED"
	ReasonSignatureInvalid = "SIGNATURE_INVALID"
)

// Status detail keys (AWS IoT allows [a-zA-Z0-9:_-]+ keys).
const (
	DetailReason   = "reason"
	DetailMessage  = "message"
	DetailVersion  = "firmwareVersion"
	DetailProgress = "progress"
)

var (
	semverRe = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$`)
	hexRe    = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// Version is a parsed semantic version (semver.org 2.0.0).
type Version struct {
	Major, Minor, Patch int
	Pre                 []string
	raw                 string
}

func (v Version) String() string { return v.raw }

// ParseVersion parses a semantic version such as "1.4.0" or "2.0.0-rc.1".
func ParseVersion(s string) (Version, error) {
	m := semverRe.FindStringSubmatch(s)
	if m == nil {
		return Version{}, fmt.Errorf("version %q is not a semantic version (MAJOR.MINOR.PATCH, for example 1.4.0)", s)
	}
	num := func(x string) (int, error) {
		n, err := strconv.Atoi(x)
		if err != nil {
			return 0, fmt.Errorf("version %q: %w", s, err)
		}
		return n, nil
	}
	v := Version{raw: s}
	var err error
	if v.Major, err = num(m[1]); err != nil {
		return Version{}, err
	}
	if v.Minor, err = num(m[2]); err != nil {
		return Version{}, err
	}
	if v.Patch, err = num(m[3]); err != nil {
		return Version{}, err
	}
	if m[4] != "" {
		v.Pre = strings.Split(m[4], ".")
	}
	return v, nil
}

// Compare returns -1, 0 or +1 as v is below, equal to or above w, by semver precedence
// (build metadata ignored, a pre-release below its release).
func (v Version) Compare(w Version) int {
	for _, d := range [][2]int{{v.Major, w.Major}, {v.Minor, w.Minor}, {v.Patch, w.Patch}} {
		if d[0] != d[1] {
			return cmpInt(d[0], d[1])
		}
	}
	switch {
	case len(v.Pre) == 0 && len(w.Pre) == 0:
		return 0
	case len(v.Pre) == 0:
		return 1
	case len(w.Pre) == 0:
		return -1
	}
	for i := 0; i < len(v.Pre) && i < len(w.Pre); i++ {
		a, b := v.Pre[i], w.Pre[i]
		an, aerr := strconv.Atoi(a)
		bn, berr := strconv.Atoi(b)
		switch {
		case aerr == nil && berr == nil:
			if an != bn {
				return cmpInt(an, bn)
			}
		case aerr == nil:
			return -1
		case berr == nil:
			return 1
		case a != b:
			return strings.Compare(a, b)
		}
	}
	return cmpInt(len(v.Pre), len(w.Pre))
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Parse decodes a received job document and checks its shape; it does not trust any field.
func Parse(b []byte) (Document, error) {
	var d Document
	if err := json.Unmarshal(b, &d); err != nil {
		return Document{}, fmt.Errorf("job document: %w", err)
	}
	var errs []error
	if d.Operation != Operation {
		errs = append(errs, fmt.Errorf("operation %q is not %q", d.Operation, Operation))
	}
	if d.Class == "" {
		errs = append(errs, errors.New("class is missing"))
	}
	if _, err := ParseVersion(d.Version); err != nil {
		errs = append(errs, err)
	}
	if d.Size <= 0 {
		errs = append(errs, fmt.Errorf("size %d must be positive", d.Size))
	}
	if !hexRe.MatchString(d.SHA256) {
		errs = append(errs, fmt.Errorf("sha256 %q is not 64 lowercase hex digits", d.SHA256))
	}
	if !strings.HasPrefix(d.Image.URL, "https://") {
		errs = append(errs, fmt.Errorf("image url %q is not https", d.Image.URL))
	}
	if err := errors.Join(errs...); err != nil {
		return Document{}, fmt.Errorf("job document: %w", err)
	}
	return d, nil
}

// ReceivedSignature returns the signature object of a received document, or an error when the
// document carries none (still a placeholder string, null or absent).
func (d Document) ReceivedSignature() (Signature, error) {
	var s Signature
	if len(d.Signature) == 0 || string(d.Signature) == "null" {
		return s, errors.New("the document carries no signature")
	}
	if err := json.Unmarshal(d.Signature, &s); err != nil {
		return s, fmt.Errorf("the document's signature is not a signature object: %w", err)
	}
	if s.Signature == "" {
		return s, errors.New("the document's signature object is empty")
	}
	if s.SignatureAlgorithm != SignatureAlgorithm {
		return s, fmt.Errorf("signature algorithm %q is not %q", s.SignatureAlgorithm, SignatureAlgorithm)
	}
	return s, nil
}
