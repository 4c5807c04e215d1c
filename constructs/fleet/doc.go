// Package fleet builds a city's device registry and device identity on AWS IoT from its fleet
// file: thing types, thing groups, things, certificates issued from device CSRs, least-privilege
// device policies (package policies), a quarantine group, Just-in-Time Provisioning under the
// city's CA and fleet provisioning by claim with a Go pre-provisioning hook; plus the account's
// IoT logging (NewLogging) and the devices' TLS-pinned endpoint (NewEndpoint). No private key
// is created in the cloud or written to a template.
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
// name exact ARNs — AddThingToThingGroup/RemoveThingFromThingGroup on the fleet file's things
// and the class and district groups (never the quarantine group), UpdateThing on those things
// and the thing types, AttachPolicy/DetachPolicy on the quarantine policy and group. Each
// custom resource is a deploy-time Lambda invocation; none runs at device time. Each thing in
// the fleet file costs four stack resources (seven with a CSR), so New refuses a file that
// would take the stack past CloudFormation's 500: large fleets list a few things and
// provision the rest by JITP or claim.
//
// Names: a class's thing type, thing group and device policy all take its topic rule name
// (Names.Class), so a provisioning template can derive all three from one value and a value
// that is not a class of this stage provisions nothing.
//
// JITP: the city CA is registered in SNI_ONLY mode (CertificateModeJITP says why), with auto
// registration and JITPTemplate as its registration config. The template uses only Ref to
// certificate subject fields, as JITP documents; the certificate profile is on JITPTemplate.
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
