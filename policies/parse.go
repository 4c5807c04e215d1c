package policies

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
)

type parsedStatement struct {
	st  Statement
	raw string // the statement's JSON as written
}

// parseDocument reads a policy document as it appears in a synthesized template: a JSON
// object (or its text). Statement may be one object or a list; Action a string or a list;
// Resource a string, an intrinsic or a list of them. Intrinsics are resolved as far as the
// resource type and name need:
//   - {"Fn::Sub": tmpl} or {"Fn::Sub": [tmpl, vars]}: "${!x}" is the literal "${x}" (an IoT
//     policy variable), "${AWS::Partition}" and the other pseudo parameters are placeholders,
//     "${Name}" takes vars[Name] if given;
//   - {"Fn::Join": [delim, parts]} with literal parts (where "${iot:...}" is a policy variable)
//     and intrinsic parts ({"Ref": "AWS::Region"}, ...).
//
// Any other reference (Ref, Fn::GetAtt, Fn::ImportValue, ...) stands for one opaque literal
// value: a parameter that resolves to a wildcard is not seen. A resource whose type cannot be
// read (a bare {"Ref": ...}) is an error, as are NotAction, NotResource, Principal and a
// Version other than 2012-10-17 (in which policy variables are literal text).
func parseDocument(raw any) ([]parsedStatement, error) {
	v, err := toJSONValue(raw)
	if err != nil {
		return nil, err
	}
	doc, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("policy document is %s, not a JSON object", kind(v))
	}
	for k := range doc {
		switch k {
		case "Version", "Statement", "Id":
		default:
			return nil, fmt.Errorf("policy document has unsupported key %q", k)
		}
	}
	if ver, _ := doc["Version"].(string); ver != Version {
		return nil, fmt.Errorf("policy document Version is %v, want %q (policy variables are literal text in other versions)", doc["Version"], Version)
	}
	var list []any
	switch s := doc["Statement"].(type) {
	case []any:
		list = s
	case map[string]any:
		list = []any{s}
	default:
		return nil, fmt.Errorf("policy document Statement is %s, want an object or a list", kind(doc["Statement"]))
	}
	out := make([]parsedStatement, 0, len(list))
	for i, item := range list {
		st, err := parseStatement(item)
		if err != nil {
			return nil, fmt.Errorf("statement %d: %w", i, err)
		}
		b, err := json.Marshal(item)
		if err != nil {
			return nil, fmt.Errorf("statement %d: %w", i, err)
		}
		out = append(out, parsedStatement{st, string(b)})
	}
	return out, nil
}

// toJSONValue turns raw (JSON text, or Go values as a resolved template holds them) into the
// values encoding/json decodes into, numbers as json.Number.
func toJSONValue(raw any) (any, error) {
	var data []byte
	switch r := raw.(type) {
	case nil:
		return nil, errors.New("policy document is empty")
	case string:
		data = []byte(r)
	case []byte:
		data = r
	case json.RawMessage:
		data = r
	default:
		b, err := json.Marshal(raw)
		if err != nil {
			return nil, fmt.Errorf("policy document is not JSON: %w", err)
		}
		data = b
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("policy document is not JSON: %w", err)
	}
	return v, nil
}

