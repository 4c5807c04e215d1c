package policies

import (
	"encoding/json"
	"strings"
)

// Version is the only policy language version in which IoT policy variables resolve; in
// older versions "${iot:...}" is literal text.
const Version = "2012-10-17"

// Effect is a statement's effect.
type Effect string

// Effects.
const (
	Allow Effect = "Allow"
	Deny  Effect = "Deny"
)

// IoT data-plane actions that device, claim and quarantine policies use or that the rules
// reason about.
const (
	ActionConnect                      = "iot:Connect"
	ActionPublish                      = "iot:Publish"
	ActionReceive                      = "iot:Receive"
	ActionRetainPublish                = "iot:RetainPublish"
	ActionSubscribe                    = "iot:Subscribe"
	ActionGetRetainedMessage           = "iot:GetRetainedMessage"
	ActionListRetainedMessages         = "iot:ListRetainedMessages"
	ActionDeleteThingShadow            = "iot:DeleteThingShadow"
	ActionGetThingShadow               = "iot:GetThingShadow"
	ActionUpdateThingShadow            = "iot:UpdateThingShadow"
	ActionListNamedShadowsForThing     = "iot:ListNamedShadowsForThing"
	ActionDescribeJobExecution         = "iot:DescribeJobExecution"
	ActionGetPendingJobExecutions      = "iot:GetPendingJobExecutions"
	ActionStartNextPendingJobExecution = "iot:StartNextPendingJobExecution"
	ActionUpdateJobExecution           = "iot:UpdateJobExecution"
	ActionAssumeRoleWithCertificate    = "iot:AssumeRoleWithCertificate"
	// ActionAll is every IoT action; use it only to deny (see Quarantine).
	ActionAll = "iot:*"
)

// IsAttachedKey is the condition key that is true only when the MQTT client id is the name of
// a thing attached to the connecting certificate.
const IsAttachedKey = "iot:Connection.Thing.IsAttached"

// Resource is an IoT resource relative to the account's IoT ARN prefix, "<type>/<name>" (for
// example "client/sl-001"), or "*". Build it with Client, Topic, TopicFilter or Thing so the
// type always matches the action it is meant for.
type Resource string

// AnyResource is every resource; use it only to deny (see Quarantine).
const AnyResource Resource = "*"

// Resource types (the part of an IoT ARN before the first "/").
const (
	TypeClient      = "client"
	TypeTopic       = "topic"
	TypeTopicFilter = "topicfilter"
	TypeThing       = "thing"
	TypeRoleAlias   = "rolealias"
)

// Client is the resource of iot:Connect for an MQTT client id.
func Client(clientID string) Resource { return Resource(TypeClient + "/" + clientID) }

// Topic is the resource of iot:Publish, iot:Receive and iot:RetainPublish for a topic name
// (IoT wildcards "*" and "?" allowed; "+" and "#" are literal characters here).
func Topic(topic string) Resource { return Resource(TypeTopic + "/" + topic) }

// TopicFilter is the resource of iot:Subscribe for a topic filter as the client writes it
// ("+" and "#" are the client's MQTT wildcards, matched literally by the policy).
func TopicFilter(filter string) Resource { return Resource(TypeTopicFilter + "/" + filter) }

// Thing is the resource of the shadow and job actions for a thing name.
func Thing(name string) Resource { return Resource(TypeThing + "/" + name) }

// Conditions maps a condition operator ("Bool", "StringEquals") to keys and their values.
type Conditions map[string]map[string][]string

// Statement is one policy statement.
type Statement struct {
	// Sid names the statement in findings. Default: none.
	Sid        string
	Effect     Effect
	Actions    []string
	Resources  []Resource
	Conditions Conditions
}

// Document is an IoT policy document. Render it with Render (literal ARN prefix) or
// CloudFormation (Fn::Sub with the stack's partition, region and account).
type Document struct {
	// Version: Default: Version.
	Version    string
	Statements []Statement
}

// CloudFormationARNPrefix is the IoT ARN prefix of the deploying stack inside Fn::Sub.
const CloudFormationARNPrefix = "arn:${AWS::Partition}:iot:${AWS::Region}:${AWS::AccountId}:"

// ARNPrefix is the literal IoT ARN prefix of a partition, region and account, for example
// ARNPrefix("aws", "eu-west-1", "123456789012") == "arn:aws:iot:eu-west-1:123456789012:".
func ARNPrefix(partition, region, account string) string {
	return "arn:" + partition + ":iot:" + region + ":" + account + ":"
}

// Render returns the document as JSON-shaped values (maps, slices, strings) with every
// resource prefixed by arnPrefix. An empty prefix leaves resources relative ("client/x"),
// the form MarshalJSON writes and CheckJSON also accepts.
func (d Document) Render(arnPrefix string) map[string]any {
	return d.render(func(r Resource) any {
		if r == AnyResource || strings.HasPrefix(string(r), "arn:") {
			return string(r)
		}
		return arnPrefix + string(r)
	})
}

// CloudFormation returns the value for awsiot.CfnPolicyProps.PolicyDocument: each resource
// is {"Fn::Sub": CloudFormationARNPrefix + resource} with every "${" of the resource escaped
// as "${!", so IoT policy variables reach IoT unresolved by CloudFormation.
func (d Document) CloudFormation() map[string]any {
	return d.render(func(r Resource) any {
		if r == AnyResource {
			return string(r)
		}
		s := subEscape(string(r))
		if !strings.HasPrefix(string(r), "arn:") {
			s = CloudFormationARNPrefix + s
		}
		return map[string]any{"Fn::Sub": s}
	})
}

// subEscape makes s literal inside Fn::Sub.
func subEscape(s string) string { return strings.ReplaceAll(s, "${", "${!") }

// MarshalJSON writes the IoT policy JSON shape with relative resources (Render("")).
func (d Document) MarshalJSON() ([]byte, error) { return json.Marshal(d.Render("")) }

// MarshalJSON writes one statement in the IoT policy JSON shape with relative resources.
func (s Statement) MarshalJSON() ([]byte, error) {
	return json.Marshal(renderStatement(s, func(r Resource) any { return string(r) }))
}

func (d Document) render(resource func(Resource) any) map[string]any {
	version := d.Version
	if version == "" {
		version = Version
	}
	stmts := make([]any, 0, len(d.Statements))
	for _, s := range d.Statements {
		stmts = append(stmts, renderStatement(s, resource))
	}
	return map[string]any{"Version": version, "Statement": stmts}
}

func renderStatement(s Statement, resource func(Resource) any) map[string]any {
	out := map[string]any{"Effect": string(s.Effect)}
	if s.Sid != "" {
		out["Sid"] = s.Sid
	}
	actions := make([]any, len(s.Actions))
	for i, a := range s.Actions {
		actions[i] = a
	}
	out["Action"] = actions
	resources := make([]any, len(s.Resources))
	for i, r := range s.Resources {
		resources[i] = resource(r)
	}
	out["Resource"] = resources
	if len(s.Conditions) > 0 {
		cond := make(map[string]any, len(s.Conditions))
		for op, kv := range s.Conditions {
			keys := make(map[string]any, len(kv))
			for k, vs := range kv {
				values := make([]any, len(vs))
				for i, v := range vs {
					values[i] = v
				}
				keys[k] = values
			}
			cond[op] = keys
		}
		out["Condition"] = cond
	}
	return out
}
