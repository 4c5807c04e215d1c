package compliance

// checkLogsCMKRetention: logs carry device ids and request details, so they are encrypted
// under a key the platform controls; without a retention they are kept (and paid for) for ever.
var checkLogsCMKRetention = Check{
	Name:    "logs-cmk-retention",
	Default: "CloudWatch log groups are encrypted with a customer-managed key and have a retention",
	Run:     logsCMKRetention,
}

func logsCMKRetention(t Template) (int, []string) {
	return each(t, "AWS::Logs::LogGroup", func(r Resource) string {
		if !isCustomerManagedKey(Get(r.Properties, "KmsKeyId")) {
			return "no customer-managed KmsKeyId"
		}
		if Get(r.Properties, "RetentionInDays") == nil {
			return "no RetentionInDays"
		}
		return ""
	})
}
