package compliance

import (
	"fmt"
	"strings"

	"github.com/secure-smart-city/platform/compliance/iameval"
)

// Caller is who makes a flow's request, with the identity policies that apply to it.
type Caller struct {
	Principal iameval.Principal
	Identity  []iameval.Policy
	// Label names the caller in the flow table ("role TelemetryProcessorExecutionRole...").
	Label string
}

// Step is one request of a flow.
type Step struct {
	Caller   Caller
	Action   string
	Resource string
	Target   iameval.Target
	Context  map[string][]string
}

// Case is one concrete instance of a flow (one alarm, one rule action, ...).
type Case struct {
	Name  string
	Steps []Step
}

func (w *World) service(name string) Caller {
	return Caller{Principal: iameval.Principal{Service: name}, Label: name}
}

// ForeignAccount is the account of another party's principals, for refused flows.
const ForeignAccount = "999999999999"

// roleCaller is the role whose ARN v (a Role property, a RoleArn) names.
func (w *World) roleCaller(stack string, v any) (Caller, Ref, error) {
	arn, err := w.Str(stack, v)
	if err != nil {
		return Caller{}, Ref{}, err
	}
	r, err := w.byArn(arn, "AWS::IAM::Role")
	if err != nil {
		return Caller{}, Ref{}, err
	}
	pols, err := w.identityPolicies(r)
	if err != nil {
		return Caller{}, Ref{}, err
	}
	return Caller{Principal: iameval.Principal{ARN: arn, Account: w.Account}, Identity: pols, Label: "role " + r.ID}, r, nil
}

// byArn finds the resource of type typ whose ARN is arn.
func (w *World) byArn(arn, typ string) (Ref, error) {
	for _, name := range w.order {
		for _, r := range w.Stacks[name].Template.Resources(typ) {
			ref := Ref{Stack: name, Resource: r}
			n, err := w.physicalName(ref)
			if err != nil {
				return Ref{}, err
			}
			if w.arnOf(ref, n) == arn {
				return ref, nil
			}
		}
	}
	return Ref{}, fmt.Errorf("flows: no %s has ARN %s", typ, arn)
}

// Arn is r's symbolic ARN.
func (w *World) Arn(r Ref) (string, error) {
	n, err := w.physicalName(r)
	if err != nil {
		return "", err
	}
	return w.arnOf(r, n), nil
}

// identityPolicies are a role's inline policies and the AWS::IAM::Policy and ManagedPolicy
// resources attached to it. An AWS-managed policy cannot be read here, so a role that has one
// is an error rather than a guess.
func (w *World) identityPolicies(role Ref) ([]iameval.Policy, error) {
	if m := List(role.Properties["ManagedPolicyArns"]); len(m) > 0 {
		return nil, fmt.Errorf("flows: role %s has managed policies %v, which the evaluator cannot read", role.ID, m)
	}
	var out []iameval.Policy
	for i, p := range List(role.Properties["Policies"]) {
		doc, err := w.Resolve(role.Stack, Get(p, "PolicyDocument"))
		if err != nil {
			return nil, err
		}
		pol, err := iameval.ParsePolicy(doc, fmt.Sprintf("%s/%s inline policy %d", role.Stack, role.ID, i))
		if err != nil {
			return nil, err
		}
		out = append(out, w.drop(pol))
	}
	for _, typ := range []string{"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"} {
		for _, p := range w.Stacks[role.Stack].Template.Resources(typ) {
			attached := false
			for _, r := range List(p.Properties["Roles"]) {
				if refersTo(r, role.ID) {
					attached = true
				}
			}
			if !attached {
				continue
			}
			doc, err := w.Resolve(role.Stack, p.Properties["PolicyDocument"])
			if err != nil {
				return nil, err
			}
			pol, err := iameval.ParsePolicy(doc, role.Stack+"/"+p.ID)
			if err != nil {
				return nil, err
			}
			out = append(out, w.drop(pol))
		}
	}
	return out, nil
}

