package compliance

// checkLambdaAsyncFailureDestination: Lambda retries an asynchronous event twice and then
// drops it; an on-failure destination keeps it for inspection and replay.
var checkLambdaAsyncFailureDestination = Check{
	Name:    "lambda-async-failure-destination",
	Default: "every asynchronously invoked function has an on-failure destination",
	Run:     lambdaAsyncFailureDestination,
}

// asyncInvokers invoke Lambda asynchronously: IoT topic rules, SNS, EventBridge, S3.
var asyncInvokers = map[string]bool{
	"iot.amazonaws.com": true, "sns.amazonaws.com": true, "events.amazonaws.com": true, "s3.amazonaws.com": true,
}

func lambdaAsyncFailureDestination(t Template) (int, []string) {
	configs := t.Resources("AWS::Lambda::EventInvokeConfig")
	async := map[string]bool{}
	for _, p := range t.Resources("AWS::Lambda::Permission") {
		// A provisioning template invokes its pre-provisioning hook synchronously.
		if mentions(Get(p.Properties, "SourceArn"), ":provisioningtemplate/") {
			continue
		}
		if principal, _ := Get(p.Properties, "Principal").(string); asyncInvokers[principal] {
			if id, ok := Get(p.Properties, "FunctionName", "Fn::GetAtt", 0).(string); ok {
				async[id] = true
			}
		}
	}
	n := 0
	var out []string
	for _, f := range t.Resources("AWS::Lambda::Function") {
		if !async[f.ID] {
			continue
		}
		n++
		ok := false
		for _, c := range configs {
			if refersTo(Get(c.Properties, "FunctionName"), f.ID) && Get(c.Properties, "DestinationConfig", "OnFailure", "Destination") != nil {
				ok = true
			}
		}
		if !ok {
			out = append(out, f.ID+": invoked asynchronously with no on-failure destination")
		}
	}
	return n, out
}
