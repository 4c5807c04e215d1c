package compliance

// checkSNSTLSOnly: SNS accepts plain-HTTP publishing unless the topic policy refuses it.
var checkSNSTLSOnly = Check{
	Name:    "sns-tls-only",
	Default: "SNS topic policies deny non-TLS publishing",
	Run:     snsTLSOnly,
}

func snsTLSOnly(t Template) (int, []string) {
	policies := t.Resources("AWS::SNS::TopicPolicy")
	return each(t, "AWS::SNS::Topic", func(r Resource) string {
		for _, p := range policies {
			for _, topic := range List(Get(p.Properties, "Topics")) {
				if refersTo(topic, r.ID) && denies(Get(p.Properties, "PolicyDocument"), "Bool", "aws:SecureTransport", "false") {
					return ""
				}
			}
		}
		return "no topic policy denies aws:SecureTransport false"
	})
}
