// Package iameval decides whether one AWS request is allowed by the identity, resource and key
// policies of synthesized templates. It covers exactly the policy grammar the platform's
// templates use (explicit Deny, Allow, NotAction, NotPrincipal, NotResource, the String, Arn,
// Bool, Numeric and Null condition operators with their IfExists and ForAllValues/ForAnyValue
// forms, service principals) and refuses anything else with an error, so an unknown construct
// can never read as "allowed" or "refused" by accident.
//
// The evaluation follows the IAM policy evaluation logic for a single account
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html):
// an explicit Deny in any applicable policy wins; otherwise a same-account IAM principal is
// allowed by its identity policy or by the resource policy; a service principal or a foreign
// account needs the resource policy; and a KMS key is different: its key policy must allow the
// principal, or allow the account (root) and then the identity policy must allow too
// (https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html).
package iameval

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Principal is who makes a request.
type Principal struct {
	// Service is set for an AWS service principal ("cloudwatch.amazonaws.com").
	Service string
	// ARN is an IAM principal's ARN (a role's ARN for its sessions, as aws:PrincipalArn).
	ARN string
	// Account is the principal's account (empty for a service principal).
	Account string
}

func (p Principal) String() string {
	if p.Service != "" {
		return p.Service
	}
	return p.ARN
}

// Request is one API call.
type Request struct {
	Principal Principal
	Action    string
	Resource  string
	// Context holds request condition keys (aws:SourceArn, kms:ViaService, ...). The global
	// keys aws:PrincipalArn, aws:PrincipalAccount, aws:PrincipalIsAWSService and
	// aws:SecureTransport (true: every platform caller uses TLS) are added by Evaluate.
	Context map[string][]string
}

// Statement is one parsed policy statement. Values are resolved strings.
type Statement struct {
	Sid                           string
	Effect                        string
	Principal, NotPrincipal       map[string][]string // "AWS", "Service"; {"*": ...} for Principal "*"
	HasPrincipal, HasNotPrincipal bool
	Action, NotAction             []string
	Resource, NotResource         []string
	HasResource, HasNotResource   bool
	Condition                     map[string]map[string][]string
	Where                         string // where the statement comes from, for messages
}

// Policy is a list of statements.
type Policy []Statement

// ParsePolicy reads a resolved policy document (strings, lists and maps only).
func ParsePolicy(doc any, where string) (Policy, error) {
	m, ok := doc.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: policy document is %T, want an object", where, doc)
	}
	var out Policy
	sts := m["Statement"]
	list, ok := sts.([]any)
	if !ok {
		list = []any{sts}
	}
	for i, raw := range list {
		sm, ok := raw.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: statement %d is %T", where, i, raw)
		}
		st := Statement{Where: fmt.Sprintf("%s statement %d", where, i)}
		for k, v := range sm {
			var err error
			switch k {
			case "Sid":
				st.Sid, _ = v.(string)
				st.Where = fmt.Sprintf("%s statement %q", where, st.Sid)
			case "Effect":
				st.Effect, _ = v.(string)
			case "Principal":
				st.HasPrincipal = true
				st.Principal, err = principals(v)
			case "NotPrincipal":
				st.HasNotPrincipal = true
				st.NotPrincipal, err = principals(v)
			case "Action":
				st.Action, err = strs(v)
			case "NotAction":
				st.NotAction, err = strs(v)
			case "Resource":
				st.HasResource = true
				st.Resource, err = strs(v)
			case "NotResource":
				st.HasNotResource = true
				st.NotResource, err = strs(v)
			case "Condition":
				st.Condition, err = conditions(v)
			default:
				err = fmt.Errorf("unsupported element %q", k)
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %w", st.Where, k, err)
			}
		}
		if st.Effect != "Allow" && st.Effect != "Deny" {
			return nil, fmt.Errorf("%s: Effect %q, want Allow or Deny", st.Where, st.Effect)
		}
		out = append(out, st)
	}
	return out, nil
}

func strs(v any) ([]string, error) {
	switch x := v.(type) {
	case string:
		return []string{x}, nil
	case bool:
		return []string{strconv.FormatBool(x)}, nil
	case float64:
		return []string{strconv.FormatFloat(x, 'f', -1, 64)}, nil
	case []any:
		var out []string
		for _, e := range x {
			s, err := strs(e)
			if err != nil {
				return nil, err
			}
			out = append(out, s...)
		}
		return out, nil
	case []string:
		return x, nil
	}
	return nil, fmt.Errorf("value %v (%T) is not a string or list of strings", v, v)
}

