package compliance

// checkS3Versioning: an overwrite or delete, by mistake or by a compromised writer, keeps
// the previous version recoverable.
var checkS3Versioning = Check{
	Name:    "s3-versioning",
	Default: "S3 buckets are versioned",
	Run:     s3Versioning,
}

func s3Versioning(t Template) (int, []string) {
	return each(t, "AWS::S3::Bucket", func(r Resource) string {
		if Get(r.Properties, "VersioningConfiguration", "Status") != "Enabled" {
			return "versioning not enabled"
		}
		return ""
	})
}
