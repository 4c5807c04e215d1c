// Package topics names the MQTT topics and topic rules that devices, IoT policies, topic rules,
// processors and the simulator must agree on. Every name is derived here and nowhere else.
package topics

import "strings"

// ThingNameVariable is the IoT policy variable that resolves to the connected thing's name.
// It resolves only when the client id is the name of a thing attached to the certificate.
const ThingNameVariable = "${iot:Connection.Thing.ThingName}"

// RuleName is the topic rule that ingests one device class's telemetry, for example
// RuleName("smartcity_dev", "street_light") == "smartcity_dev_street_light". Rule names allow
// only letters, digits and underscores; callers validate their parts (fleetspec does).
func RuleName(prefix, class string) string {
	return prefix + "_" + class
}

// TelemetrySuffix is the part of a telemetry topic after the Basic Ingest prefix, as the
// topic rule sees it: "things/<thing>/telemetry".
func TelemetrySuffix(thing string) string {
	return "things/" + thing + "/telemetry"
}

// Telemetry is the Basic Ingest topic a device publishes telemetry to:
// "$aws/rules/<rule>/things/<thing>/telemetry". Basic Ingest sends the message straight to the
// rule, with no messaging charge, and no device can subscribe to it.
func Telemetry(rule, thing string) string {
	return "$aws/rules/" + rule + "/" + TelemetrySuffix(thing)
}

// Command is the topic a device subscribes to for operator commands:
// "city/things/<thing>/commands".
func Command(thing string) string {
	return "city/things/" + thing + "/commands"
}

// CommandFilter is the topic filter that matches every device's command topic, for IAM
// resources of the command processor ("city/things/*/commands" in IAM, which is not MQTT).
const CommandFilter = "city/things/*/commands"

// ShadowPrefix is the prefix of a thing's classic shadow topics: "$aws/things/<thing>/shadow/".
func ShadowPrefix(thing string) string {
	return "$aws/things/" + thing + "/shadow/"
}

// ShadowUpdate is the topic a device publishes its reported state to:
// "$aws/things/<thing>/shadow/update".
func ShadowUpdate(thing string) string {
	return ShadowPrefix(thing) + "update"
}

// ShadowDelta is the topic on which the shadow service tells a device the difference between
// desired and reported state: "$aws/things/<thing>/shadow/update/delta".
func ShadowDelta(thing string) string {
	return ShadowUpdate(thing) + "/delta"
}

// JobsPrefix is the prefix of a thing's job topics: "$aws/things/<thing>/jobs/".
func JobsPrefix(thing string) string {
	return "$aws/things/" + thing + "/jobs/"
}

// ThingFromTelemetry returns the thing name in a telemetry topic, with or without the Basic
// Ingest prefix, and false when the topic is not a telemetry topic.
func ThingFromTelemetry(topic string) (string, bool) {
	if strings.HasPrefix(topic, "$aws/rules/") {
		rest := strings.TrimPrefix(topic, "$aws/rules/")
		i := strings.IndexByte(rest, '/')
		if i < 0 {
			return "", false
		}
		topic = rest[i+1:]
	}
	parts := strings.Split(topic, "/")
	if len(parts) != 3 || parts[0] != "things" || parts[2] != "telemetry" || parts[1] == "" {
		return "", false
	}
	return parts[1], true
}

// ShadowGet is the classic shadow get request topic: "$aws/things/<thing>/shadow/get". AWS
// IoT answers on the request topic plus "/accepted" or "/rejected" (see Accepted).
func ShadowGet(thing string) string { return ShadowPrefix(thing) + "get" }

// ShadowDelete is the classic shadow delete request topic: "$aws/things/<thing>/shadow/delete".
func ShadowDelete(thing string) string { return ShadowPrefix(thing) + "delete" }

// CreateCertificateFromCSR is the fleet provisioning request topic (JSON payloads) that
// signs a certificate signing request made on the device, so the private key never leaves
// it. The platform does not use CreateKeysAndCertificate ($aws/certificates/create/...),
// which makes the private key in the cloud.
const CreateCertificateFromCSR = "$aws/certificates/create-from-csr/json"

// Provision is the fleet provisioning RegisterThing request topic of a provisioning
// template (JSON payloads): "$aws/provisioning-templates/<template>/provision/json".
func Provision(template string) string {
	return "$aws/provisioning-templates/" + template + "/provision/json"
}

// Accepted is the response topic on which AWS IoT accepts a request published to request.
func Accepted(request string) string { return request + "/accepted" }

// Rejected is the response topic on which AWS IoT rejects a request published to request.
func Rejected(request string) string { return request + "/rejected" }

// ClaimClientPrefix starts the MQTT client id of a device that connects with the shared
// fleet provisioning claim certificate. The "." cannot occur in a thing name
// ([a-zA-Z0-9:_-]), so a claim connection can never take over a provisioned device's client
// id, which is the thing name.
const ClaimClientPrefix = "claim."

// ClaimClientID is the client id a device uses while it provisions itself by claim, for
// example ClaimClientID("SN-0042") == "claim.SN-0042". The serial keeps concurrent claim
// connections apart (AWS IoT disconnects an older session with the same client id).
func ClaimClientID(serial string) string { return ClaimClientPrefix + serial }
