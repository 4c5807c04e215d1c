package compliance

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// StackTemplate is one synthesized stack: its name, template and environment as the cloud
// assembly gives them (account "unknown-account" or a token for environment-agnostic stacks).
type StackTemplate struct {
	Name     string
	Template Template
	Account  string
	Region   string
}

// World resolves references across every stack of one synth to symbolic values: each
// resource gets the ARN and physical name it will have, with CloudFormation-generated names
// written "<stack>-<logical id>" and an unpinned account written SymbolicAccount. Two
// references to one resource always resolve to the same string, whichever stack, output or
// intrinsic they go through, which is all the flow proofs need.
type World struct {
	Stacks    map[string]*StackTemplate
	Account   string
	Region    string
	Partition string
	// Without drops statements (by their Where) from every policy: weakening proofs.
	Without map[string]bool
	order   []string
}

// SymbolicAccount stands for the deploying account in environment-agnostic templates.
const SymbolicAccount = "111111111111"

var accountPattern = regexp.MustCompile(`^[0-9]{12}$`)

// NewWorld indexes the stacks of one synth. Every stack must be in one account and region.
func NewWorld(stacks []StackTemplate) (*World, error) {
	w := &World{Stacks: map[string]*StackTemplate{}, Partition: "aws"}
	for i := range stacks {
		s := stacks[i]
		acct := s.Account
		if !accountPattern.MatchString(acct) {
			acct = SymbolicAccount
		}
		if w.Account != "" && w.Account != acct {
			return nil, fmt.Errorf("flows: stack %s is in account %s, the others in %s", s.Name, acct, w.Account)
		}
		w.Account = acct
		if s.Region != "" && !strings.Contains(s.Region, "unknown") && !strings.Contains(s.Region, "${") {
			w.Region = s.Region
		}
		w.Stacks[s.Name] = &s
		w.order = append(w.order, s.Name)
	}
	if w.Region == "" {
		w.Region = "region"
	}
	sort.Strings(w.order)
	return w, nil
}

// Ref is one resource of one stack.
type Ref struct {
	Stack string
	Resource
}

// Find returns the resources of type typ whose logical id starts with idPrefix, in every stack.
func (w *World) Find(typ, idPrefix string) []Ref {
	var out []Ref
	for _, name := range w.order {
		for _, r := range w.Stacks[name].Template.Resources(typ) {
			if strings.HasPrefix(r.ID, idPrefix) {
				out = append(out, Ref{Stack: name, Resource: r})
			}
		}
	}
	return out
}

// errAbsent marks a flow whose resources the synth does not hold at all (an app of a few
// stacks or constructs, as tests build): the flow does not apply there.
var errAbsent = errors.New("absent")

var cdkHash = regexp.MustCompile(`^[0-9A-F]{8}$`)

// One returns the single resource of type typ whose logical id is idPrefix, or idPrefix and
// CDK's 8-character hash (so "TelemetryArchive" is not "TelemetryArchiveAccessLogs...").
func (w *World) One(typ, idPrefix string) (Ref, error) {
	var found []Ref
	for _, r := range w.Find(typ, idPrefix) {
		if rest := strings.TrimPrefix(r.ID, idPrefix); rest == "" || cdkHash.MatchString(rest) {
			found = append(found, r)
		}
	}
	if len(found) == 0 {
		return Ref{}, fmt.Errorf("flows: %w: no %s with logical id %s", errAbsent, typ, idPrefix)
	}
	if len(found) != 1 {
		return Ref{}, fmt.Errorf("flows: want exactly one %s with logical id %s*, found %d", typ, idPrefix, len(found))
	}
	return found[0], nil
}

// Lookup returns the resource with logical id id in stack.
func (w *World) Lookup(stack, id string) (Ref, bool) {
	st, ok := w.Stacks[stack]
	if !ok {
		return Ref{}, false
	}
	for _, r := range st.Template.Resources("") {
		if r.ID == id {
			return Ref{Stack: stack, Resource: r}, true
		}
	}
	return Ref{}, false
}

