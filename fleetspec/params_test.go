package fleetspec_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/secure-smart-city/platform/fleetspec"
)

func ptr(v float64) *float64 { return &v }

func TestValidateParams(t *testing.T) {
	brightness := fleetspec.Command{Name: "set-brightness", Params: []fleetspec.Field{
		{Name: "level", Type: fleetspec.TypeInteger, Min: ptr(0), Max: ptr(100), Required: true},
	}}
	mode := fleetspec.Command{Name: "set-mode", Params: []fleetspec.Field{
		{Name: "mode", Type: fleetspec.TypeString, Enum: []string{"normal", "flashing", "off"}, Required: true},
		{Name: "note", Type: fleetspec.TypeString, MaxLength: 8},
		{Name: "duty", Type: fleetspec.TypeNumber, Min: ptr(0.5)},
	}}
	light := fleetspec.Command{Name: "set-light", Params: []fleetspec.Field{{Name: "on", Type: fleetspec.TypeBoolean, Required: true}}}
	reboot := fleetspec.Command{Name: "reboot"}

	cases := []struct {
		cmd    fleetspec.Command
		params string
		want   []string // one line per problem; empty for valid params
	}{
		{brightness, `{"level": 100}`, nil},
		{brightness, `{"level": 0}`, nil},
		{brightness, `{"level": 120}`, []string{`param "level": 120 is above the maximum 100`}},
		{brightness, `{"level": -1}`, []string{`param "level": -1 is below the minimum 0`}},
		{brightness, `{"level": 50.5}`, []string{`param "level": 50.5 is not a whole number`}},
		{brightness, `{"level": "high"}`, []string{`param "level": expected an integer, got string "high"`}},
		{brightness, `{"level": null}`, []string{`param "level": expected an integer, got null`}},
		{brightness, `{}`, []string{`param "level" is required`}},
		{brightness, `{"level": 5, "speed": 1}`, []string{`unknown param "speed" for command "set-brightness"`}},
		{mode, `{"mode": "flashing", "note": "night", "duty": 0.75}`, nil},
		{mode, `{"mode": "fast"}`, []string{`param "mode": "fast" is not one of "normal", "flashing", "off"`}},
		{mode, `{"mode": "off", "note": "far too long"}`, []string{`param "note": 12 bytes is above the maximum length 8`}},
		{mode, `{"mode": "off", "duty": 0.25}`, []string{`param "duty": 0.25 is below the minimum 0.5`}},
		{light, `{"on": true}`, nil},
		{light, `{"on": "yes"}`, []string{`param "on": expected true or false, got string "yes"`}},
		{reboot, `{}`, nil},
		{reboot, `{"now": true}`, []string{`unknown param "now" for command "reboot"`}},
		{brightness, `{"level": 300, "b": 1, "a": 2}`, []string{
			`param "level": 300 is above the maximum 100`,
			`unknown param "a" for command "set-brightness"`,
			`unknown param "b" for command "set-brightness"`,
		}},
	}
	for _, c := range cases {
		// Both decodings a handler might use: plain and UseNumber.
		for _, useNumber := range []bool{false, true} {
			dec := json.NewDecoder(strings.NewReader(c.params))
			if useNumber {
				dec.UseNumber()
			}
			var params map[string]any
			if err := dec.Decode(&params); err != nil {
				t.Fatal(err)
			}
			err := c.cmd.ValidateParams(params)
			var got []string
			if err != nil {
				got = strings.Split(err.Error(), "\n")
			}
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("%s %s (UseNumber %v):\n got %q\nwant %q", c.cmd.Name, c.params, useNumber, got, c.want)
			}
		}
	}
	if err := reboot.ValidateParams(nil); err != nil {
		t.Errorf("reboot with nil params: %v", err)
	}
}