func principals(v any) (map[string][]string, error) {
	if s, ok := v.(string); ok {
		if s != "*" {
			return nil, fmt.Errorf("principal %q: only \"*\" may be a bare string", s)
		}
		return map[string][]string{"*": {"*"}}, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("principal %v (%T)", v, v)
	}
	out := map[string][]string{}
	for k, e := range m {
		if k != "AWS" && k != "Service" {
			return nil, fmt.Errorf("principal type %q not supported", k)
		}
		s, err := strs(e)
		if err != nil {
			return nil, err
		}
		out[k] = s
	}
	return out, nil
}

func conditions(v any) (map[string]map[string][]string, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("condition %v (%T)", v, v)
	}
	out := map[string]map[string][]string{}
	for op, keys := range m {
		if _, _, _, err := parseOperator(op); err != nil {
			return nil, err
		}
		km, ok := keys.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("condition %s: %v (%T)", op, keys, keys)
		}
		out[op] = map[string][]string{}
		for k, val := range km {
			s, err := strs(val)
			if err != nil {
				return nil, fmt.Errorf("condition %s %s: %w", op, k, err)
			}
			// Condition keys are case-insensitive (IAM JSON policy reference, Condition).
			out[op][strings.ToLower(k)] = s
		}
	}
	return out, nil
}

// Decision is the outcome of Evaluate.
type Decision struct {
	Allowed bool
	// Reason says which statement decided, or why nothing allowed.
	Reason string
	// By are the statements (their Where) that allowed the request.
	By []string
}

// Target is the resource side of a request.
type Target struct {
	// Policy is the resource policy (bucket, queue, topic policy, the Lambda permissions, a
	// key policy); nil when the resource has none.
	Policy Policy
	// KMS marks a key: its key policy is required and an IAM allow counts only when the key
	// policy allows the account.
	KMS bool
}

// Evaluate decides req. identity is the caller's identity policies (nil for a service
// principal); a principal of another account is given identity (its own account's policies are
// out of sight, so they are assumed to allow).
func Evaluate(req Request, identity []Policy, target Target, account string) (Decision, error) {
	ctx := withGlobals(req)
	sameAccount := req.Principal.Service == "" && req.Principal.Account == account
	foreign := req.Principal.Service == "" && !sameAccount

	var identityAllow string
	for _, p := range identity {
		for _, st := range p {
			hit, err := matches(st, req, ctx, false)
			if err != nil {
				return Decision{}, err
			}
			if !hit {
				continue
			}
			if st.Effect == "Deny" {
				return Decision{Allowed: false, Reason: "explicit deny: " + st.Where}, nil
			}
			if identityAllow == "" {
				identityAllow = st.Where
			}
		}
	}
	if foreign {
		identityAllow = "the foreign account's own policies (assumed to allow)"
	}
	var direct, delegated string
	for _, st := range target.Policy {
		hit, err := matches(st, req, ctx, true)
		if err != nil {
			return Decision{}, err
		}
		if !hit {
			continue
		}
		if st.Effect == "Deny" {
			return Decision{Allowed: false, Reason: "explicit deny: " + st.Where}, nil
		}
		if isAccountDelegation(st, req.Principal) {
			if delegated == "" {
				delegated = st.Where
			}
		} else if direct == "" {
			direct = st.Where
		}
	}
	switch {
	case direct != "":
		return Decision{true, "allowed by " + direct, []string{direct}}, nil
	case delegated != "" && identityAllow != "":
		return Decision{true, "allowed by " + identityAllow + " (delegated by " + delegated + ")", []string{identityAllow, delegated}}, nil
	case target.KMS && identityAllow != "":
		return Decision{Allowed: false, Reason: "the key policy does not allow the account, so " + identityAllow + " does not count"}, nil
	case target.KMS:
		return Decision{Allowed: false, Reason: "no key policy statement allows " + req.Principal.String()}, nil
	case sameAccount && identityAllow != "":
		return Decision{true, "allowed by " + identityAllow, []string{identityAllow}}, nil
	case req.Principal.Service != "":
		return Decision{Allowed: false, Reason: "no resource policy statement allows " + req.Principal.Service}, nil
	case foreign:
		return Decision{Allowed: false, Reason: "no resource policy statement allows account " + req.Principal.Account}, nil
	}
	return Decision{Allowed: false, Reason: "no identity or resource policy statement allows it"}, nil
}

