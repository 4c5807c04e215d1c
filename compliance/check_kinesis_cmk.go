package compliance

import "fmt"

// checkKinesisCMK: telemetry at rest under a key the platform controls and audits, not the
// AWS-managed alias/aws/kinesis.
var checkKinesisCMK = Check{
	Name:    "kinesis-cmk",
	Default: "Kinesis streams are encrypted with a customer-managed key",
	Run:     kinesisCMK,
}

func kinesisCMK(t Template) (int, []string) {
	return each(t, "AWS::Kinesis::Stream", func(r Resource) string {
		enc := Get(r.Properties, "StreamEncryption")
		if Get(enc, "EncryptionType") != "KMS" || !isCustomerManagedKey(Get(enc, "KeyId")) {
			return fmt.Sprintf("StreamEncryption %v is not KMS with a customer-managed key", enc)
		}
		return ""
	})
}