func parseStatement(item any) (Statement, error) {
	m, ok := item.(map[string]any)
	if !ok {
		return Statement{}, fmt.Errorf("statement is %s, not an object", kind(item))
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch k {
		case "Sid", "Effect", "Action", "Resource", "Condition":
		case "NotAction", "NotResource", "Principal", "NotPrincipal":
			return Statement{}, fmt.Errorf("statement key %s is not supported by the policy checks: write the statement with Action and Resource", k)
		default:
			return Statement{}, fmt.Errorf("unsupported statement key %q", k)
		}
	}
	var st Statement
	if sid, ok := m["Sid"]; ok {
		s, ok := sid.(string)
		if !ok {
			return Statement{}, fmt.Errorf("statement Sid is %s, not a string", kind(sid))
		}
		st.Sid = s
	}
	switch e := m["Effect"]; e {
	case string(Allow), string(Deny):
		st.Effect = Effect(e.(string))
	default:
		return Statement{}, fmt.Errorf("statement Effect is %v, want Allow or Deny", e)
	}
	actions, err := stringList(m["Action"], "Action")
	if err != nil {
		return Statement{}, err
	}
	st.Actions = actions
	var resources []any
	switch r := m["Resource"].(type) {
	case nil:
		return Statement{}, errors.New("statement has no Resource")
	case []any:
		resources = r
	default:
		resources = []any{r}
	}
	for _, r := range resources {
		res, err := resolveResource(r)
		if err != nil {
			return Statement{}, err
		}
		st.Resources = append(st.Resources, res)
	}
	if c, ok := m["Condition"]; ok {
		cond, err := parseConditions(c)
		if err != nil {
			return Statement{}, err
		}
		st.Conditions = cond
	}
	return st, nil
}

func stringList(v any, what string) ([]string, error) {
	switch x := v.(type) {
	case nil:
		return nil, fmt.Errorf("statement has no %s", what)
	case string:
		return []string{x}, nil
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("statement %s entry is %s, not a string", what, kind(e))
			}
			out = append(out, s)
		}
		return out, nil
	default:
		return nil, fmt.Errorf("statement %s is %s, want a string or a list of strings", what, kind(v))
	}
}

func parseConditions(v any) (Conditions, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("statement Condition is %s, not an object", kind(v))
	}
	out := Conditions{}
	for op, kv := range m {
		keys, ok := kv.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("statement Condition %s is %s, not an object", op, kind(kv))
		}
		out[op] = map[string][]string{}
		for k, val := range keys {
			var vals []any
			if list, ok := val.([]any); ok {
				vals = list
			} else {
				vals = []any{val}
			}
			for _, e := range vals {
				switch x := e.(type) {
				case string:
					out[op][k] = append(out[op][k], x)
				case bool:
					out[op][k] = append(out[op][k], fmt.Sprint(x))
				case json.Number:
					out[op][k] = append(out[op][k], x.String())
				default:
					return nil, fmt.Errorf("statement Condition %s %s value is %s", op, k, kind(e))
				}
			}
		}
	}
	return out, nil
}

// resolveResource turns one Resource entry into a relative resource.
func resolveResource(v any) (Resource, error) {
	s, err := resolveString(v)
	if err != nil {
		return "", err
	}
	return relativeResource(s)
}

// pseudo are the values placed for pseudo parameters: anything without ":" or "/" serves,
// since only the part after the ARN's fifth ":" is judged.
var pseudo = map[string]string{
	"AWS::Partition": "aws",
	"AWS::Region":    "region",
	"AWS::AccountId": "account",
	"AWS::URLSuffix": "amazonaws.com",
}

// placeholder stands for the value of a reference the checks cannot know.
func placeholder(name string) string {
	return "⟨" + strings.ReplaceAll(name, ":", ".") + "⟩"
}

func resolveString(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case map[string]any:
		if len(x) != 1 {
			return "", fmt.Errorf("resource %s is not a string or a single intrinsic function", compact(v))
		}
		for fn, arg := range x {
			switch fn {
			case "Ref":
				name, ok := arg.(string)
				if !ok {
					return "", fmt.Errorf("resource Ref %s is not a string", compact(arg))
				}
				if p, ok := pseudo[name]; ok {
					return p, nil
				}
				return placeholder(name), nil
			case "Fn::Sub":
				return resolveSub(arg)
			case "Fn::Join":
				return resolveJoin(arg)
			case "Fn::GetAtt":
				if parts, ok := arg.([]any); ok {
					names := make([]string, 0, len(parts))
					for _, p := range parts {
						names = append(names, fmt.Sprint(p))
					}
					return placeholder(strings.Join(names, ".")), nil
				}
				return placeholder(fmt.Sprint(arg)), nil
			default:
				return placeholder(fn), nil
			}
		}
	}
	return "", fmt.Errorf("resource %s is %s, not a string or an intrinsic function", compact(v), kind(v))
}

