package compliance

// checkSQSTLSOnly: SQS accepts plain-HTTP requests unless the queue policy refuses them.
var checkSQSTLSOnly = Check{
	Name:    "sqs-tls-only",
	Default: "SQS queue policies deny non-TLS requests",
	Run:     sqsTLSOnly,
}

func sqsTLSOnly(t Template) (int, []string) {
	policies := t.Resources("AWS::SQS::QueuePolicy")
	return each(t, "AWS::SQS::Queue", func(r Resource) string {
		for _, p := range policies {
			for _, q := range List(Get(p.Properties, "Queues")) {
				if refersTo(q, r.ID) && denies(Get(p.Properties, "PolicyDocument"), "Bool", "aws:SecureTransport", "false") {
					return ""
				}
			}
		}
		return "no queue policy denies aws:SecureTransport false"
	})
}
