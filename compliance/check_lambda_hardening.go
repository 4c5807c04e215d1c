package compliance

import "strings"

// checkLambdaHardening: traces and structured logs make an incident readable; reserved
// concurrency keeps one flooded function from starving the others; the environment may hold
// names an attacker can use, so it is encrypted under the platform's key.
var checkLambdaHardening = Check{
	Name:    "lambda-hardening",
	Default: "Go functions: active tracing, JSON logs, bounded concurrency, KMS-encrypted environment",
	Run:     lambdaHardening,
}

// UnreservedConcurrencyMetadata is the metadata key the app sets on a function it left without
// reserved concurrency because the account's concurrency budget could not hold it.
const UnreservedConcurrencyMetadata = "smartcity:unreservedConcurrency"

func lambdaHardening(t Template) (int, []string) {
	return each(t, "AWS::Lambda::Function", func(r Resource) string {
		var bad []string
		if Get(r.Properties, "TracingConfig", "Mode") != "Active" {
			bad = append(bad, "tracing not Active")
		}
		if Get(r.Properties, "LoggingConfig", "LogFormat") != "JSON" {
			bad = append(bad, "logs not JSON")
		}
		// Unreserved only where the app's concurrency budget (lambdaConcurrencyBudget) could not
		// fit the reservations, which it records on the function and warns about at synth.
		if Get(r.Properties, "ReservedConcurrentExecutions") == nil && Get(r.Raw, "Metadata", UnreservedConcurrencyMetadata) == nil {
			bad = append(bad, "no reserved concurrency")
		}
		if Get(r.Properties, "Environment") != nil && !isCustomerManagedKey(Get(r.Properties, "KmsKeyArn")) {
			bad = append(bad, "environment not encrypted with a customer-managed key")
		}
		if Get(r.Properties, "LoggingConfig", "LogGroup") == nil {
			bad = append(bad, "no dedicated (encrypted, retained) log group")
		}
		return strings.Join(bad, "; ")
	})
}
