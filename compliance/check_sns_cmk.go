package compliance

// checkSNSCMK: the AWS-managed alias/aws/sns key cannot be granted to CloudWatch or other
// services, and its policy cannot be restricted.
var checkSNSCMK = Check{
	Name:    "sns-cmk",
	Default: "SNS topics are encrypted with a customer-managed key",
	Run:     snsCMK,
}

func snsCMK(t Template) (int, []string) {
	return each(t, "AWS::SNS::Topic", func(r Resource) string {
		if !isCustomerManagedKey(Get(r.Properties, "KmsMasterKeyId")) {
			return "no customer-managed KmsMasterKeyId"
		}
		return ""
	})
}