func resolveSub(arg any) (string, error) {
	var tmpl string
	vars := map[string]any{}
	switch a := arg.(type) {
	case string:
		tmpl = a
	case []any:
		if len(a) != 2 {
			return "", fmt.Errorf("resource Fn::Sub %s: want [template, variables]", compact(arg))
		}
		t, ok := a[0].(string)
		m, ok2 := a[1].(map[string]any)
		if !ok || !ok2 {
			return "", fmt.Errorf("resource Fn::Sub %s: want [template, variables]", compact(arg))
		}
		tmpl, vars = t, m
	default:
		return "", fmt.Errorf("resource Fn::Sub %s: want a template string", compact(arg))
	}
	var b strings.Builder
	for i := 0; i < len(tmpl); {
		if strings.HasPrefix(tmpl[i:], "${!") {
			b.WriteString("${")
			i += 3
			continue
		}
		if strings.HasPrefix(tmpl[i:], "${") {
			end := strings.IndexByte(tmpl[i:], '}')
			if end < 0 {
				return "", fmt.Errorf("resource Fn::Sub %q: unterminated ${", tmpl)
			}
			name := tmpl[i+2 : i+end]
			i += end + 1
			if val, ok := vars[name]; ok {
				s, err := resolveString(val)
				if err != nil {
					return "", err
				}
				b.WriteString(s)
			} else if p, ok := pseudo[name]; ok {
				b.WriteString(p)
			} else {
				b.WriteString(placeholder(name))
			}
			continue
		}
		b.WriteByte(tmpl[i])
		i++
	}
	return b.String(), nil
}

func resolveJoin(arg any) (string, error) {
	a, ok := arg.([]any)
	if !ok || len(a) != 2 {
		return "", fmt.Errorf("resource Fn::Join %s: want [delimiter, parts]", compact(arg))
	}
	delim, ok := a[0].(string)
	parts, ok2 := a[1].([]any)
	if !ok || !ok2 {
		return "", fmt.Errorf("resource Fn::Join %s: want [delimiter, parts]", compact(arg))
	}
	out := make([]string, 0, len(parts))
	for _, p := range parts {
		s, err := resolveString(p)
		if err != nil {
			return "", err
		}
		out = append(out, s)
	}
	return strings.Join(out, delim), nil
}

// relativeResource turns a resolved resource string into "<type>/<rest>" or "*": the part of
// an IoT ARN after "arn:<partition>:iot:<region>:<account>:". Strings without "arn:" are
// taken as already relative (the form MarshalJSON writes).
func relativeResource(s string) (Resource, error) {
	if s == "*" {
		return AnyResource, nil
	}
	if strings.HasPrefix(s, "arn:") {
		parts := strings.SplitN(s, ":", 6)
		if len(parts) < 6 {
			if hasWildcard(parts[len(parts)-1]) {
				return AnyResource, nil // "arn:aws:iot:*" matches every IoT resource
			}
			return "", fmt.Errorf("resource %q is not a valid ARN", s)
		}
		if !globFold(parts[2], "iot") {
			return Resource(s), nil // another service's ARN: the mismatch rule reports it
		}
		if parts[5] == "" {
			return "", fmt.Errorf("resource %q has no resource part", s)
		}
		s = parts[5]
	}
	typ := s
	if i := strings.IndexByte(s, '/'); i >= 0 {
		typ = s[:i]
	}
	if strings.Contains(typ, "⟨") {
		return "", fmt.Errorf("resource %q is an unresolved reference: the checks need the literal resource type (write it with Fn::Sub)", s)
	}
	return Resource(s), nil
}

func kind(v any) string {
	switch v.(type) {
	case nil:
		return "missing"
	case string:
		return "a string"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	default:
		return fmt.Sprintf("%T", v)
	}
}

func compact(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