func withGlobals(req Request) map[string][]string {
	ctx := map[string][]string{"aws:SecureTransport": {"true"}}
	if req.Principal.Service != "" {
		ctx["aws:PrincipalIsAWSService"] = []string{"true"}
	} else {
		ctx["aws:PrincipalIsAWSService"] = []string{"false"}
		ctx["aws:PrincipalArn"] = []string{req.Principal.ARN}
		ctx["aws:PrincipalAccount"] = []string{req.Principal.Account}
	}
	for k, v := range req.Context {
		ctx[k] = v
	}
	lower := make(map[string][]string, len(ctx))
	for k, v := range ctx {
		lower[strings.ToLower(k)] = v
	}
	return lower
}

// isAccountDelegation reports whether an Allow statement names the principal only through
// its account ("arn:...:iam::<acct>:root" or the bare account id): the account delegates to
// IAM, so the principal's identity policy must allow too.
func isAccountDelegation(st Statement, p Principal) bool {
	if p.Service != "" || !st.HasPrincipal {
		return false
	}
	for _, a := range st.Principal["AWS"] {
		if a == p.ARN {
			return false
		}
	}
	for _, a := range st.Principal["AWS"] {
		if a == p.Account || a == "arn:aws:iam::"+p.Account+":root" || strings.HasSuffix(a, ":iam::"+p.Account+":root") {
			return true
		}
	}
	return false
}

