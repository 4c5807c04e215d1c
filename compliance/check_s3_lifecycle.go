package compliance

// checkS3Lifecycle: versioning keeps every overwritten object; without an expiry the old
// versions (and their cost) grow for ever.
var checkS3Lifecycle = Check{
	Name:    "s3-lifecycle",
	Default: "S3 buckets expire noncurrent versions",
	Run:     s3Lifecycle,
}

func s3Lifecycle(t Template) (int, []string) {
	return each(t, "AWS::S3::Bucket", func(r Resource) string {
		for _, rule := range List(Get(r.Properties, "LifecycleConfiguration", "Rules")) {
			if Get(rule, "Status") == "Enabled" && Get(rule, "NoncurrentVersionExpiration", "NoncurrentDays") != nil {
				return ""
			}
		}
		return "no enabled lifecycle rule expires noncurrent versions"
	})
}
