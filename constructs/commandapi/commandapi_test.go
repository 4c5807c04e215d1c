package commandapi

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/secure-smart-city/platform/fleetspec"
)

func fp(v float64) *float64 { return &v }

// twoClasses defines set-interval differently in two classes and reboot identically.
func twoClasses() *fleetspec.Fleet {
	interval := func(max float64) fleetspec.Command {
		return fleetspec.Command{Name: "set-interval", Params: []fleetspec.Field{{Name: "seconds", Type: fleetspec.TypeInteger, Required: true, Min: fp(10), Max: fp(max)}}}
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
		props := map[string]any{"command": map[string]any{"type": "string", "enum": []any{name}}, "delivery": delivery}
		for k, v := range params {
			props[k] = v
		}
		return map[string]any{"type": "object", "properties": props, "required": append([]any{"command"}, required...), "additionalProperties": false}
	}
	seconds := func(max float64) map[string]any {
		return map[string]any{"seconds": map[string]any{"type": "integer", "minimum": 10.0, "maximum": max}}
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

func TestChunkThings(t *testing.T) {
	names := func(n, length int) []string {
		out := make([]string, n)
		for i := range out {
			s := fmt.Sprintf("t-%05d", i)
			out[i] = s + strings.Repeat("x", length-len(s))
		}
		return out
	}
	// 24 dev things fit one policy.
	chunks, err := chunkThings(names(24, 16))
	if err != nil || len(chunks) != 1 || len(chunks[0]) != 24 {
		t.Fatalf("24 things: %d chunks, err %v; want 1 chunk", len(chunks), err)
	}
	// Every chunk stays under the budget and the chunks hold every thing once, in order.
	all := names(200, 40)
	chunks, err = chunkThings(all)
	if err != nil {
		t.Fatal(err)
	}
	var flat []string
	for _, c := range chunks {
		size := 0
		for _, n := range c {
			size += thingARNBytes(n)
		}
		if size > managedPolicyBudget {
			t.Errorf("chunk of %d things is %d bytes, over %d", len(c), size, managedPolicyBudget)
		}
		flat = append(flat, c...)
	}
	if diff := cmp.Diff(all, flat); diff != "" {
		t.Errorf("things across chunks (-want +got):\n%s", diff)
	}
	// A full chunk plus the document around its ARNs (version, two statements: about 200
	// bytes) stays under IAM's 6,144, with ARNs estimated for the longest partition and region.
	if managedPolicyBudget+300 > 6144 {
		t.Errorf("budget %d leaves too little room for the statements", managedPolicyBudget)
	}
	if b := thingARNBytes(strings.Repeat("x", 128)); b > managedPolicyBudget {
		t.Errorf("one 128-char thing (%d bytes) does not fit a policy", b)
	}
	if _, err := chunkThings(names(5000, 64)); err == nil || !strings.Contains(err.Error(), "more than the 10 a role may have") {
		t.Errorf("5000 things: error %v, want the policy limit named", err)
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
