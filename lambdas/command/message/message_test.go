package message

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/secure-smart-city/platform/fleetspec"
)

func ptr(f float64) *float64 { return &f }

var streetLight = fleetspec.DeviceClass{
	ID: "street_light",
	Fields: []fleetspec.Field{
		{Name: "on", Type: fleetspec.TypeBoolean},
		{Name: "brightness", Type: fleetspec.TypeInteger, Min: ptr(0), Max: ptr(100)},
		{Name: "power_w", Type: fleetspec.TypeNumber, Min: ptr(0), Max: ptr(250)},
	},
	Commands: []fleetspec.Command{
		{Name: "set-light", Params: []fleetspec.Field{{Name: "on", Type: fleetspec.TypeBoolean, Required: true}}},
		{Name: "set-brightness", Params: []fleetspec.Field{{Name: "level", Type: fleetspec.TypeInteger, Required: true, Min: ptr(0), Max: ptr(100)}}},
		{Name: "set-mode", Params: []fleetspec.Field{{Name: "mode", Type: fleetspec.TypeString, Enum: []string{"auto", "manual"}}, {Name: "note", Type: fleetspec.TypeString, MaxLength: 4}}},
		{Name: "reboot"},
	},
}

func command(t *testing.T, name string) fleetspec.Command {
	t.Helper()
	c, ok := FindCommand(streetLight, name)
	if !ok {
		t.Fatalf("no command %s", name)
	}
	return c
}

// decode turns a JSON object into params the way the API and the device decode them.
func decode(t *testing.T, s string) map[string]any {
	t.Helper()
	c, err := Parse([]byte(`{"command":"x","params":` + s + `}`))
	if err != nil {
		t.Fatal(err)
	}
	return c.Params
}

func TestValidateAccepts(t *testing.T) {
	cases := []struct {
		command, params string
		want            map[string]any
	}{
		{"set-light", `{"on": true}`, map[string]any{"on": true}},
		{"set-brightness", `{"level": 40}`, map[string]any{"level": int64(40)}},
		{"set-brightness", `{"level": 4e1}`, map[string]any{"level": int64(40)}},
		{"set-brightness", `{"level": 100}`, map[string]any{"level": int64(100)}},
		{"set-mode", `{"mode": "auto", "note": "ab"}`, map[string]any{"mode": "auto", "note": "ab"}},
		{"set-mode", `{}`, map[string]any{}},
		{"reboot", `{}`, map[string]any{}},
	}
	for _, c := range cases {
		got, err := Validate(command(t, c.command), decode(t, c.params))
		if err != nil {
			t.Errorf("%s %s: %v", c.command, c.params, err)
			continue
		}
		if diff := cmp.Diff(c.want, got); diff != "" {
			t.Errorf("%s %s (-want +got):\n%s", c.command, c.params, diff)
		}
	}
}

func TestValidateRejects(t *testing.T) {
	cases := []struct {
		command, params string
		// wantIn are substrings the message must contain: the parameter and the value.
		wantIn []string
	}{
		{"set-light", `{}`, []string{`"on"`, "required"}},
		{"set-light", `{"on": "yes"}`, []string{`"on"`, `"yes"`}},
		{"set-light", `{"on": true, "colour": "red"}`, []string{`unknown param "colour"`}},
		{"set-brightness", `{"level": 101}`, []string{`"level"`, "101", "maximum"}},
		{"set-brightness", `{"level": -1}`, []string{`"level"`, "-1", "minimum"}},
		{"set-brightness", `{"level": 40.5}`, []string{`"level"`, "40.5", "whole number"}},
		{"set-brightness", `{"level": null}`, []string{`"level"`, "null"}},
		{"set-mode", `{"mode": "party"}`, []string{`"mode"`, `"party"`, `"auto", "manual"`}},
		{"set-mode", `{"note": "toolong"}`, []string{`"note"`, "maximum length 4"}},
		{"reboot", `{"now": true}`, []string{`unknown param "now"`}},
		// Every problem is reported, on one line.
		{"set-mode", `{"mode": 1, "x": 2}`, []string{`param "mode"`, `; unknown param "x"`}},
	}
	for _, c := range cases {
		_, err := Validate(command(t, c.command), decode(t, c.params))
		if err == nil {
			t.Errorf("%s %s: accepted", c.command, c.params)
			continue
		}
		for _, s := range c.wantIn {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%s %s: error %q does not mention %s", c.command, c.params, err, s)
			}
		}
	}
}

func TestStateChanges(t *testing.T) {
	cases := []struct {
		command string
		params  map[string]any
		want    map[string]any
	}{
		{"set-light", map[string]any{"on": true}, map[string]any{"on": true}},
		// "level" names no field, so set-brightness sets "brightness".
		{"set-brightness", map[string]any{"level": int64(40)}, map[string]any{"brightness": int64(40)}},
		{"set-mode", map[string]any{"mode": "auto"}, map[string]any{}},
		{"reboot", nil, map[string]any{}},
	}
	for _, c := range cases {
		got := StateChanges(streetLight, c.command, c.params)
		if diff := cmp.Diff(c.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.command, diff)
		}
	}
}

func TestCommandRoundTrip(t *testing.T) {
	in := Command{ID: "c-1", Name: "set-brightness", Params: map[string]any{"level": int64(40)}, IssuedAt: 1700000000000}
	data, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	params, err := Validate(command(t, out.Name), out.Params)
	if err != nil {
		t.Fatal(err)
	}
	out.Params = params
	if diff := cmp.Diff(in, out); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if _, err := Parse([]byte(`{"params":{}}`)); err == nil {
		t.Error("a message without a command name parsed")
	}
	if _, err := Parse([]byte(`not json`)); err == nil {
		t.Error("a malformed message parsed")
	}
}