// Str resolves v in stack to one string.
func (w *World) Str(stack string, v any) (string, error) {
	out, err := w.Resolve(stack, v)
	if err != nil {
		return "", err
	}
	s, ok := out.(string)
	if !ok {
		return "", fmt.Errorf("flows: %s: %v resolves to %T, want a string", stack, v, out)
	}
	return s, nil
}

// Resolve replaces every intrinsic in v (Ref, Fn::GetAtt, Fn::Join, Fn::Sub, Fn::Select,
// Fn::GetStackOutput, Fn::ImportValue) by its symbolic value.
func (w *World) Resolve(stack string, v any) (any, error) {
	switch x := v.(type) {
	case []any:
		out := make([]any, 0, len(x))
		for _, e := range x {
			r, err := w.Resolve(stack, e)
			if err != nil {
				return nil, err
			}
			out = append(out, r)
		}
		return out, nil
	case map[string]any:
		if len(x) == 1 {
			for k, arg := range x {
				if k == "Ref" || strings.HasPrefix(k, "Fn::") {
					return w.intrinsic(stack, k, arg)
				}
			}
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			r, err := w.Resolve(stack, e)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	}
	return v, nil
}

func (w *World) intrinsic(stack, fn string, arg any) (any, error) {
	switch fn {
	case "Ref":
		name, _ := arg.(string)
		return w.ref(stack, name)
	case "Fn::GetAtt":
		var id, attr string
		switch a := arg.(type) {
		case []any:
			if len(a) == 2 {
				id, _ = a[0].(string)
				attr, _ = a[1].(string)
			}
		case string:
			id, attr, _ = strings.Cut(a, ".")
		}
		return w.getAtt(stack, id, attr)
	case "Fn::Join":
		a, _ := arg.([]any)
		if len(a) != 2 {
			return nil, fmt.Errorf("flows: %s: Fn::Join %v", stack, arg)
		}
		sep, _ := a[0].(string)
		parts, err := w.Resolve(stack, a[1])
		if err != nil {
			return nil, err
		}
		var ss []string
		for _, p := range List(parts) {
			s, ok := p.(string)
			if !ok {
				return nil, fmt.Errorf("flows: %s: Fn::Join part %v is not a string", stack, p)
			}
			ss = append(ss, s)
		}
		return strings.Join(ss, sep), nil
	case "Fn::Select":
		a, _ := arg.([]any)
		if len(a) != 2 {
			return nil, fmt.Errorf("flows: %s: Fn::Select %v", stack, arg)
		}
		idx, _ := a[0].(float64)
		list, err := w.Resolve(stack, a[1])
		if err != nil {
			return nil, err
		}
		l := List(list)
		if int(idx) >= len(l) {
			return nil, fmt.Errorf("flows: %s: Fn::Select index %v out of range", stack, a[0])
		}
		return l[int(idx)], nil
	case "Fn::Sub":
		return w.sub(stack, arg)
	case "Fn::GetStackOutput":
		name, _ := Get(arg, "StackName").(string)
		out, _ := Get(arg, "OutputName").(string)
		return w.output(name, out)
	case "Fn::ImportValue":
		exp, err := w.Str(stack, arg)
		if err != nil {
			return nil, err
		}
		for _, name := range w.order {
			outs, _ := w.Stacks[name].Template["Outputs"].(map[string]any)
			for oname, o := range outs {
				if e, _ := w.Resolve(name, Get(o, "Export", "Name")); e == exp {
					return w.output(name, oname)
				}
			}
		}
		return nil, fmt.Errorf("flows: %s: no stack exports %q", stack, exp)
	}
	return nil, fmt.Errorf("flows: %s: intrinsic %s is not supported", stack, fn)
}

func (w *World) output(stack, name string) (any, error) {
	st, ok := w.Stacks[stack]
	if !ok {
		return nil, fmt.Errorf("flows: Fn::GetStackOutput names stack %q, which this synth does not have", stack)
	}
	v := Get(map[string]any(st.Template), "Outputs", name, "Value")
	if v == nil {
		return nil, fmt.Errorf("flows: stack %s has no output %q", stack, name)
	}
	return w.Resolve(stack, v)
}

var subVar = regexp.MustCompile(`\$\{([^!}][^}]*)\}`)

func (w *World) sub(stack string, arg any) (any, error) {
	tmpl, vars := "", map[string]any{}
	switch a := arg.(type) {
	case string:
		tmpl = a
	case []any:
		if len(a) != 2 {
			return nil, fmt.Errorf("flows: %s: Fn::Sub %v", stack, arg)
		}
		tmpl, _ = a[0].(string)
		vars, _ = a[1].(map[string]any)
	}
	var firstErr error
	out := subVar.ReplaceAllStringFunc(tmpl, func(m string) string {
		name := m[2 : len(m)-1]
		var v any
		var err error
		if val, ok := vars[name]; ok {
			v, err = w.Resolve(stack, val)
		} else if id, attr, ok := strings.Cut(name, "."); ok {
			v, err = w.getAtt(stack, id, attr)
		} else {
			v, err = w.ref(stack, name)
		}
		s, ok := v.(string)
		if err == nil && !ok {
			err = fmt.Errorf("flows: %s: Fn::Sub ${%s} is not a string", stack, name)
		}
		if err != nil && firstErr == nil {
			firstErr = err
		}
		return s
	})
	// ${!Literal} stays literal as ${Literal}.
	return strings.ReplaceAll(out, "${!", "${"), firstErr
}

func (w *World) ref(stack, name string) (any, error) {
	switch name {
	case "AWS::AccountId":
		return w.Account, nil
	case "AWS::Region":
		return w.Region, nil
	case "AWS::Partition":
		return w.Partition, nil
	case "AWS::URLSuffix":
		return "amazonaws.com", nil
	case "AWS::StackName":
		return stack, nil
	case "AWS::NoValue":
		return nil, nil
	}
	r, ok := w.Lookup(stack, name)
	if !ok {
		if p := Get(map[string]any(w.Stacks[stack].Template), "Parameters", name); p != nil {
			if d := Get(p, "Default"); d != nil {
				return d, nil
			}
			return "param-" + name, nil
		}
		return nil, fmt.Errorf("flows: %s: Ref %q names no resource", stack, name)
	}
	name2, err := w.physicalName(r)
	if err != nil {
		return nil, err
	}
	switch r.Type {
	case "AWS::SNS::Topic", "AWS::IAM::ManagedPolicy":
		return w.arnOf(r, name2), nil
	case "AWS::SQS::Queue":
		return fmt.Sprintf("https://sqs.%s.amazonaws.com/%s/%s", w.Region, w.Account, name2), nil
	}
	return name2, nil
}

func (w *World) getAtt(stack, id, attr string) (any, error) {
	r, ok := w.Lookup(stack, id)
	if !ok {
		return nil, fmt.Errorf("flows: %s: Fn::GetAtt names no resource %q", stack, id)
	}
	name, err := w.physicalName(r)
	if err != nil {
		return nil, err
	}
	switch attr {
	case "Arn":
		return w.arnOf(r, name), nil
	case "QueueName", "TopicName", "RoleId", "KeyId", "Name":
		return name, nil
	case "QueueUrl":
		return fmt.Sprintf("https://sqs.%s.amazonaws.com/%s/%s", w.Region, w.Account, name), nil
	case "RootResourceId":
		return name + "-root", nil
	case "StreamArn":
		return w.arnOf(r, name) + "/stream/symbolic", nil
	}
	return fmt.Sprintf("%s.%s", name, attr), nil
}

// nameProps are the properties that name a resource, by type.
var nameProps = map[string]string{
	"AWS::SNS::Topic": "TopicName", "AWS::SQS::Queue": "QueueName", "AWS::Lambda::Function": "FunctionName",
	"AWS::DynamoDB::Table": "TableName", "AWS::S3::Bucket": "BucketName", "AWS::Kinesis::Stream": "Name",
	"AWS::IAM::Role": "RoleName", "AWS::Logs::LogGroup": "LogGroupName", "AWS::CloudWatch::Alarm": "AlarmName",
	"AWS::IoT::ThingGroup": "ThingGroupName", "AWS::IoT::ThingType": "ThingTypeName", "AWS::IoT::Policy": "PolicyName",
	"AWS::IoT::ProvisioningTemplate": "TemplateName", "AWS::IoT::MitigationAction": "ActionName",
	"AWS::IoT::Thing": "ThingName", "AWS::ApiGateway::Stage": "StageName", "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
	"AWS::IoT::ScheduledAudit": "ScheduledAuditName", "AWS::IoT::SecurityProfile": "SecurityProfileName",
}

func (w *World) physicalName(r Ref) (string, error) {
	var v any
	if r.Type == "AWS::IoT::TopicRule" {
		v = r.Properties["RuleName"]
	} else if p, ok := nameProps[r.Type]; ok {
		v = r.Properties[p]
	}
	if v != nil {
		return w.Str(r.Stack, v)
	}
	return r.Stack + "-" + r.ID, nil
}

// arnOf is the ARN a resource of a known type has, following each service's documented ARN
// format (Service Authorization Reference, "Resource types").
func (w *World) arnOf(r Ref, name string) string {
	p, reg, acct := w.Partition, w.Region, w.Account
	switch r.Type {
	case "AWS::SNS::Topic":
		return fmt.Sprintf("arn:%s:sns:%s:%s:%s", p, reg, acct, name)
	case "AWS::SQS::Queue":
		return fmt.Sprintf("arn:%s:sqs:%s:%s:%s", p, reg, acct, name)
	case "AWS::Lambda::Function":
		return fmt.Sprintf("arn:%s:lambda:%s:%s:function:%s", p, reg, acct, name)
	case "AWS::DynamoDB::Table":
		return fmt.Sprintf("arn:%s:dynamodb:%s:%s:table/%s", p, reg, acct, name)
	case "AWS::S3::Bucket":
		return fmt.Sprintf("arn:%s:s3:::%s", p, name)
	case "AWS::Kinesis::Stream":
		return fmt.Sprintf("arn:%s:kinesis:%s:%s:stream/%s", p, reg, acct, name)
	case "AWS::KMS::Key":
		return fmt.Sprintf("arn:%s:kms:%s:%s:key/%s", p, reg, acct, name)
	case "AWS::IAM::Role":
		path, _ := r.Properties["Path"].(string)
		if path == "" {
			path = "/"
		}
		return fmt.Sprintf("arn:%s:iam::%s:role%s%s", p, acct, path, name)
	case "AWS::IAM::ManagedPolicy":
		return fmt.Sprintf("arn:%s:iam::%s:policy/%s", p, acct, name)
	case "AWS::Logs::LogGroup":
		return fmt.Sprintf("arn:%s:logs:%s:%s:log-group:%s:*", p, reg, acct, name)
	case "AWS::CloudWatch::Alarm":
		return fmt.Sprintf("arn:%s:cloudwatch:%s:%s:alarm:%s", p, reg, acct, name)
	case "AWS::IoT::TopicRule":
		return fmt.Sprintf("arn:%s:iot:%s:%s:rule/%s", p, reg, acct, name)
	case "AWS::IoT::ThingGroup":
		return fmt.Sprintf("arn:%s:iot:%s:%s:thinggroup/%s", p, reg, acct, name)
	case "AWS::IoT::ThingType":
		return fmt.Sprintf("arn:%s:iot:%s:%s:thingtype/%s", p, reg, acct, name)
	case "AWS::IoT::Policy":
		return fmt.Sprintf("arn:%s:iot:%s:%s:policy/%s", p, reg, acct, name)
	case "AWS::IoT::Thing":
		return fmt.Sprintf("arn:%s:iot:%s:%s:thing/%s", p, reg, acct, name)
	case "AWS::IoT::ProvisioningTemplate":
		return fmt.Sprintf("arn:%s:iot:%s:%s:provisioningtemplate/%s", p, reg, acct, name)
	}
	svc := strings.ToLower(strings.Split(r.Type, "::")[1])
	return fmt.Sprintf("arn:%s:%s:%s:%s:%s/%s", p, svc, reg, acct, strings.ToLower(strings.Split(r.Type, "::")[2]), name)
}
