package compliance

// checkS3AccessLogs: server access logs record who read or wrote what, which CloudTrail's
// default management events do not. The log buckets themselves are exempt: logging a log
// bucket into itself would loop.
var checkS3AccessLogs = Check{
	Name:    "s3-access-logs",
	Default: "S3 data buckets write server access logs",
	Run:     s3AccessLogs,
}

func s3AccessLogs(t Template) (int, []string) {
	targets := logTargets(t)
	return each(t, "AWS::S3::Bucket", func(r Resource) string {
		if targets[r.ID] {
			return ""
		}
		if Get(r.Properties, "LoggingConfiguration", "DestinationBucketName") == nil {
			return "no server access logs"
		}
		return ""
	})
}