// target is the resource policy of r: the policies of every stack that name it.
func (w *World) target(r Ref) (iameval.Target, error) {
	ref, err := w.ref(r.Stack, r.ID)
	if err != nil {
		return iameval.Target{}, err
	}
	arn, err := w.Arn(r)
	if err != nil {
		return iameval.Target{}, err
	}
	var t iameval.Target
	add := func(stack string, doc any, where string) error {
		resolved, err := w.Resolve(stack, doc)
		if err != nil {
			return err
		}
		p, err := iameval.ParsePolicy(resolved, where)
		if err != nil {
			return err
		}
		t.Policy = append(t.Policy, w.drop(p)...)
		return nil
	}
	names := func(stack string, v any, want any) (bool, error) {
		for _, e := range List(v) {
			s, err := w.Resolve(stack, e)
			if err != nil {
				return false, err
			}
			if s == want {
				return true, nil
			}
		}
		return false, nil
	}
	switch r.Type {
	case "AWS::KMS::Key":
		t.KMS = true
		return t, add(r.Stack, r.Properties["KeyPolicy"], r.Stack+"/"+r.ID+" key policy")
	case "AWS::IAM::Role":
		return t, add(r.Stack, r.Properties["AssumeRolePolicyDocument"], r.Stack+"/"+r.ID+" trust policy")
	case "AWS::DynamoDB::Table":
		if d := Get(r.Properties, "ResourcePolicy", "PolicyDocument"); d != nil {
			return t, add(r.Stack, d, r.Stack+"/"+r.ID+" resource policy")
		}
		return t, nil
	case "AWS::ApiGateway::RestApi":
		if d := r.Properties["Policy"]; d != nil {
			return t, add(r.Stack, d, r.Stack+"/"+r.ID+" resource policy")
		}
		return t, nil
	}
	kinds := map[string][2]string{
		"AWS::SNS::Topic": {"AWS::SNS::TopicPolicy", "Topics"},
		"AWS::SQS::Queue": {"AWS::SQS::QueuePolicy", "Queues"},
		"AWS::S3::Bucket": {"AWS::S3::BucketPolicy", "Bucket"},
	}
	for _, name := range w.order {
		if k, ok := kinds[r.Type]; ok {
			for _, p := range w.Stacks[name].Template.Resources(k[0]) {
				hit, err := names(name, p.Properties[k[1]], ref)
				if err != nil {
					return t, err
				}
				if hit {
					if err := add(name, p.Properties["PolicyDocument"], name+"/"+p.ID); err != nil {
						return t, err
					}
				}
			}
		}
		if r.Type == "AWS::Lambda::Function" {
			for _, p := range w.Stacks[name].Template.Resources("AWS::Lambda::Permission") {
				fn, err := w.Str(name, p.Properties["FunctionName"])
				if err != nil {
					return t, err
				}
				if fn != arn && fn != ref {
					continue
				}
				st, err := w.permission(name, p, arn)
				if err != nil {
					return t, err
				}
				t.Policy = append(t.Policy, w.drop(iameval.Policy{st})...)
			}
		}
	}
	return t, nil
}

// permission turns an AWS::Lambda::Permission into the statement Lambda adds to the
// function's policy (ArnLike AWS:SourceArn, StringEquals AWS:SourceAccount; Lambda developer
// guide, "Viewing resource-based IAM policies").
func (w *World) permission(stack string, p Resource, fnArn string) (iameval.Statement, error) {
	get := func(k string) (string, error) {
		if p.Properties[k] == nil {
			return "", nil
		}
		return w.Str(stack, p.Properties[k])
	}
	principal, err := get("Principal")
	if err != nil {
		return iameval.Statement{}, err
	}
	action, err := get("Action")
	if err != nil {
		return iameval.Statement{}, err
	}
	st := iameval.Statement{Effect: "Allow", HasPrincipal: true, Action: []string{action}, HasResource: true,
		Resource: []string{fnArn, fnArn + ":*"}, Condition: map[string]map[string][]string{}, Where: stack + "/" + p.ID}
	if strings.HasSuffix(principal, ".amazonaws.com") {
		st.Principal = map[string][]string{"Service": {principal}}
	} else {
		st.Principal = map[string][]string{"AWS": {principal}}
	}
	if sa, err := get("SourceArn"); err != nil {
		return st, err
	} else if sa != "" {
		st.Condition["ArnLike"] = map[string][]string{"aws:sourcearn": {sa}}
	}
	if sa, err := get("SourceAccount"); err != nil {
		return st, err
	} else if sa != "" {
		st.Condition["StringEquals"] = map[string][]string{"aws:sourceaccount": {sa}}
	}
	if p.Properties["PrincipalOrgID"] != nil || p.Properties["FunctionUrlAuthType"] != nil {
		return st, fmt.Errorf("flows: %s/%s: PrincipalOrgID and FunctionUrlAuthType are not supported", stack, p.ID)
	}
	return st, nil
}