func matches(st Statement, req Request, ctx map[string][]string, resourcePolicy bool) (bool, error) {
	if resourcePolicy {
		switch {
		case st.HasPrincipal:
			if !principalIn(st.Principal, req.Principal) {
				return false, nil
			}
		case st.HasNotPrincipal:
			if principalIn(st.NotPrincipal, req.Principal) {
				return false, nil
			}
		default:
			return false, fmt.Errorf("%s: a resource policy statement without Principal", st.Where)
		}
	}
	if len(st.Action) > 0 && !anyMatch(st.Action, req.Action, true) {
		return false, nil
	}
	if len(st.NotAction) > 0 && anyMatch(st.NotAction, req.Action, true) {
		return false, nil
	}
	if st.HasResource && !anyMatch(st.Resource, req.Resource, false) {
		return false, nil
	}
	if st.HasNotResource && anyMatch(st.NotResource, req.Resource, false) {
		return false, nil
	}
	ops := make([]string, 0, len(st.Condition))
	for op := range st.Condition {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	for _, op := range ops {
		for key, want := range st.Condition[op] {
			ok, err := condition(op, ctx[key], want)
			if err != nil {
				return false, fmt.Errorf("%s: %w", st.Where, err)
			}
			if !ok {
				return false, nil
			}
		}
	}
	return true, nil
}

func principalIn(set map[string][]string, p Principal) bool {
	if _, ok := set["*"]; ok {
		return true
	}
	for _, a := range set["AWS"] {
		// "AWS": "*" matches every principal, services included (IAM, Principal element).
		if a == "*" {
			return true
		}
		if p.Service != "" {
			continue
		}
		if a == p.ARN || a == p.Account || strings.HasSuffix(a, ":iam::"+p.Account+":root") {
			return true
		}
	}
	for _, s := range set["Service"] {
		if p.Service != "" && s == p.Service {
			return true
		}
	}
	return false
}

func anyMatch(patterns []string, value string, fold bool) bool {
	for _, p := range patterns {
		if fold {
			if Wildcard(strings.ToLower(p), strings.ToLower(value)) {
				return true
			}
		} else if Wildcard(p, value) {
			return true
		}
	}
	return false
}

// Wildcard matches value against an IAM pattern: * is any run (including none), ? one
// character.
func Wildcard(pattern, value string) bool {
	p, v := 0, 0
	star, mark := -1, 0
	for v < len(value) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == value[v]):
			p++
			v++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, v
			p++
		case star >= 0:
			p = star + 1
			mark++
			v = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// parseOperator splits "ForAllValues:StringEqualsIfExists" into its set qualifier, base
// operator and IfExists flag, and refuses operators outside the supported grammar.
func parseOperator(op string) (set, base string, ifExists bool, err error) {
	base = op
	if i := strings.Index(op, ":"); i >= 0 {
		set, base = op[:i], op[i+1:]
		if set != "ForAllValues" && set != "ForAnyValue" {
			return "", "", false, fmt.Errorf("condition operator %q: unknown qualifier %q", op, set)
		}
	}
	if strings.HasSuffix(base, "IfExists") && base != "Null" {
		ifExists = true
		base = strings.TrimSuffix(base, "IfExists")
	}
	if _, ok := operators[base]; !ok {
		return "", "", false, fmt.Errorf("condition operator %q is not supported by this evaluator", op)
	}
	return set, base, ifExists, nil
}

type operator struct {
	negated bool
	match   func(have, want string) bool
}

func numeric(cmp func(a, b float64) bool) func(have, want string) bool {
	return func(have, want string) bool {
		a, err1 := strconv.ParseFloat(have, 64)
		b, err2 := strconv.ParseFloat(want, 64)
		return err1 == nil && err2 == nil && cmp(a, b)
	}
}

var operators = map[string]operator{
	"StringEquals":              {false, func(h, w string) bool { return h == w }},
	"StringNotEquals":           {true, func(h, w string) bool { return h == w }},
	"StringEqualsIgnoreCase":    {false, strings.EqualFold},
	"StringNotEqualsIgnoreCase": {true, strings.EqualFold},
	"StringLike":                {false, func(h, w string) bool { return Wildcard(w, h) }},
	"StringNotLike":             {true, func(h, w string) bool { return Wildcard(w, h) }},
	// ArnEquals and ArnLike both match with wildcards (IAM condition operators reference).
	"ArnEquals":                {false, func(h, w string) bool { return Wildcard(w, h) }},
	"ArnLike":                  {false, func(h, w string) bool { return Wildcard(w, h) }},
	"ArnNotEquals":             {true, func(h, w string) bool { return Wildcard(w, h) }},
	"ArnNotLike":               {true, func(h, w string) bool { return Wildcard(w, h) }},
	"Bool":                     {false, strings.EqualFold},
	"NumericEquals":            {false, numeric(func(a, b float64) bool { return a == b })},
	"NumericNotEquals":         {true, numeric(func(a, b float64) bool { return a == b })},
	"NumericLessThan":          {false, numeric(func(a, b float64) bool { return a < b })},
	"NumericLessThanEquals":    {false, numeric(func(a, b float64) bool { return a <= b })},
	"NumericGreaterThan":       {false, numeric(func(a, b float64) bool { return a > b })},
	"NumericGreaterThanEquals": {false, numeric(func(a, b float64) bool { return a >= b })},
	"Null":                     {},
}

// condition evaluates one operator and key: have are the request's values (nil when the key
// is absent), want the policy's values.
func condition(op string, have, want []string) (bool, error) {
	set, base, ifExists, err := parseOperator(op)
	if err != nil {
		return false, err
	}
	if base == "Null" {
		if len(want) != 1 {
			return false, fmt.Errorf("condition operator Null wants one value, got %v", want)
		}
		absent := len(have) == 0
		return strconv.FormatBool(absent) == strings.ToLower(want[0]), nil
	}
	o := operators[base]
	if len(have) == 0 {
		switch {
		case ifExists:
			return true, nil
		case set == "ForAllValues":
			// ForAllValues over an absent key is true (documented trap).
			return true, nil
		case o.negated && set == "":
			// A negated operator is true when the key is absent.
			return true, nil
		}
		return false, nil
	}
	one := func(h string) bool {
		for _, w := range want {
			if o.match(h, w) {
				return true
			}
		}
		return false
	}
	switch set {
	case "ForAllValues":
		for _, h := range have {
			hit := one(h)
			if o.negated {
				hit = !hit
			}
			if !hit {
				return false, nil
			}
		}
		return true, nil
	default: // single-valued or ForAnyValue: any value matches
		matched := false
		for _, h := range have {
			if one(h) {
				matched = true
			}
		}
		if o.negated {
			return !matched, nil
		}
		return matched, nil
	}
}
