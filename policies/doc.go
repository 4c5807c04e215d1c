// Package policies holds the platform's AWS IoT policies as typed Go documents (Device,
// Claim, Quarantine) and the synth-time checks that keep every IoT policy in the app least
// privilege: cdk-nag-style rules, one pure function per file, run by the Checker aspect.
//
// Rules (ids are stable; a finding reads "[<id>] <message>: <statement JSON>"):
//
//	IoTPolicy-OverlyPermissiveClient
//	    Allow iot:Connect on client/*, a client wildcard or "*", or on any client id without
//	    Bool iot:Connection.Thing.IsAttached "true". Exempt: a wildcard whose literal prefix
//	    holds a character no thing name has (the claim namespace client/claim.*).
//	    Mirrors IOT_POLICY_OVERLY_PERMISSIVE_CHECK (client/*; client/${iot:ClientId} without
//	    IsAttached).
//	IoTPolicy-OverlyPermissiveThingTopic
//	    Allow Publish/RetainPublish on topic/, or Subscribe on topicfilter/, reaching
//	    $aws/things/<X>/... of more than one thing (topic/$aws/things/*,
//	    topicfilter/$aws/things/+/shadow/update, "*"). iot:Receive alone is compliant.
//	    Mirrors IOT_POLICY_OVERLY_PERMISSIVE_CHECK (topic(filter)/$aws/things/*).
//	IoTPolicy-OverlyPermissiveThing
//	    Allow shadow or job actions (DeleteThingShadow, GetThingShadow, UpdateThingShadow,
//	    DescribeJobExecution, GetPendingJobExecutions, StartNextPendingJobExecution,
//	    UpdateJobExecution) on thing/*, a thing wildcard or "*".
//	    Mirrors IOT_POLICY_OVERLY_PERMISSIVE_CHECK (thing/*).
//	IoTPolicy-DenyMqttWildcard
//	    "+" or "#" in a Deny statement's topic or topic filter resource: literal in policies,
//	    so the Deny does not deny what it appears to.
//	    Mirrors IOT_POLICY_POTENTIAL_MISCONFIGURATION_CHECK.
//	IoTPolicy-WildcardAction
//	    "*" or "?" in an Allow action: "*", "iot:*" and partial wildcards such as
//	    "iot:Publish*" (they span unrelated actions, now or when AWS adds some). Deny iot:*
//	    is fine. Mirrors cfn_nag W38 and cfn-guard IOT_POLICY_WILDCARD_ACTION_RULE.
//	IoTPolicy-WildcardResource
//	    Allow on a data-plane action (Connect, Publish, Receive, RetainPublish, Subscribe,
//	    GetRetainedMessage, shadow and job actions) with "*", an open type (topic*), or a
//	    "*", "?", ${iot:ClientId} or topic-filter "+"/"#" not preceded by
//	    ${iot:Connection.Thing.ThingName} as a whole topic level: topic/city/* is a finding,
//	    $aws/things/${iot:Connection.Thing.ThingName}/shadow/* is not. Also exempt: the
//	    fleet provisioning request topics (answered only on the requesting connection) and
//	    the claim client namespace. Stricter than Device Defender (which passes iot:Receive
//	    on topic/$aws/things/*). Mirrors cfn_nag W39, cfn-guard
//	    IOT_POLICY_WILDCARD_RESOURCE_RULE and the intent of IOT_POLICY_OVERLY_PERMISSIVE_CHECK.
//	IoTPolicy-GroupScopedResource
//	    Allow on a data-plane action with a resource that uses
//	    ${iot:Connection.Thing.ThingTypeName} or ${iot:Connection.Thing.Attributes[...]} but
//	    not ${iot:Connection.Thing.ThingName} as a whole level: those variables resolve to
//	    one value for a whole class or district, so every device of it shares the resource
//	    ($aws/rules/<rule>/districts/${...Attributes[district]}/telemetry is a finding,
//	    topics.OwnTelemetry is not). This project's own.
//	IoTPolicy-ActionResourceMismatch
//	    Grants that can never match: iot:Subscribe on topic/ (needs topicfilter/), an action
//	    without a resource of its type, a resource no action applies to, an unknown iot:
//	    action or resource type, "+"/"#" in an Allow topic/ resource, a
//	    ${iot:Connection.Thing.<x>} that is no thing policy variable (a misspelling, which
//	    never resolves). This project's own.
//
// Check and the Checker also report, unsuppressibly, IoTPolicy-Unreadable (a document the
// checks cannot read: NotAction, NotResource, a Version other than 2012-10-17, a malformed
// ARN, a resource whose type is a bare reference; CheckJSON returns these as its error) and
// the Checker IoTPolicy-Suppression (a malformed suppression, one naming no rule, or one whose
// reason is shorter than 10 characters). Suppress a rule on one policy resource with
// Suppress(policy, ruleID, reason); the finding then shows as an info annotation with the
// reason.
//
// # Device identity from the registry
//
// A device's telemetry topic in its policy is topics.OwnTelemetry:
//
//	$aws/rules/${iot:Connection.Thing.ThingTypeName}/districts/${iot:Connection.Thing.Attributes[district]}/things/${iot:Connection.Thing.ThingName}/telemetry
//
// rather than the class's literal rule name beside the district and thing-name variables. All
// three levels then come from the one record AWS IoT authenticated the connection against,
// the thing's registry entry, which is also what the command API reads (DescribeThing: thing
// type and district). So the class the processor reads from the rule's constant, the district
// and thing it reads from the topic and the class the command API checks a command against
// are the same by construction, for a declared thing and for one JITP or claim provisioning
// created at run time. A literal rule would tie the class to whichever class policy was
// attached instead, a second source that can disagree with the thing type. The variables
// fail closed: they resolve only when the client id is the name of a thing attached to the
// certificate (Connect also requires IsAttached), and a thing without a thing type or a
// district attribute can publish no telemetry at all ("this variable won't be resolved and
// will result in an access denied error"). The document's size no longer depends on the rule
// name (up to 128 characters), which keeps it within IoT's 2,048-character limit (see
// size_test.go).
//
// This is sound only because a device cannot choose its thing type or attributes: they are
// set by the platform's provisioning paths (the Fleet stack, the JITP template, the claim
// template and its hook), to a thing type of this stage and the fleet file's district id
// ([a-z][a-z0-9_]*: no "/", "+", "#" or "*", so the value fills exactly one topic level and
// is no wildcard). A provisioning path that copied a free-form value into the district
// attribute (a certificate subject field not checked against the fleet's districts, say)
// would let a device choose its topic level.
//
// MosquittoACL expands the type and attribute variables per registered thing (a Registry,
// what a local city provides in place of the AWS IoT registry), since mosquitto substitutes
// only the user name and client id; Evaluate resolves them from a Request's ThingType and
// ThingAttributes (AllowsThing with a RegisteredThing).
//
// Documents render two ways: Render(prefix) with a literal ARN prefix for tests and other
// tools, CloudFormation() with Fn::Sub over the stack's partition, region and account, IoT
// policy variables escaped as ${!iot:...}. MosquittoACL turns device policies and a registry
// into a local test broker's ACL, and Evaluate/Allows/AllowsThing model IoT's policy
// evaluation for isolation tests.
package policies
