package compliance

import "github.com/secure-smart-city/platform/policies"

// checkIoTPolicyRules runs the policies package's rule pack over the policies as synthesized:
// the aspect reads constructs and so misses escape-hatch overrides, this does not.
var checkIoTPolicyRules = Check{
	Name:    "iot-policy-rules",
	Default: "IoT policies pass the platform's policy rules (Device Defender's criteria and more) as deployed, overrides included",
	Run:     iotPolicyRules,
}

func iotPolicyRules(t Template) (int, []string) {
	return len(t.Resources("AWS::IoT::Policy")), policies.CheckTemplate(t)
}
