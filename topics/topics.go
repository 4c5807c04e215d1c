// Package topics names the MQTT topics and topic rules that devices, IoT policies, topic rules,
// processors and the simulator must agree on. Every name is derived here and nowhere else.
package topics

import "strings"

// Thing policy variables (AWS IoT developer guide, "Thing policy variables"). They resolve
// only when the client id is the name of a thing attached to the connecting certificate;
// otherwise a resource naming them matches nothing and access is denied.
const (
	// ThingNameVariable resolves to the connected thing's name.
	ThingNameVariable = "${iot:Connection.Thing.ThingName}"
	// ThingTypeVariable resolves to the connected thing's thing type, which is the qualified
	// name of its device class (the same string names its topic rule).
	ThingTypeVariable = "${iot:Connection.Thing.ThingTypeName}"
	// DistrictVariable resolves to the connected thing's district attribute.
	DistrictVariable = "${iot:Connection.Thing.Attributes[" + DistrictAttribute + "]}"
)

// DistrictAttribute is the thing attribute that holds a device's district, as the fleet
// file's district id (for example "old_town"). Every provisioning path (declared things, JITP,
// claim) sets it in this one format.
const DistrictAttribute = "district"

// RuleName is the topic rule that ingests one device class's telemetry, for example
// RuleName("smartcity_dev", "street_light") == "smartcity_dev_street_light". Rule names allow
// only letters, digits and underscores; callers validate their parts (fleetspec does).
func RuleName(prefix, class string) string {
	return prefix + "_" + class
}

// TelemetrySuffix is the part of a telemetry topic after the Basic Ingest prefix, as the
// topic rule sees it: "districts/<district>/things/<thing>/telemetry". The device policy
// binds both levels to the authenticated thing (its district attribute and its name), so the
// processor can read a device's district and name from the topic alone.
func TelemetrySuffix(district, thing string) string {
	return "districts/" + district + "/things/" + thing + "/telemetry"
}

// Telemetry is the Basic Ingest topic a device publishes telemetry to:
// "$aws/rules/<rule>/districts/<district>/things/<thing>/telemetry". Basic Ingest sends the
// message straight to the rule, with no messaging charge, and no device can subscribe to it.
func Telemetry(rule, district, thing string) string {
	return "$aws/rules/" + rule + "/" + TelemetrySuffix(district, thing)
}

// OwnTelemetry is the telemetry topic of whichever device connects, in IoT policy variables:
// the rule of its thing type, its district attribute and its thing name.
const OwnTelemetry = "$aws/rules/" + ThingTypeVariable + "/districts/" + DistrictVariable + "/things/" + ThingNameVariable + "/telemetry"

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

// TelemetryOrigin returns the district and thing name in a telemetry topic, with or without
// the Basic Ingest prefix ("$aws/rules/<rule>/"), and false when the topic is not a telemetry
// topic. It does not allocate: the results are substrings of topic.
func TelemetryOrigin(topic string) (district, thing string, ok bool) {
	if rest, found := strings.CutPrefix(topic, "$aws/rules/"); found {
		i := strings.IndexByte(rest, '/')
		if i < 0 {
			return "", "", false
		}
		topic = rest[i+1:]
	}
	rest, found := strings.CutPrefix(topic, "districts/")
	if !found {
		return "", "", false
	}
	district, rest, found = strings.Cut(rest, "/")
	if !found || district == "" {
		return "", "", false
	}
	rest, found = strings.CutPrefix(rest, "things/")
	if !found {
		return "", "", false
	}
	thing, found = strings.CutSuffix(rest, "/telemetry")
	if !found || thing == "" || strings.IndexByte(thing, '/') >= 0 {
		return "", "", false
	}
	return district, thing, true
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
