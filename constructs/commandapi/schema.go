package commandapi

import (
	"fmt"
	"reflect"
	"sort"

	"github.com/secure-smart-city/platform/fleetspec"
	"github.com/secure-smart-city/platform/lambdas/command/contract"
)

// Deliveries are the values of a command request's optional "delivery" key, as the command
// processor (lambdas/command) accepts them.
var Deliveries = []string{contract.DeliveryMQTT, contract.DeliveryShadow}

// SchemaDraft4 is the only JSON schema dialect API Gateway models accept.
const SchemaDraft4 = "http://json-schema.org/draft-04/schema#"

// CommandSchema is the JSON schema (draft 4) of a POST /devices/{thing}/commands body for the
// fleet: one branch per command name (oneOf), each allowing exactly "command", the optional
// "delivery" and "idempotencyKey", and that command's params with their types, bounds and enums. API Gateway checks
// it before the function runs; the function still checks the command against the thing's
// own class, which a schema cannot see. A command name that two classes define differently
// becomes one branch holding each definition (anyOf), so oneOf stays exclusive by name.
func CommandSchema(f *fleetspec.Fleet) (map[string]any, error) {
	if f == nil {
		return nil, fmt.Errorf("commandapi: no fleet")
	}
	variants := map[string][]map[string]any{}
	for _, c := range f.Classes {
		for _, cmd := range c.Commands {
			v, err := commandVariant(cmd)
			if err != nil {
				return nil, fmt.Errorf("commandapi: class %q command %q: %w", c.ID, cmd.Name, err)
			}
			if !containsSchema(variants[cmd.Name], v) {
				variants[cmd.Name] = append(variants[cmd.Name], v)
			}
		}
	}
	if len(variants) == 0 {
		return nil, fmt.Errorf("commandapi: the fleet defines no commands")
	}
	names := make([]string, 0, len(variants))
	for n := range variants {
		names = append(names, n)
	}
	sort.Strings(names)
	branches := make([]any, 0, len(names))
	for _, n := range names {
		vs := variants[n]
		if len(vs) == 1 {
			branches = append(branches, vs[0])
			continue
		}
		anyOf := make([]any, len(vs))
		for i, v := range vs {
			anyOf[i] = v
		}
		branches = append(branches, map[string]any{"anyOf": anyOf})
	}
	return map[string]any{
		"$schema":     SchemaDraft4,
		"title":       "CommandRequest",
		"description": "An operator command: {\"command\": <name>, <params>..., \"delivery\": \"mqtt\"|\"shadow\", \"idempotencyKey\": <key>}",
		"type":        "object",
		"required":    []any{"command"},
		"oneOf":       branches,
	}, nil
}

func commandVariant(cmd fleetspec.Command) (map[string]any, error) {
	deliveries := make([]any, len(Deliveries))
	for i, d := range Deliveries {
		deliveries[i] = d
	}
	props := map[string]any{
		"command":                 map[string]any{"type": "string", "enum": []any{cmd.Name}},
		"delivery":                map[string]any{"type": "string", "enum": deliveries},
		contract.IdempotencyField: map[string]any{"type": "string", "pattern": contract.IdempotencyKeyPattern},
	}
	required := []any{"command"}
	for _, p := range cmd.Params {
		if _, taken := props[p.Name]; taken {
			return nil, fmt.Errorf("param %q collides with a request key", p.Name)
		}
		s, err := paramSchema(p)
		if err != nil {
			return nil, fmt.Errorf("param %q: %w", p.Name, err)
		}
		props[p.Name] = s
		if p.Required {
			required = append(required, p.Name)
		}
	}
	return map[string]any{
		"type":                 "object",
		"properties":           props,
		"required":             required,
		"additionalProperties": false,
	}, nil
}

func paramSchema(p fleetspec.Field) (map[string]any, error) {
	s := map[string]any{"type": string(p.Type)}
	switch p.Type {
	case fleetspec.TypeNumber, fleetspec.TypeInteger:
		if p.Min != nil {
			s["minimum"] = *p.Min
		}
		if p.Max != nil {
			s["maximum"] = *p.Max
		}
	case fleetspec.TypeString:
		// maxLength counts characters, the function counts bytes: the schema is the looser
		// first gate, the function the exact one.
		s["maxLength"] = p.StringLimit()
		if len(p.Enum) > 0 {
			e := make([]any, len(p.Enum))
			for i, v := range p.Enum {
				e[i] = v
			}
			s["enum"] = e
		}
	case fleetspec.TypeBoolean:
	default:
		return nil, fmt.Errorf("unknown type %q", p.Type)
	}
	return s, nil
}

func containsSchema(list []map[string]any, v map[string]any) bool {
	for _, x := range list {
		if reflect.DeepEqual(x, v) {
			return true
		}
	}
	return false
}
