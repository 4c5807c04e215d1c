package compliance

import (
	"errors"
	"fmt"
	"strings"

	"github.com/secure-smart-city/platform/compliance/iameval"
)

// Flow is one row of the flow table: who calls what at run time, and whether the synthesized
// identity, resource and key policies must allow it (Allow) or refuse it.
type Flow struct {
	ID    string
	From  string
	To    string
	Allow bool
	// Cases finds the flow's concrete instances in the templates. A flow that finds none fails:
	// the table no longer describes the app.
	Cases func(w *World) ([]Case, error)
}

// FlowResult is a flow's verdict.
type FlowResult struct {
	Flow
	Cases int
	// Failures are the cases whose outcome differs from the table, with the deciding reason.
	Failures []string
	// NotApplicable: the synth holds none of the flow's resources (an app of single
	// constructs). The synth-time check skips such rows; the platform's tests require every row
	// to apply (Holds is false for them).
	NotApplicable bool
	// AllowedBy are the statements that allowed the first case's steps (allowed flows).
	AllowedBy []string
}

// Holds reports whether every case of the flow came out as the table says.
func (r FlowResult) Holds() bool { return len(r.Failures) == 0 && r.Cases > 0 }

// Verdict is "allowed" or "refused" when the flow holds, else "FAILS".
func (r FlowResult) Verdict() string {
	switch {
	case r.NotApplicable:
		return "n/a"
	case !r.Holds():
		return "FAILS"
	case r.Allow:
		return "allowed"
	}
	return "refused"
}

// EvaluateFlows runs the flow table over every stack of one synth.
func EvaluateFlows(stacks []StackTemplate) ([]FlowResult, error) {
	return EvaluateFlowsWithout(stacks, nil)
}

// EvaluateFlowsWithout runs the flow table with the named statements removed from every
// policy (their Where, as FlowResult.AllowedBy reports them): the weakening proofs.
func EvaluateFlowsWithout(stacks []StackTemplate, without map[string]bool) ([]FlowResult, error) {
	w, err := NewWorld(stacks)
	if err != nil {
		return nil, err
	}
	w.Without = without
	var out []FlowResult
	for _, f := range Flows {
		res := FlowResult{Flow: f}
		cases, err := f.Cases(w)
		if errors.Is(err, errAbsent) || (err == nil && len(cases) == 0) {
			res.NotApplicable = true
			res.Failures = append(res.Failures, "no instance of this flow in the templates")
			out = append(out, res)
			continue
		}
		if err != nil {
			res.Failures = append(res.Failures, err.Error())
			out = append(out, res)
			continue
		}
		res.Cases = len(cases)
		for _, c := range cases {
			allowed, reason := true, ""
			for _, s := range c.Steps {
				d, err := w.Decide(s)
				if err != nil {
					allowed, reason = !f.Allow, err.Error()
					break
				}
				if f.Allow && len(res.AllowedBy) < 64 && c.Name == cases[0].Name {
					res.AllowedBy = append(res.AllowedBy, d.By...)
				}
				if !d.Allowed {
					allowed = false
					reason = fmt.Sprintf("%s %s on %s: %s", s.Caller.Label, s.Action, s.Resource, d.Reason)
					break
				}
				if !f.Allow {
					reason = fmt.Sprintf("%s %s on %s: %s", s.Caller.Label, s.Action, s.Resource, d.Reason)
				}
			}
			if allowed != f.Allow {
				want := "refused"
				if f.Allow {
					want = "allowed"
				}
				res.Failures = append(res.Failures, fmt.Sprintf("%s: want %s: %s", c.Name, want, reason))
			}
		}
		out = append(out, res)
	}
	return out, nil
}

// CheckFlows is the synth-time check: one line per flow whose outcome differs from the table.
func CheckFlows(stacks []StackTemplate) []string {
	results, err := EvaluateFlows(stacks)
	if err != nil {
		return []string{err.Error()}
	}
	var out []string
	for _, r := range results {
		if r.NotApplicable {
			continue
		}
		for _, f := range r.Failures {
			out = append(out, fmt.Sprintf("flow %s (%s -> %s): %s", r.ID, r.From, r.To, f))
		}
	}
	return out
}

// FlowTable renders results as the README's Markdown table.
func FlowTable(results []FlowResult) string {
	var b strings.Builder
	b.WriteString("| flow | caller | target | must be | cases | verdict |\n|---|---|---|---|---|---|\n")
	for _, r := range results {
		must := "refused"
		if r.Allow {
			must = "allowed"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %d | %s |\n", r.ID, r.From, r.To, must, r.Cases, r.Verdict())
	}
	return b.String()
}

// ---- helpers shared by the rows ----

func (w *World) ctx(kv ...string) map[string][]string {
	m := map[string][]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = append(m[kv[i]], kv[i+1])
	}
	return m
}

// functionRole is the execution role of function fn.
func (w *World) functionRole(fn Ref) (Caller, error) {
	c, _, err := w.roleCaller(fn.Stack, fn.Properties["Role"])
	if err != nil {
		return Caller{}, fmt.Errorf("function %s: %w", fn.ID, err)
	}
	c.Label = "function " + fn.ID
	return c, nil
}

