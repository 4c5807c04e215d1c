package compliance

import "fmt"

// checkAPIMethodsAuthorized: every REST API method requires IAM (SigV4) authorization. An
// OPTIONS method passes only as a MOCK integration (a CORS preflight, which never reaches a
// backend).
var checkAPIMethodsAuthorized = Check{
	Name:    "api-methods-authorized",
	Default: "every API Gateway method requires IAM (SigV4) authorization; only an OPTIONS mock (CORS preflight) may not",
	Run:     apiMethodsAuthorized,
}

func apiMethodsAuthorized(t Template) (int, []string) {
	return each(t, "AWS::ApiGateway::Method", func(r Resource) string {
		if Get(r.Properties, "HttpMethod") == "OPTIONS" && Get(r.Properties, "Integration", "Type") == "MOCK" {
			return ""
		}
		if a := Get(r.Properties, "AuthorizationType"); a != "AWS_IAM" {
			return fmt.Sprintf("%v method has AuthorizationType %v, want AWS_IAM", Get(r.Properties, "HttpMethod"), a)
		}
		return ""
	})
}
