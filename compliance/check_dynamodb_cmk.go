package compliance

import "fmt"

// checkDynamoDBCMK: the AWS-owned default key cannot be audited or restricted; a
// customer-managed key puts every read under the key policy and in CloudTrail.
var checkDynamoDBCMK = Check{
	Name:    "dynamodb-cmk",
	Default: "DynamoDB tables are encrypted with a customer-managed key",
	Run:     dynamoCMK,
}

func dynamoCMK(t Template) (int, []string) {
	return each(t, "AWS::DynamoDB::Table", func(r Resource) string {
		sse := Get(r.Properties, "SSESpecification")
		if Get(sse, "SSEEnabled") != true || Get(sse, "SSEType") != "KMS" || !isCustomerManagedKey(Get(sse, "KMSMasterKeyId")) {
			return fmt.Sprintf("SSESpecification %v is not KMS with a customer-managed key", sse)
		}
		return ""
	})
}
