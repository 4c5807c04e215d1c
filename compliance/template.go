package compliance

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
)

// Template is a parsed CloudFormation template.
type Template map[string]any

// Resource is one resource of a template.
type Resource struct {
	ID         string
	Type       string
	Properties map[string]any
	Raw        map[string]any
}

// Load reads a template file.
func Load(path string) (Template, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var t Template
	if err := json.Unmarshal(data, &t); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// FromValue converts a template obtained from jsii (a map[string]any tree) into a Template.
func FromValue(v any) (Template, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var t Template
	return t, json.Unmarshal(data, &t)
}

// Resources returns the resources of the given type (all when typ is ""), ordered by id.
func (t Template) Resources(typ string) []Resource {
	res, _ := t["Resources"].(map[string]any)
	ids := make([]string, 0, len(res))
	for id := range res {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var out []Resource
	for _, id := range ids {
		r, _ := res[id].(map[string]any)
		rt, _ := r["Type"].(string)
		if typ != "" && rt != typ {
			continue
		}
		props, _ := r["Properties"].(map[string]any)
		if props == nil {
			props = map[string]any{}
		}
		out = append(out, Resource{ID: id, Type: rt, Properties: props, Raw: r})
	}
	return out
}

// Attr returns r's top-level resource attribute (DeletionPolicy, UpdateReplacePolicy, ...).
func (r Resource) Attr(name string) string {
	s, _ := r.Raw[name].(string)
	return s
}

// Get walks a path of map keys and list indexes through v.
func Get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		default:
			return nil
		}
	}
	return v
}

// List returns v as a list: a list as is, a single value as a one-element list, nil as empty.
func List(v any) []any {
	switch x := v.(type) {
	case nil:
		return nil
	case []any:
		return x
	default:
		return []any{x}
	}
}

// refersTo reports whether v is {"Ref": id} or {"Fn::GetAtt": [id, ...]}.
func refersTo(v any, id string) bool {
	if r, ok := Get(v, "Ref").(string); ok {
		return r == id
	}
	if g, ok := Get(v, "Fn::GetAtt", 0).(string); ok {
		return g == id
	}
	return false
}

// isCustomerManagedKey reports whether a KMS key reference names a customer-managed key: a
// reference to a key resource, an import of one, or a key ARN, never an AWS-managed alias.
func isCustomerManagedKey(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case string:
		return x != "" && !containsAWSManagedAlias(x)
	case map[string]any:
		if _, ok := x["Fn::GetAtt"]; ok {
			return true
		}
		if _, ok := x["Ref"]; ok {
			return true
		}
		if _, ok := x["Fn::ImportValue"]; ok {
			return true
		}
		if _, ok := x["Fn::GetStackOutput"]; ok {
			return true
		}
		if parts, ok := Get(x, "Fn::Join", 1).([]any); ok {
			for _, p := range parts {
				if s, ok := p.(string); ok && containsAWSManagedAlias(s) {
					return false
				}
			}
			return true
		}
	}
	return false
}

func containsAWSManagedAlias(s string) bool {
	for i := 0; i+10 <= len(s); i++ {
		if s[i:i+10] == "alias/aws/" {
			return true
		}
	}
	return false
}
