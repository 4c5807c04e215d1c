package commandapi

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/secure-smart-city/platform/fleetspec"
)

func fp(v float64) *float64 { return &v }

// twoClasses defines set-interval differently in two classes and reboot identically.
func twoClasses() *fleetspec.Fleet {
	interval := func(highest float64) fleetspec.Command {
		return fleetspec.Command{Name: "set-interval", Params: []fleetspec.Field{{Name: "seconds", Type: fleetspec.TypeInteger, Required: true, Min: fp(10), Max: fp(highest)}}}
	}
	return &fleetspec.Fleet{Classes: []fleetspec.DeviceClass{
		{ID: "air_quality", Commands: []fleetspec.Command{interval(3600), {Name: "reboot"}}},
		{ID: "parking", Commands: []fleetspec.Command{interval(600), {Name: "reboot"},
			{Name: "set-mode", Params: []fleetspec.Field{{Name: "mode", Type: fleetspec.TypeString, Enum: []string{"normal", "off"}}}}}},
	}}
}

func TestCommandSchema(t *testing.T) {
	s, err := CommandSchema(twoClasses())
	if err != nil {
		t.Fatal(err)
	}
	// Round-trip through JSON: what API Gateway receives.
	data, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	delivery := map[string]any{"type": "string", "enum": []any{"mqtt", "shadow"}}
	variant := func(name string, params map[string]any, required ...any) map[string]any {
		props := map[string]any{"command": map[string]any{"type": "string", "enum": []any{name}}, "delivery": delivery,
			"idempotencyKey": map[string]any{"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,128}$"}}
		for k, v := range params {
			props[k] = v
		}
		return map[string]any{"type": "object", "properties": props, "required": append([]any{"command"}, required...), "additionalProperties": false}
	}
	seconds := func(highest float64) map[string]any {
		return map[string]any{"seconds": map[string]any{"type": "integer", "minimum": 10.0, "maximum": highest}}
	}
	want := map[string]any{
		"$schema":     SchemaDraft4,
		"title":       "CommandRequest",
		"description": got["description"],
		"type":        "object",
		"required":    []any{"command"},
		"oneOf": []any{
			variant("reboot", nil),
			map[string]any{"anyOf": []any{variant("set-interval", seconds(3600), "seconds"), variant("set-interval", seconds(600), "seconds")}},
			variant("set-mode", map[string]any{"mode": map[string]any{"type": "string", "maxLength": 256.0, "enum": []any{"normal", "off"}}}),
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("schema (-want +got):\n%s", diff)
	}
}

func TestCommandSchemaErrors(t *testing.T) {
	for _, c := range []struct {
		fleet *fleetspec.Fleet
		want  string
	}{
		{nil, "no fleet"},
		{&fleetspec.Fleet{Classes: []fleetspec.DeviceClass{{ID: "x"}}}, "the fleet defines no commands"},
		{&fleetspec.Fleet{Classes: []fleetspec.DeviceClass{{ID: "x", Commands: []fleetspec.Command{{Name: "go", Params: []fleetspec.Field{{Name: "delivery", Type: fleetspec.TypeString}}}}}}},
			`class "x" command "go": param "delivery" collides with a request key`},
		{&fleetspec.Fleet{Classes: []fleetspec.DeviceClass{{ID: "x", Commands: []fleetspec.Command{{Name: "go", Params: []fleetspec.Field{{Name: "n", Type: "date"}}}}}}},
			`param "n": unknown type "date"`},
	} {
		_, err := CommandSchema(c.fleet)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("CommandSchema: error %v, want %q", err, c.want)
		}
	}
}

// TestRuntimeFleetHasNoThings: the function's fleet copy keeps classes and commands and drops
// the declared things, so its asset names no thing and does not change as the fleet grows.
func TestRuntimeFleetHasNoThings(t *testing.T) {
	f := twoClasses()
	f.Name = "smartcity"
	f.Districts = []fleetspec.District{{ID: "old_town", Name: "Old Town"}}
	for i := range f.Classes {
		f.Classes[i].Name = f.Classes[i].ID
	}
	bare, err := RuntimeFleet(f)
	if err != nil {
		t.Fatal(err)
	}
	f.Things = []fleetspec.Thing{{Name: "aq-secret-001", Class: "air_quality", District: "old_town", Serial: "S1"}}
	data, err := RuntimeFleet(f)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "aq-secret-001") || string(data) != string(bare) {
		t.Errorf("runtime copy changes with the declared things:\n%s\n%s", bare, data)
	}
	back, err := fleetspec.ParseRuntime(data)
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := back.Class("parking"); !ok || len(c.Commands) != 3 || len(back.Things) != 0 {
		t.Errorf("runtime copy lost the classes or kept things: %+v", back)
	}
	if len(f.Things) != 1 {
		t.Error("RuntimeFleet changed the caller's fleet")
	}
}

func TestAccessLogFormat(t *testing.T) {
	var got map[string]string
	if err := json.Unmarshal([]byte(accessLogFormat()), &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(AccessLogFields, got); diff != "" {
		t.Errorf("format (-want +got):\n%s", diff)
	}
	for _, k := range []string{"requestId", "ip", "user", "caller", "requestTime", "httpMethod", "resourcePath", "status", "protocol", "responseLength", "userArn"} {
		if !strings.HasPrefix(got[k], "$context.") {
			t.Errorf("field %s = %q", k, got[k])
		}
	}
}

func TestMaxPathBytes(t *testing.T) {
	path := "/dev/devices/" + strings.Repeat("a", 128) + "/commands"
	if got := maxPathBytes(len("dev")); got != len(path) {
		t.Errorf("maxPathBytes(dev) = %d, want %d", got, len(path))
	}
}
