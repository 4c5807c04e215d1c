package policies

import (
	"github.com/secure-smart-city/platform/fleetspec"
	"github.com/secure-smart-city/platform/topics"
)

// attached is the condition under which thing policy variables name the connecting device:
// the client id is the name of a thing attached to the certificate.
func attached() Conditions {
	return Conditions{"Bool": {IsAttachedKey: {"true"}}}
}

// Device is the policy of every device of a class, attached to each device certificate. A
// device connects only as its own thing (client id = thing name, IsAttached), publishes only
// its own telemetry, shadow update and get requests and job topics (never shadow/delete,
// which would erase the desired state operators set), and subscribes to and receives only its
// own command (when the class has commands), shadow and job topics. Only Connect carries the
// IsAttached condition: every later action happens on a connection that passed it, and
// repeating it would cost 165 of the 2048 characters IoT allows a policy.
//
// Its telemetry topic is topics.OwnTelemetry: the rule named by the thing's registered thing
// type, under its registered district attribute and its own name, all three from the
// registry at connection time (see the package documentation for why). It names no telemetry
// rule: the rule is also the thing type every provisioning path gives the class's things, and
// the document reaches it through ${iot:Connection.Thing.ThingTypeName} rather than by name,
// so a thing whose registered type is another class's reaches that class's rule only, and one
// with no type reaches none.
func Device(class fleetspec.DeviceClass) Document {
	thing := topics.ThingNameVariable
	shadow := topics.ShadowPrefix(thing) + "*"
	jobs := topics.JobsPrefix(thing) + "*"

	var filters, receive []Resource
	if len(class.Commands) > 0 {
		filters = append(filters, TopicFilter(topics.Command(thing)))
		receive = append(receive, Topic(topics.Command(thing)))
	}
	filters = append(filters, TopicFilter(shadow), TopicFilter(jobs))
	receive = append(receive, Topic(shadow), Topic(jobs))

	return Document{
		Version: Version,
		Statements: []Statement{
			{
				Sid: "ConnectAsOwnThing", Effect: Allow, Actions: []string{ActionConnect},
				Resources:  []Resource{Client(thing)},
				Conditions: attached(),
			},
			{
				Sid: "PublishOwnTopics", Effect: Allow, Actions: []string{ActionPublish},
				Resources: []Resource{
					Topic(topics.OwnTelemetry),
					Topic(topics.ShadowUpdate(thing)),
					Topic(topics.ShadowGet(thing)),
					Topic(jobs),
				},
			},
			{Sid: "SubscribeOwnTopics", Effect: Allow, Actions: []string{ActionSubscribe}, Resources: filters},
			{Sid: "ReceiveOwnTopics", Effect: Allow, Actions: []string{ActionReceive}, Resources: receive},
		},
	}
}

// Quarantine denies every IoT action on every resource. Attached to the quarantine thing
// group, it overrides whatever the device certificate's own policy allows (an explicit Deny
// beats any Allow).
func Quarantine() Document {
	return Document{
		Version: Version,
		Statements: []Statement{{
			Sid: "DenyAll", Effect: Deny, Actions: []string{ActionAll}, Resources: []Resource{AnyResource},
		}},
	}
}

// Claim is the policy of the shared fleet provisioning claim certificate for a provisioning
// template. The AWS example allows iot:Connect on "*"; a claim certificate has no attached
// thing, so client/${iot:Connection.Thing.ThingName} never resolves and IsAttached is never
// true. Instead claim connections are confined to client ids starting with
// topics.ClaimClientPrefix ("claim."), which no thing name can have, so a leaked claim
// certificate cannot take over a device's session. The device may only call
// CreateCertificateFromCsr (its private key stays on the device) and RegisterThing on this
// one template, and hear the answers, which AWS IoT sends only on the requesting connection.
func Claim(templateName string) Document {
	requests := []string{topics.CreateCertificateFromCSR, topics.Provision(templateName)}
	var publish, filters, receive []Resource
	for _, r := range requests {
		publish = append(publish, Topic(r))
		for _, resp := range []string{topics.Accepted(r), topics.Rejected(r)} {
			filters = append(filters, TopicFilter(resp))
			receive = append(receive, Topic(resp))
		}
	}
	return Document{
		Version: Version,
		Statements: []Statement{
			{
				Sid: "ConnectInClaimNamespace", Effect: Allow, Actions: []string{ActionConnect},
				Resources: []Resource{Client(topics.ClaimClientPrefix + "*")},
			},
			{Sid: "PublishProvisioningRequests", Effect: Allow, Actions: []string{ActionPublish}, Resources: publish},
			{Sid: "SubscribeProvisioningResponses", Effect: Allow, Actions: []string{ActionSubscribe}, Resources: filters},
			{Sid: "ReceiveProvisioningResponses", Effect: Allow, Actions: []string{ActionReceive}, Resources: receive},
		},
	}
}
