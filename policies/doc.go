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
//	IoTPolicy-ActionResourceMismatch
//	    Grants that can never match: iot:Subscribe on topic/ (needs topicfilter/), an action
//	    without a resource of its type, a resource no action applies to, an unknown iot:
//	    action or resource type, "+"/"#" in an Allow topic/ resource. This project's own.
//
// Check and the Checker also report, unsuppressibly, IoTPolicy-Unreadable (a document the
// checks cannot read: NotAction, NotResource, a Version other than 2012-10-17, a malformed
// ARN, a resource whose type is a bare reference; CheckJSON returns these as its error) and
// the Checker IoTPolicy-Suppression (a malformed suppression, one naming no rule, or one whose
// reason is shorter than 10 characters). Suppress a rule on one policy resource with
// Suppress(policy, ruleID, reason); the finding then shows as an info annotation with the
// reason.
//
// Documents render two ways: Render(prefix) with a literal ARN prefix for tests and other
// tools, CloudFormation() with Fn::Sub over the stack's partition, region and account, IoT
// policy variables escaped as ${!iot:...}. MosquittoACL turns device policies into a local
// test broker's ACL, and Evaluate/Allows model IoT's policy evaluation for isolation tests.
package policies
