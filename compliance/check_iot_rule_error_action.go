package compliance

// checkIoTRuleErrorAction: a topic rule whose action fails drops the message silently unless
// an error action keeps it.
var checkIoTRuleErrorAction = Check{
	Name:    "iot-rule-error-action",
	Default: "every topic rule has an error action",
	Run:     iotRuleErrorAction,
}

func iotRuleErrorAction(t Template) (int, []string) {
	return each(t, "AWS::IoT::TopicRule", func(r Resource) string {
		if ea, _ := Get(r.Properties, "TopicRulePayload", "ErrorAction").(map[string]any); len(ea) == 0 {
			return "no error action"
		}
		return ""
	})
}
