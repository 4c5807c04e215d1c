package compliance

import "fmt"

// checkS3Encryption: a customer-managed key puts reads under the key policy as well as the
// bucket policy, and a bucket key keeps the KMS request rate (and cost) low. S3 server access
// log delivery cannot write to an SSE-KMS bucket, so access-log targets use SSE-S3.
var checkS3Encryption = Check{
	Name:    "s3-encryption",
	Default: "S3 uses SSE-KMS with a customer-managed key and a bucket key (access-log targets: SSE-S3)",
	Run:     s3Encryption,
}

func s3Encryption(t Template) (int, []string) {
	targets := logTargets(t)
	return each(t, "AWS::S3::Bucket", func(r Resource) string {
		rule := Get(r.Properties, "BucketEncryption", "ServerSideEncryptionConfiguration", 0)
		alg := Get(rule, "ServerSideEncryptionByDefault", "SSEAlgorithm")
		if targets[r.ID] {
			if alg != "AES256" {
				return fmt.Sprintf("access-log target encryption %v, want AES256 (S3 log delivery needs SSE-S3)", alg)
			}
			return ""
		}
		if alg != "aws:kms" {
			return fmt.Sprintf("SSEAlgorithm %v, want aws:kms", alg)
		}
		if !isCustomerManagedKey(Get(rule, "ServerSideEncryptionByDefault", "KMSMasterKeyID")) {
			return "no customer-managed KMSMasterKeyID"
		}
		if Get(rule, "BucketKeyEnabled") != true {
			return "BucketKeyEnabled is not true"
		}
		return ""
	})
}
