package fleetspec

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// ValidateParams checks an operator command's parameters, as decoded from JSON, against the
// command's declared params: every problem is reported (errors.Join) in words an operator can
// act on, for example `param "level": 120 is above the maximum 100`. Unknown params are
// errors: a device must never receive an argument nobody declared.
func (c Command) ValidateParams(params map[string]any) error {
	var errs []error
	declared := make(map[string]bool, len(c.Params))
	for _, p := range c.Params {
		declared[p.Name] = true
		v, ok := params[p.Name]
		if !ok {
			if p.Required {
				errs = append(errs, fmt.Errorf("param %q is required", p.Name))
			}
			continue
		}
		if err := checkValue(p, v); err != nil {
			errs = append(errs, fmt.Errorf("param %q: %w", p.Name, err))
		}
	}
	var unknown []string
	for name := range params {
		if !declared[name] {
			unknown = append(unknown, name)
		}
	}
	slices.Sort(unknown)
	for _, name := range unknown {
		errs = append(errs, fmt.Errorf("unknown param %q for command %q", name, c.Name))
	}
	return errors.Join(errs...)
}

// checkValue checks one decoded JSON value against a field's type and bounds.
func checkValue(f Field, v any) error {
	switch f.Type {
	case TypeNumber, TypeInteger:
		x, text, ok := number(v)
		if !ok {
			return fmt.Errorf("expected %s, got %s", article(f.Type), describeValue(v))
		}
		if f.Type == TypeInteger && x != math.Trunc(x) {
			return fmt.Errorf("%s is not a whole number", text)
		}
		if f.Min != nil && x < *f.Min {
			return fmt.Errorf("%s is below the minimum %s", text, num(*f.Min))
		}
		if f.Max != nil && x > *f.Max {
			return fmt.Errorf("%s is above the maximum %s", text, num(*f.Max))
		}
	case TypeString:
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("expected a string, got %s", describeValue(v))
		}
		if len(s) > f.StringLimit() {
			return fmt.Errorf("%d bytes is above the maximum length %d", len(s), f.StringLimit())
		}
		if len(f.Enum) > 0 && !slices.Contains(f.Enum, s) {
			return fmt.Errorf("%q is not one of %s", s, quoteAll(f.Enum))
		}
	case TypeBoolean:
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("expected true or false, got %s", describeValue(v))
		}
	default:
		return fmt.Errorf("unknown field type %q", f.Type)
	}
	return nil
}

// number accepts what JSON decoders produce (float64, json.Number) and Go integers, and
// rejects NaN and infinities, which JSON cannot carry.
func number(v any) (float64, string, bool) {
	var x float64
	switch n := v.(type) {
	case float64:
		x = n
	case float32:
		x = float64(n)
	case int:
		x = float64(n)
	case int64:
		x = float64(n)
	case int32:
		x = float64(n)
	case json.Number:
		f, err := strconv.ParseFloat(n.String(), 64)
		if err != nil {
			return 0, "", false
		}
		return f, n.String(), true
	default:
		return 0, "", false
	}
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0, "", false
	}
	return x, num(x), true
}

func article(t FieldType) string {
	if t == TypeInteger {
		return "an integer"
	}
	return "a number"
}

func describeValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return "string " + strconv.Quote(x)
	case bool:
		return strconv.FormatBool(x)
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	}
	if _, text, ok := number(v); ok {
		return "number " + text
	}
	return fmt.Sprintf("%T", v)
}

func quoteAll(values []string) string {
	q := make([]string, len(values))
	for i, v := range values {
		q[i] = strconv.Quote(v)
	}
	return strings.Join(q, ", ")
}