// resourceAt finds the resource an intrinsic or ARN value names (for Fn::GetAtt and
// Fn::GetStackOutput values across stacks).
func (w *World) resourceAt(stack string, v any, typ string) (Ref, error) {
	s, err := w.Str(stack, v)
	if err != nil {
		return Ref{}, err
	}
	if r, err := w.byArn(s, typ); err == nil {
		return r, nil
	}
	for _, name := range w.order {
		for _, r := range w.Stacks[name].Template.Resources(typ) {
			if ref, err := w.ref(name, r.ID); err == nil && ref == s {
				return Ref{Stack: name, Resource: r}, nil
			}
		}
	}
	return Ref{}, fmt.Errorf("flows: %s: %v names no %s", stack, v, typ)
}

// sendToQueue is a role (or service) sending to queue q, encrypting through SQS.
func (w *World) sendToQueue(c Caller, q Ref, ctx map[string][]string) ([]Step, error) {
	s, err := w.step(c, "sqs:SendMessage", q, "", ctx)
	if err != nil {
		return nil, err
	}
	via := "sqs"
	if c.Principal.Service != "" {
		via = ""
	}
	ks, err := w.keySteps(c, q, via, ctx, "kms:GenerateDataKey", "kms:Decrypt")
	return append([]Step{s}, ks...), err
}

// assume is a service assuming role r (its trust policy decides).
func (w *World) assume(service string, role Ref, ctx map[string][]string) (Step, error) {
	return w.step(w.service(service), "sts:AssumeRole", role, "", ctx)
}

func fnByPrefix(w *World, prefix string) (Ref, Caller, error) {
	fn, err := w.One("AWS::Lambda::Function", prefix)
	if err != nil {
		return Ref{}, Caller{}, err
	}
	c, err := w.functionRole(fn)
	return fn, c, err
}

func single(name string, steps ...Step) []Case { return []Case{{Name: name, Steps: steps}} }

// alarmTopicCases are the publications of every alarm action that is an SNS topic, as
// CloudWatch makes them: principal cloudwatch.amazonaws.com with the alarm as source.
func alarmTopicCases(w *World, account string, rename func(string) string) ([]Case, error) {
	var out []Case
	for _, a := range w.Find("AWS::CloudWatch::Alarm", "") {
		arn, err := w.Arn(a)
		if err != nil {
			return nil, err
		}
		if rename != nil {
			arn = rename(arn)
		}
		ctx := w.ctx("aws:SourceArn", arn, "aws:SourceAccount", account)
		for _, prop := range []string{"AlarmActions", "OKActions", "InsufficientDataActions"} {
			for i, act := range List(a.Properties[prop]) {
				topicArn, err := w.Str(a.Stack, act)
				if err != nil {
					return nil, err
				}
				if !strings.HasPrefix(topicArn, "arn:"+w.Partition+":sns:") {
					continue
				}
				topic, err := w.byArn(topicArn, "AWS::SNS::Topic")
				if err != nil {
					return nil, err
				}
				cw := w.service("cloudwatch.amazonaws.com")
				pub, err := w.step(cw, "sns:Publish", topic, "", ctx)
				if err != nil {
					return nil, err
				}
				ks, err := w.keySteps(cw, topic, "", ctx, "kms:GenerateDataKey", "kms:Decrypt")
				if err != nil {
					return nil, err
				}
				out = append(out, Case{Name: fmt.Sprintf("%s %s[%d]", a.ID, prop, i), Steps: append([]Step{pub}, ks...)})
			}
		}
	}
	return out, nil
}

func alertTopic(w *World) (Ref, error) { return w.One("AWS::SNS::Topic", "AlertTopic") }

// publishAs is caller publishing to the alert topic through SNS (key use via SNS).
func publishAs(w *World, c Caller) ([]Step, error) {
	t, err := alertTopic(w)
	if err != nil {
		return nil, err
	}
	s, err := w.step(c, "sns:Publish", t, "", nil)
	if err != nil {
		return nil, err
	}
	ks, err := w.keySteps(c, t, "sns", nil, "kms:GenerateDataKey", "kms:Decrypt")
	return append([]Step{s}, ks...), err
}

// admin is a same-account principal whose identity policy allows everything: what an
// operator's or a compromised workload's broad role looks like.
func (w *World) admin(name string) Caller {
	all := iameval.Policy{{Effect: "Allow", Action: []string{"*"}, HasResource: true, Resource: []string{"*"}, Where: name + " identity policy (allows *)"}}
	return Caller{Principal: iameval.Principal{ARN: "arn:" + w.Partition + ":iam::" + w.Account + ":role/" + name, Account: w.Account},
		Identity: []iameval.Policy{all}, Label: "role " + name}
}

func (w *World) foreign(name string) Caller {
	return Caller{Principal: iameval.Principal{ARN: "arn:" + w.Partition + ":iam::" + ForeignAccount + ":role/" + name, Account: ForeignAccount},
		Label: "foreign role " + name}
}