// keyProps are where each encrypted resource type names its key.
var keyProps = map[string][]string{
	"AWS::SNS::Topic":       {"KmsMasterKeyId"},
	"AWS::SQS::Queue":       {"KmsMasterKeyId"},
	"AWS::Kinesis::Stream":  {"StreamEncryption", "KeyId"},
	"AWS::DynamoDB::Table":  {"SSESpecification", "KMSMasterKeyId"},
	"AWS::Logs::LogGroup":   {"KmsKeyId"},
	"AWS::Lambda::Function": {"KmsKeyArn"},
}

// keyOf is the customer-managed key that encrypts r, or ok false when none.
func (w *World) keyOf(r Ref) (Ref, bool, error) {
	var v any
	if r.Type == "AWS::S3::Bucket" {
		v = Get(r.Properties, "BucketEncryption", "ServerSideEncryptionConfiguration", 0, "ServerSideEncryptionByDefault", "KMSMasterKeyID")
	} else if p, ok := keyProps[r.Type]; ok {
		path := make([]any, len(p))
		for i, s := range p {
			path[i] = s
		}
		v = Get(r.Properties, path...)
	}
	if v == nil {
		return Ref{}, false, nil
	}
	arn, err := w.Str(r.Stack, v)
	if err != nil {
		return Ref{}, false, err
	}
	k, err := w.byArn(arn, "AWS::KMS::Key")
	if err != nil {
		return Ref{}, false, err
	}
	return k, true, nil
}

// step builds a request against resource r (its ARN, or arnSuffix appended to it).
func (w *World) step(c Caller, action string, r Ref, arnSuffix string, ctx map[string][]string) (Step, error) {
	arn, err := w.Arn(r)
	if err != nil {
		return Step{}, err
	}
	t, err := w.target(r)
	if err != nil {
		return Step{}, err
	}
	return Step{Caller: c, Action: action, Resource: arn + arnSuffix, Target: t, Context: ctx}, nil
}

// keySteps are the KMS requests a service makes with c's credentials (or as c, a service
// principal) to encrypt or decrypt r's data; none when r has no customer-managed key.
func (w *World) keySteps(c Caller, r Ref, via string, ctx map[string][]string, actions ...string) ([]Step, error) {
	k, ok, err := w.keyOf(r)
	if err != nil || !ok {
		return nil, err
	}
	kctx := map[string][]string{}
	for key, v := range ctx {
		kctx[key] = v
	}
	if via != "" {
		kctx["kms:ViaService"] = []string{via + "." + w.Region + ".amazonaws.com"}
	}
	if c.Principal.Service == "" {
		kctx["kms:CallerAccount"] = []string{c.Principal.Account}
	}
	var out []Step
	for _, a := range actions {
		s, err := w.step(c, a, k, "", kctx)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// Decide evaluates one step.
func (w *World) Decide(s Step) (iameval.Decision, error) {
	return iameval.Evaluate(iameval.Request{Principal: s.Caller.Principal, Action: s.Action, Resource: s.Resource, Context: s.Context},
		s.Caller.Identity, s.Target, w.Account)
}

func (w *World) drop(p iameval.Policy) iameval.Policy {
	if len(w.Without) == 0 {
		return p
	}
	var out iameval.Policy
	for _, st := range p {
		if !w.Without[st.Where] {
			out = append(out, st)
		}
	}
	return out
}
