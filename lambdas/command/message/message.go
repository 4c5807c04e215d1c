// Package message is the contract between the command processor and devices: the JSON a
// command carries on a thing's command topic, how its parameters are validated against the
// device class, and which state fields a command sets (the shadow's desired and reported keys).
package message

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

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

// Validate checks params against the command's declared parameters with
// (fleetspec.Command).ValidateParams (no unknown keys, every required one present, each value of
// its type and within its bounds or enum) and returns them normalized: integers as int64,
// numbers as float64, so that what is published, stored and audited is the validated value,
// not the caller's spelling of it. Every problem is reported, separated by "; ", each naming
// the parameter and its value.
func Validate(cmd fleetspec.Command, params map[string]any) (map[string]any, error) {
	if err := cmd.ValidateParams(params); err != nil {
		return nil, errors.New(strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	out := make(map[string]any, len(params))
	for _, p := range cmd.Params {
		v, ok := params[p.Name]
		if !ok {
			continue
		}
		switch p.Type {
		case fleetspec.TypeInteger:
			x, _ := toFloat(v)
			out[p.Name] = int64(x)
		case fleetspec.TypeNumber:
			x, _ := toFloat(v)
			out[p.Name] = x
		default:
			out[p.Name] = v
		}
	}
	return out, nil
}

func toFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case json.Number:
		x, err := n.Float64()
		return x, err == nil
	case float64:
		return n, true
	case float32:
		return float64(n), true
	case int:
		return float64(n), true
	case int32:
		return float64(n), true
	case int64:
		return float64(n), true
	}
	return 0, false
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
