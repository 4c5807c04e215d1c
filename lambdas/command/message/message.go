// Package message is the contract between the command processor and devices: the JSON a
// command carries on a thing's command topic, how its parameters are validated against the
// device class, and which state fields a command sets (the shadow's desired and reported keys).
package message

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/secure-smart-city/platform/fleetspec"
)

// Command is the message published at QoS 1 to topics.Command(thing).
type Command struct {
	// ID identifies the command across the API response, the audit record and the device's log.
	ID string `json:"commandId"`
	// Name is one of the thing's class's commands, for example "set-light".
	Name   string         `json:"command"`
	Params map[string]any `json:"params,omitempty"`
	// IssuedAt is when the API accepted the command, in Unix milliseconds; a device may drop
	// commands that arrive too late to matter.
	IssuedAt int64 `json:"issuedAt"`
}

// Parse decodes a command message, keeping numbers exact (json.Number) until validation.
func Parse(data []byte) (Command, error) {
	var c Command
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&c); err != nil {
		return Command{}, fmt.Errorf("decode command message: %w", err)
	}
	if c.Name == "" {
		return Command{}, fmt.Errorf("decode command message: no command name")
	}
	return c, nil
}

// FindCommand returns the class's command named name.
func FindCommand(class fleetspec.DeviceClass, name string) (fleetspec.Command, bool) {
	for _, c := range class.Commands {
		if c.Name == name {
			return c, true
		}
	}
	return fleetspec.Command{}, false
}

// defaultMaxLength is a string parameter's length bound when the fleet file sets none, the same
// default the fleet file documents for fields.
const defaultMaxLength = 256

// Validate checks params against the command's declared parameters: no unknown keys, every
// required one present, each value of its type and within its bounds or enum. It returns the
// params normalized (integers as int64, numbers as float64) so that what is published, stored
// and audited is the validated value, not the caller's spelling of it. Error messages name the
// parameter and the offending value.
func Validate(cmd fleetspec.Command, params map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(params))
	declared := make(map[string]fleetspec.Field, len(cmd.Params))
	for _, p := range cmd.Params {
		declared[p.Name] = p
	}
	// Sorted so that the error for several bad keys is stable.
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		f, ok := declared[k]
		if !ok {
			names := make([]string, 0, len(cmd.Params))
			for _, p := range cmd.Params {
				names = append(names, p.Name)
			}
			if len(names) == 0 {
				return nil, fmt.Errorf("command %s takes no parameters, got %q", cmd.Name, k)
			}
			return nil, fmt.Errorf("command %s has no parameter %q (allowed: %s)", cmd.Name, k, strings.Join(names, ", "))
		}
		v, err := checkValue(f, params[k])
		if err != nil {
			return nil, fmt.Errorf("command %s: parameter %q: %w", cmd.Name, k, err)
		}
		out[k] = v
	}
	for _, p := range cmd.Params {
		if _, ok := params[p.Name]; p.Required && !ok {
			return nil, fmt.Errorf("command %s: missing required parameter %q", cmd.Name, p.Name)
		}
	}
	return out, nil
}

func checkValue(f fleetspec.Field, v any) (any, error) {
	switch f.Type {
	case fleetspec.TypeBoolean:
		b, ok := v.(bool)
		if !ok {
			return nil, fmt.Errorf("value %s is not a boolean", show(v))
		}
		return b, nil
	case fleetspec.TypeString:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("value %s is not a string", show(v))
		}
		maxLen := f.MaxLength
		if maxLen <= 0 {
			maxLen = defaultMaxLength
		}
		if len(s) > maxLen {
			return nil, fmt.Errorf("value of %d bytes is longer than %d", len(s), maxLen)
		}
		if !utf8.ValidString(s) {
			return nil, fmt.Errorf("value %s is not valid UTF-8", show(v))
		}
		if len(f.Enum) > 0 && !slices.Contains(f.Enum, s) {
			return nil, fmt.Errorf("value %s is not one of %s", show(v), strings.Join(f.Enum, ", "))
		}
		return s, nil
	case fleetspec.TypeNumber, fleetspec.TypeInteger:
		x, ok := toFloat(v)
		if !ok {
			return nil, fmt.Errorf("value %s is not a number", show(v))
		}
		if f.Min != nil && x < *f.Min {
			return nil, fmt.Errorf("value %s is below the minimum %v", show(v), *f.Min)
		}
		if f.Max != nil && x > *f.Max {
			return nil, fmt.Errorf("value %s is above the maximum %v", show(v), *f.Max)
		}
		if f.Type == fleetspec.TypeInteger {
			// 2^53 bounds the integers a float64 (and most JSON readers) holds exactly.
			if x != math.Trunc(x) || math.Abs(x) > 1<<53 {
				return nil, fmt.Errorf("value %s is not an integer", show(v))
			}
			return int64(x), nil
		}
		return x, nil
	}
	return nil, fmt.Errorf("unsupported parameter type %q", f.Type)
}

func toFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case json.Number:
		x, err := n.Float64()
		return x, err == nil && !math.IsInf(x, 0) && !math.IsNaN(x)
	case float64:
		return n, !math.IsInf(n, 0) && !math.IsNaN(n)
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	}
	return 0, false
}

// show renders a value for an error message, bounded so a huge value cannot flood a response.
func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%v", v)
	}
	const limit = 64
	if len(b) > limit {
		return string(b[:limit]) + "..."
	}
	return string(b)
}

// StateChanges returns the state fields a validated command sets, keyed by the class's
// telemetry field names: a parameter sets the field of the same name ("set-light" {"on": true}
// sets "on"); a command "set-X" with a single parameter that names no field sets field X
// ("set-brightness" {"level": 40} sets "brightness"). The command processor writes these as the
// shadow's desired state and the device reports them, so desired and reported converge. An
// empty result means the command changes no state (a "reboot", say).
func StateChanges(class fleetspec.DeviceClass, command string, params map[string]any) map[string]any {
	fields := make(map[string]bool, len(class.Fields))
	for _, f := range class.Fields {
		fields[f.Name] = true
	}
	out := map[string]any{}
	for k, v := range params {
		if fields[k] {
			out[k] = v
		}
	}
	if len(out) == 0 && len(params) == 1 {
		if target, ok := strings.CutPrefix(command, "set-"); ok {
			target = strings.ReplaceAll(target, "-", "_")
			if fields[target] {
				for _, v := range params {
					out[target] = v
				}
			}
		}
	}
	return out
}
