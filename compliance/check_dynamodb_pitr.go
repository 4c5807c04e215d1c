package compliance

// checkDynamoDBPITR: point-in-time recovery undoes a bad write or delete of the last 35 days.
var checkDynamoDBPITR = Check{
	Name:    "dynamodb-pitr",
	Default: "DynamoDB tables have point-in-time recovery",
	Run:     dynamoPITR,
}

func dynamoPITR(t Template) (int, []string) {
	return each(t, "AWS::DynamoDB::Table", func(r Resource) string {
		if Get(r.Properties, "PointInTimeRecoverySpecification", "PointInTimeRecoveryEnabled") != true {
			return "point-in-time recovery off"
		}
		return ""
	})
}
