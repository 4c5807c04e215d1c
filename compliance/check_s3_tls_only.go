package compliance

// checkS3TLSOnly: S3 still accepts plain HTTP and TLS 1.0 unless the bucket policy refuses
// them.
var checkS3TLSOnly = Check{
	Name:    "s3-tls-only",
	Default: "S3 bucket policies deny non-TLS requests and TLS below 1.2",
	Run:     s3TLSOnly,
}

func s3TLSOnly(t Template) (int, []string) {
	policies := t.Resources("AWS::S3::BucketPolicy")
	return each(t, "AWS::S3::Bucket", func(r Resource) string {
		for _, p := range policies {
			if !refersTo(Get(p.Properties, "Bucket"), r.ID) {
				continue
			}
			doc := Get(p.Properties, "PolicyDocument")
			if !denies(doc, "Bool", "aws:SecureTransport", "false") {
				return "bucket policy does not deny aws:SecureTransport false"
			}
			if !denies(doc, "NumericLessThan", "s3:TlsVersion", "1.2") {
				return "bucket policy does not deny s3:TlsVersion below 1.2"
			}
			return ""
		}
		return "no bucket policy"
	})
}
