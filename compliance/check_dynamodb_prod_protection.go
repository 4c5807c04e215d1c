package compliance

import "fmt"

// checkDynamoDBProdProtection: in prod neither a console click nor a stack deletion may drop
// a table. Dev tables may go with their stack, so the check is prod only.
var checkDynamoDBProdProtection = Check{
	Name:     "dynamodb-prod-protection",
	Default:  "prod DynamoDB tables have deletion protection and are retained",
	ProdOnly: true,
	Run:      dynamoProdProtection,
}

func dynamoProdProtection(t Template) (int, []string) {
	return each(t, "AWS::DynamoDB::Table", func(r Resource) string {
		if Get(r.Properties, "DeletionProtectionEnabled") != true {
			return "deletion protection off"
		}
		if r.Attr("DeletionPolicy") != "Retain" {
			return fmt.Sprintf("DeletionPolicy %q, want Retain", r.Attr("DeletionPolicy"))
		}
		return ""
	})
}
