// Package fleet builds a city's device registry and device identity on AWS IoT from its fleet
// file: thing types, thing groups, the declared things, certificates issued from device CSRs,
// least-privilege device policies (package policies), a quarantine group, Just-in-Time
// Provisioning under the city's CA and fleet provisioning by claim with a Go pre-provisioning
// hook; plus the account's IoT logging (NewLogging) and the devices' TLS-pinned endpoint
// (NewEndpoint). No private key is created in the cloud or written to a template.
//
// # Identity: what AWS IoT authenticated, not a list
//
// At run time the platform knows a device by three facts of its authenticated connection, and
// by nothing else: its thing name, its thing type (its class) and its "district" attribute.
// No function bundles a device list and no IAM statement outside the Fleet stack names a
// thing, so a device provisioned at run time is served exactly like a declared one, and only
// this stack grows when the fleet file declares more things. Why those three facts can be
// trusted:
//
//  1. The device authenticates with an X.509 certificate over mutual TLS ("X.509 client
//     certificates" in the AWS IoT Developer Guide). Its private key never leaves it: the
//     certificate is issued from its CSR (declared things, claim: CreateCertificateFromCsr)
//     or signed by the city CA (JITP).
//  2. The device policy lets it connect only with client id ${iot:Connection.Thing.ThingName}
//     and only while iot:Connection.Thing.IsAttached is true. AWS IoT resolves the thing policy
//     variables only when the client id is the name of a thing attached to the certificate
//     ("Thing policy variables"); otherwise a statement using them matches nothing and the
//     action is denied. So ThingName, ThingTypeName and Attributes[district] in a policy are
//     the registry's facts about the thing bound to that certificate, never what the client
//     says. A certificate is attached to exactly one thing (EXCLUSIVE_THING for declared
//     things; the provisioning templates attach the one thing they create).
//  3. The policy lets it publish telemetry only to its own class's Basic Ingest rule, under its
//     own district and its own name (topics.OwnTelemetry), and subscribe only to its own
//     command, shadow and job topics ("Thing policy examples" shows attributes in resource
//     ARNs). The rule adds its class as a constant and the client id (clientid()), so the
//     processor reads thing, class and district from what the rule and the policy vouch for.
//
// Who writes the thing type and the district attribute, and nothing else does:
//
//   - the Fleet stack, for declared things: AWS::IoT::Thing with the attributes, and the
//     registry's UpdateThing custom resource for the thing type (CloudFormation has no
//     property for it);
//   - the JITP template (JITPTemplate), from the certificate's subject fields, which the city
//     CA signed and the device cannot change ("Just-in-time provisioning");
//   - the claim template (ClaimTemplate), from the pre-provisioning hook's parameter overrides,
//     which come from the allowlist table, not from the device ("Pre-provisioning hooks",
//     "Provisioning templates"). The hook refuses an entry without a class and district in the
//     fleet file's id format, a certificate that does not carry the key whose fingerprint the
//     entry records (device-unique proof: the shared claim key and a serial are not enough),
//     and a thing that already has an active certificate other than the request's (no
//     hijack).
//
// Neither template changes a thing that already exists: type, attributes and groups are
// DO_NOTHING in their override settings, and the provisioning role has no UpdateThing.
//
// Every path writes the same attributes in the same format: district = the fleet file's
// district id ("old_town"), serial = the device serial; the class is the thing type, whose
// name is the class's qualified name (Names.Class, "smartcity_dev_street_light"), also its
// thing group, topic rule and IoT policy. A name that is not a class of this stage provisions
// nothing: the provisioning role may use only this stage's thing types, groups and policies
// (exact ARNs). Registry writes (UpdateThing, AddThingToThingGroup, ...) are control-plane
// APIs that need IAM credentials; device policies grant only data-plane actions and the
// platform gives devices no IAM credentials (no role alias), so no device can change its own
// type, attributes or groups, nor leave the quarantine group.
//
// What a device can forge, and what follows: its MQTT client id (a name other than its
// attached thing's resolves no thing variable: it cannot connect); its topic (the policy
// allows only its own rule, district and name); its payload, including keys named like the
// ones the rule adds (the processor rejects such a payload); the claim template's parameters
// (the hook overrides thing name, class and district, and refuses a thing name that differs
// from the allowlist's). What it cannot forge: its certificate, the thing bound to it, that
// thing's type, attributes and groups, the rule's class constant, clientid() and topic() as
// the rule evaluates them. What the platform trusts beyond AWS: the city CA signs the right
// class and district into a JITP certificate (AWS cannot check an attribute value a JITP
// template takes from the subject: a district the fleet file does not declare gets the
// device's telemetry rejected, a wrong but declared one misfiles that one device and gives it
// no other device's rights), and whoever fills the allowlist (fleetctl validates every row
// against the fleet file).
//
// # Decisions
//
// Group membership: static groups written by a custom resource, not dynamic groups.
// CloudFormation has no resource that puts a thing in a static group, and none that sets a
// thing's type or attaches a policy to a group. Dynamic groups would need fleet indexing,
// an account-wide setting CloudFormation cannot manage (another custom resource, and a cost),
// fill only as the index catches up, cannot be targeted by AddThingToThingGroup (the
// quarantine mitigation needs a static group anyway) and would let a thing attribute, rather
// than the fleet file, decide membership. So every membership, thing type and the quarantine
// policy attachment is one AwsCustomResource (Registry): one shared provider function, its
// own encrypted log group, active tracing, bounded concurrency, and one role whose statements
// name exact ARNs — AddThingToThingGroup/RemoveThingFromThingGroup on the declared things
// and the class and district groups (never the quarantine group), UpdateThing on those things
// and the thing types, AttachPolicy/DetachPolicy on the quarantine policy and group. Each
// custom resource is a deploy-time Lambda invocation; none runs at device time.
//
// Size: each declared thing costs the stack four resources (seven with a CSR:
// fleetspec.ThingResources, CSRResources), and nothing else in any stack grows with it.
// fleetspec refuses a file whose declared things would need more than
// fleetspec.ThingResourceBudget (100 things without CSRs), with one line naming the file, the
// count and the limit; New refuses a fleet that would take the stack past CloudFormation's
// 500. Large fleets declare pilots and CSR devices only and provision the rest by JITP or
// claim, which costs the stack nothing per device.
//
// Names: a class's thing type, thing group and device policy all take its topic rule name
// (Names.Class), so a provisioning template can derive all three from one value and a value
// that is not a class of this stage provisions nothing.
//
// JITP: the city CA is registered in SNI_ONLY mode (CertificateModeJITP says why), with auto
// registration and JITPTemplate as its registration config. A JITP template may use only Ref
// to the certificate's subject fields, so the subject carries the qualified class name (OU),
// the district group (dnQualifier) and the district id (ST) separately; config/README.md
// documents the exact subject.
//
// Claim: one template for every class (ClaimTemplate), since the hook pins the class from the
// allowlist anyway; a template per class would multiply claim certificates and policies
// without narrowing anything. The claim policy reaches only CreateCertificateFromCsr and this
// template's RegisterThing topics.
//
// Endpoint: devices connect to the domain configuration's AWS-managed host name, on port 8883,
// with SNI; the account's default iot:Data-ATS endpoint is not managed by CloudFormation and
// keeps its own TLS policy.
package fleet
