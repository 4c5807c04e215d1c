package compliance

// checkSQSCMK: a customer-managed key puts every receive under the key policy and in
// CloudTrail; SQS-managed SSE does neither.
var checkSQSCMK = Check{
	Name:    "sqs-cmk",
	Default: "SQS queues are encrypted with a customer-managed key",
	Run:     sqsCMK,
}

func sqsCMK(t Template) (int, []string) {
	return each(t, "AWS::SQS::Queue", func(r Resource) string {
		if !isCustomerManagedKey(Get(r.Properties, "KmsMasterKeyId")) {
			return "no customer-managed KmsMasterKeyId"
		}
		return ""
	})
}
