package fleetspec_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/secure-smart-city/platform/fleetspec"
)

func TestBaseFleetIsValid(t *testing.T) {
	dir := t.TempDir()
	writeFixtures(t, dir)
	if _, err := fleetspec.Load(writeFleet(t, dir, baseFleet)); err != nil {
		t.Fatalf("base fleet: %v", err)
	}
}

// Each case breaks one thing in a valid fleet and expects exactly one problem that names the
// file, the field path and the offending value, so that a person can fix the file from the
// message alone.
func TestInvalidFleets(t *testing.T) {
	cases := []struct {
		name string
		// edit changes the decoded base document; raw, if set, replaces the file's text.
		edit func(t *testing.T, doc map[string]any, dir string)
		raw  func(s string) string
		path string
		want string
	}{
		{
			name: "unknown class",
			edit: func(_ *testing.T, doc map[string]any, _ string) { at(doc, "things", 1)["class"] = "street_lamp" },
			path: "things[1].class", want: `unknown device class "street_lamp"`,
		},
		{
			name: "unknown district",
			edit: func(_ *testing.T, doc map[string]any, _ string) { at(doc, "things", 2)["district"] = "east" },
			path: "things[2].district", want: `unknown district "east"`,
		},
		{
			name: "duplicate thing",
			edit: func(_ *testing.T, doc map[string]any, _ string) { at(doc, "things", 2)["name"] = "sl-south-001" },
			path: "things[2].name", want: `duplicate thing name "sl-south-001" (also things[1])`,
		},
		{
			name: "invalid thing name",
			edit: func(_ *testing.T, doc map[string]any, _ string) { at(doc, "things", 1)["name"] = "bad name!" },
			path: "things[1].name", want: `invalid thing name "bad name!"`,
		},
		{
			name: "missing serial",
			edit: func(_ *testing.T, doc map[string]any, _ string) { delete(at(doc, "things", 1), "serial") },
			path: "things[1].serial", want: "is required",
		},
		{
			name: "duplicate serial",
			edit: func(_ *testing.T, doc map[string]any, _ string) { at(doc, "things", 2)["serial"] = "SN-2" },
			path: "things[2].serial", want: `duplicate serial "SN-2"`,
		},
		{
			name: "serial that cannot be a thing attribute",
			edit: func(_ *testing.T, doc map[string]any, _ string) { at(doc, "things", 2)["serial"] = "SN 3" },
			path: "things[2].serial", want: `invalid serial "SN 3"`,
		},
		{
			name: "misspelled key",
			raw:  func(s string) string { return strings.Replace(s, `"serial": "SN-2"`, `"seral": "SN-2"`, 1) },
			path: "things[1]", want: `unknown key "seral" (did you mean "serial"?)`,
		},
		{
			name: "key in the wrong case",
			raw:  func(s string) string { return strings.Replace(s, `"districts"`, `"Districts"`, 1) },
			path: "(top level)", want: `unknown key "Districts" (did you mean "districts"?)`,
		},
		{
			name: "duplicate key",
			raw: func(s string) string {
				return strings.Replace(s, `"serial": "SN-2"`, `"serial": "SN-2", "serial": "SN-9"`, 1)
			},
			path: "things[1].serial", want: `duplicate key "serial"`,
		},
		{
			name: "wrong JSON type",
			raw:  func(s string) string { return strings.Replace(s, `"serial": "SN-2"`, `"serial": 2`, 1) },
			path: "things[1].serial", want: "expected a string, got number 2",
		},
		{
			name: "min above max",
			edit: func(_ *testing.T, doc map[string]any, _ string) {
				f := at(doc, "classes", 0, "fields", 1)
				f["min"], f["max"] = 100, 0
			},
			path: "classes[0].fields[1].min", want: "min 100 is greater than max 0",
		},
		{
			name: "reserved field name",
			edit: func(_ *testing.T, doc map[string]any, _ string) {
				at(doc, "classes", 0, "fields", 1)["name"] = "receivedAt"
			},
			path: "classes[0].fields[1].name", want: `field name "receivedAt" is reserved`,
		},
		{
			name: "min on a string",
			edit: func(_ *testing.T, doc map[string]any, _ string) { at(doc, "classes", 0, "fields", 2)["min"] = 1 },
			path: "classes[0].fields[2].min", want: `min 1 is only allowed on number and integer fields, not on type "string"`,
		},
		{
			name: "enum on a number",
			edit: func(_ *testing.T, doc map[string]any, _ string) {
				at(doc, "classes", 0, "fields", 1)["enum"] = []string{"low"}
			},
			path: "classes[0].fields[1].enum", want: `enum ["low"] is only allowed on string fields, not on type "integer"`,
		},
		{
			name: "unknown field type",
			edit: func(_ *testing.T, doc map[string]any, _ string) { at(doc, "classes", 0, "fields", 0)["type"] = "bool" },
			path: "classes[0].fields[0].type", want: `unknown type "bool"`,
		},
		{
			name: "duplicate field",
			edit: func(_ *testing.T, doc map[string]any, _ string) { at(doc, "classes", 0, "fields", 2)["name"] = "on" },
			path: "classes[0].fields[2].name", want: `duplicate field name "on" (also classes[0].fields[0])`,
		},
		{
			name: "invalid command name",
			edit: func(_ *testing.T, doc map[string]any, _ string) {
				at(doc, "classes", 0, "commands", 0)["name"] = "SetBrightness"
			},
			path: "classes[0].commands[0].name", want: `invalid command name "SetBrightness"`,
		},
		{
			name: "command param follows field rules",
			edit: func(_ *testing.T, doc map[string]any, _ string) {
				at(doc, "classes", 0, "commands", 0, "params", 0)["maxLength"] = 10
			},
			path: "classes[0].commands[0].params[0].maxLength", want: `maxLength 10 is only allowed on string fields, not on type "integer"`,
		},
		{
			name: "message limit above IoT Core's",
			edit: func(_ *testing.T, doc map[string]any, _ string) { at(doc, "classes", 0)["maxMessageBytes"] = 200000 },
			path: "classes[0].maxMessageBytes", want: "200000 is outside 64..131072",
		},
		{
			name: "firmware limit below 1 KiB",
			edit: func(_ *testing.T, doc map[string]any, _ string) { at(doc, "classes", 0)["maxFirmwareBytes"] = 100 },
			path: "classes[0].maxFirmwareBytes", want: "100 is outside 1024..2147483648",
		},
		{
			name: "state interval not a duration",
			edit: func(_ *testing.T, doc map[string]any, _ string) { at(doc, "classes", 0)["stateInterval"] = "60" },
			path: "classes[0].stateInterval", want: `stateInterval "60" is not a Go duration`,
		},
		{
			name: "state interval above an hour",
			edit: func(_ *testing.T, doc map[string]any, _ string) { at(doc, "classes", 0)["stateInterval"] = "2h" },
			path: "classes[0].stateInterval", want: `stateInterval "2h" must be whole seconds between 0s and 1h0m0s`,
		},
		{
			name: "state interval below a second",
			edit: func(_ *testing.T, doc map[string]any, _ string) { at(doc, "classes", 0)["stateInterval"] = "1500ms" },
			path: "classes[0].stateInterval", want: `must be whole seconds`,
		},
		{
			name: "invalid class id",
			edit: func(_ *testing.T, doc map[string]any, _ string) {
				at(doc, "classes", 0)["id"] = "street-light"
				for i := range 3 {
					at(doc, "things", i)["class"] = "street-light"
				}
			},
			path: "classes[0].id", want: `invalid class id "street-light"`,
		},
		{
			name: "invalid fleet name",
			edit: func(_ *testing.T, doc map[string]any, _ string) { doc["name"] = "Smart City" },
			path: "name", want: `invalid fleet name "Smart City"`,
		},
		{
			name: "bad CSR path",
			edit: func(_ *testing.T, doc map[string]any, _ string) { at(doc, "things", 0)["csr"] = "csr/missing.csr" },
			path: "things[0].csr", want: `"csr/missing.csr": open `,
		},
		{
			name: "CSR for another thing",
			edit: func(t *testing.T, _ map[string]any, dir string) {
				writeFile(t, filepath.Join(dir, "sl-north-001.csr"), csrPEM(t, "sl-north-999", ecKey(t)))
			},
			path: "things[0].csr", want: `subject CN "sl-north-999" does not match the thing name "sl-north-001"`,
		},
		{
			name: "weak RSA-1024 CSR",
			edit: func(t *testing.T, _ map[string]any, dir string) {
				writeFile(t, filepath.Join(dir, "sl-north-001.csr"), csrPEM(t, "sl-north-001", rsa1024(t)))
			},
			path: "things[0].csr", want: "RSA key of 1024 bits is too weak",
		},
		{
			name: "CSR with a bad signature",
			edit: func(t *testing.T, _ map[string]any, dir string) {
				writeFile(t, filepath.Join(dir, "sl-north-001.csr"), tamperedCSRPEM(t, "sl-north-001"))
			},
			path: "things[0].csr", want: `"sl-north-001.csr": bad signature`,
		},
		{
			name: "certificate where a CSR belongs",
			edit: func(t *testing.T, _ map[string]any, dir string) {
				writeFile(t, filepath.Join(dir, "sl-north-001.csr"), certPEM(t, "sl-north-001", false))
			},
			path: "things[0].csr", want: `holds a PEM "CERTIFICATE" block, want "CERTIFICATE REQUEST"`,
		},
		{
			name: "CSR file holding a private key",
			edit: func(t *testing.T, _ map[string]any, dir string) {
				p := filepath.Join(dir, "sl-north-001.csr")
				writeFile(t, p, append(csrPEM(t, "sl-north-001", ecKey(t)), keyPEM(t)...))
			},
			path: "things[0].csr", want: "private keys must never be in the repository",
		},
		{
			name: "CA file holding a private key",
			edit: func(t *testing.T, _ map[string]any, dir string) {
				writeFile(t, filepath.Join(dir, "ca.pem"), keyPEM(t))
			},
			path: "provisioning.caCertificate", want: `"ca.pem": file contains a private key`,
		},
		{
			name: "non-CA certificate as CA",
			edit: func(t *testing.T, _ map[string]any, dir string) {
				writeFile(t, filepath.Join(dir, "ca.pem"), certPEM(t, "sl-north-001", false))
			},
			path: "provisioning.caCertificate", want: `"ca.pem": certificate "sl-north-001" is not a CA`,
		},
		{
			name: "CSR where the CA belongs",
			edit: func(t *testing.T, _ map[string]any, dir string) {
				writeFile(t, filepath.Join(dir, "ca.pem"), csrPEM(t, "Test City CA", ecKey(t)))
			},
			path: "provisioning.caCertificate", want: `holds a PEM "CERTIFICATE REQUEST" block, want "CERTIFICATE"`,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFixtures(t, dir)
			var doc any
			if c.raw != nil {
				doc = c.raw(baseFleet)
			} else {
				m := baseDoc(t)
				c.edit(t, m, dir)
				doc = m
			}
			path := writeFleet(t, dir, doc)
			f, err := fleetspec.Load(path)
			if err == nil {
				t.Fatalf("Load succeeded, want a problem at %s", c.path)
			}
			if f != nil {
				t.Errorf("Load returned a fleet with its error")
			}
			probs := problems(t, err)
			if len(probs) != 1 {
				t.Fatalf("got %d problems, want 1:\n%v", len(probs), err)
			}
			p := probs[0]
			if p.File != path || p.Path != c.path || !strings.Contains(p.Message, c.want) {
				t.Errorf("got problem %q\nwant file %q, path %q, message containing %q", p, path, c.path, c.want)
			}
			if at := fmt.Sprintf("%s:%d:%d: %s: ", path, p.Line, p.Column, c.path); p.Line == 0 || !strings.HasPrefix(err.Error(), at) {
				t.Errorf("error %q does not start with the file:line:column and field path", err)
			}
		})
	}
}

func TestAllProblemsReportedAtOnce(t *testing.T) {
	dir := t.TempDir()
	writeFixtures(t, dir)
	doc := baseDoc(t)
	at(doc, "things", 1)["class"] = "street_lamp"
	at(doc, "things", 2)["district"] = "east"
	delete(at(doc, "things", 2), "serial")
	f := at(doc, "classes", 0, "fields", 1)
	f["min"], f["max"] = 100, 0
	writeFile(t, filepath.Join(dir, "ca.pem"), certPEM(t, "leaf", false))
	path := writeFleet(t, dir, doc)

	_, err := fleetspec.Load(path)
	got := map[string]bool{}
	for _, p := range problems(t, err) {
		if p.File != path {
			t.Errorf("problem %q names file %q, want %q", p, p.File, path)
		}
		got[p.Path] = true
	}
	for _, want := range []string{"things[1].class", "things[2].district", "things[2].serial", "classes[0].fields[1].min", "provisioning.caCertificate"} {
		if !got[want] {
			t.Errorf("no problem at %s in:\n%v", want, err)
		}
	}
	if len(got) != 5 {
		t.Errorf("got problems at %d paths, want 5:\n%v", len(got), err)
	}
}

func TestAtLeastOneClass(t *testing.T) {
	_, err := fleetspec.Parse([]byte(`{"name": "testcity", "districts": [], "classes": [], "things": []}`), "empty.json")
	probs := problems(t, err)
	if len(probs) != 1 || probs[0].Path != "classes" || probs[0].File != "empty.json" {
		t.Errorf("got %v, want one problem at classes in empty.json", err)
	}
}

func TestSyntaxErrorHasPosition(t *testing.T) {
	_, err := fleetspec.Parse([]byte("{\n  \"name\": \"testcity\",\n  \"classes\": [}\n"), "broken.json")
	if err == nil || !strings.HasPrefix(err.Error(), "broken.json:3:") {
		t.Errorf("got %v, want an error at broken.json line 3", err)
	}
}

func TestValidateFleetBuiltInCode(t *testing.T) {
	f := &fleetspec.Fleet{
		Name:      "testcity",
		Districts: []fleetspec.District{{ID: "north", Name: "North"}},
		Classes:   []fleetspec.DeviceClass{{ID: "parking", Name: "Parking"}},
		Things:    []fleetspec.Thing{{Name: "pk-1", Class: "parking", District: "south", Serial: "S1"}},
	}
	probs := problems(t, f.Validate())
	if len(probs) != 1 || probs[0].Error() != `fleet: things[0].district: unknown district "south"` {
		t.Errorf("got %v", probs)
	}
}

func TestValidateStage(t *testing.T) {
	for _, s := range []string{"dev", "prod", "staging", "test2"} {
		if err := fleetspec.ValidateStage(s); err != nil {
			t.Errorf("ValidateStage(%q) = %v, want nil", s, err)
		}
	}
	for _, s := range []string{"", "Dev", "pre-prod", "pre_prod", "1dev", "toolongst"} {
		if err := fleetspec.ValidateStage(s); err == nil {
			t.Errorf("ValidateStage(%q) = nil, want an error", s)
		}
	}
}

func TestThingsAreOptional(t *testing.T) {
	for name, doc := range map[string]string{
		"no key":     `{"name": "testcity", "districts": [{"id": "north", "name": "North"}], "classes": [{"id": "parking", "name": "Parking"}]}`,
		"empty list": `{"name": "testcity", "districts": [{"id": "north", "name": "North"}], "classes": [{"id": "parking", "name": "Parking"}], "things": []}`,
	} {
		f, err := fleetspec.Parse([]byte(doc), "fleet.json")
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if _, err := f.RuntimeJSON(); err != nil {
			t.Errorf("%s: RuntimeJSON: %v", name, err)
		}
	}
}

// manyThings is a fleet document declaring n things, the first csrs of them with a CSR file
// (which need not exist: over the cap, nothing is read).
func manyThings(n, csrs int) map[string]any {
	things := make([]any, n)
	for i := range things {
		th := map[string]any{"name": fmt.Sprintf("pk-%05d", i), "class": "parking", "district": "north", "serial": fmt.Sprintf("S%05d", i)}
		if i < csrs {
			th["csr"] = fmt.Sprintf("missing-%d.csr", i)
		}
		things[i] = th
	}
	return map[string]any{
		"name":      "testcity",
		"districts": []any{map[string]any{"id": "north", "name": "North"}},
		"classes":   []any{map[string]any{"id": "parking", "name": "Parking"}},
		"things":    things,
	}
}

func TestThingCap(t *testing.T) {
	if fleetspec.MaxThings != 100 || fleetspec.MaxThings*fleetspec.ThingResources != fleetspec.ThingResourceBudget {
		t.Fatalf("MaxThings %d, budget %d", fleetspec.MaxThings, fleetspec.ThingResourceBudget)
	}
	dir := t.TempDir()
	at100 := manyThings(fleetspec.MaxThings, 0)
	if _, err := fleetspec.Load(writeFleet(t, dir, at100)); err != nil {
		t.Errorf("%d things without a csr: %v", fleetspec.MaxThings, err)
	}
	cases := []struct {
		name       string
		things     int
		csrs       int
		wantPrefix string
	}{
		{"one over", fleetspec.MaxThings + 1, 0, "101 declared things (0 with a csr) exceed the limit of 100"},
		{"a city's inventory", 100000, 0, "100000 declared things (0 with a csr) exceed the limit of 100"},
		{"csrs count more", 80, 30, "80 declared things (30 with a csr) exceed the limit of 100"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeFleet(t, dir, manyThings(c.things, c.csrs))
			_, err := fleetspec.Load(path)
			probs := problems(t, err)
			if len(probs) != 1 {
				t.Fatalf("got %d problems, want exactly one line: %v", len(probs), err)
			}
			p := probs[0]
			if p.File != path || p.Path != "things" || !strings.HasPrefix(p.Message, c.wantPrefix) || strings.Contains(err.Error(), "\n") {
				t.Errorf("got %q, want one line at %s: things: %s...", err, path, c.wantPrefix)
			}
			if !strings.Contains(p.Message, "JITP or claim") {
				t.Errorf("%q does not say what to do instead", p.Message)
			}
		})
	}
}

// operatorDoc is the base fleet with a command whose string param has critical values, and
// two valid operator roles.
func operatorDoc(t *testing.T) map[string]any {
	t.Helper()
	doc := baseDoc(t)
	class := at(doc, "classes", 0)
	class["commands"] = append(class["commands"].([]any), map[string]any{
		"name": "set-mode",
		"params": []any{map[string]any{"name": "mode", "type": "string", "required": true,
			"enum": []any{"auto", "manual", "off"}, "critical": []any{"off"}}},
	})
	doc["operators"] = []any{
		map[string]any{"role": "lighting-operator", "allow": []any{map[string]any{
			"class": "street_light", "commands": []any{"set-brightness", "set-mode"},
			"values": []any{map[string]any{"command": "set-mode", "param": "mode", "values": []any{"auto", "manual"}}},
		}}},
		map[string]any{"role": "lighting-engineer", "description": "may switch lights off", "allow": []any{map[string]any{
			"class": "street_light", "commands": []any{"set-mode"},
			"values": []any{map[string]any{"command": "set-mode", "param": "mode", "values": []any{"off"}}},
		}}},
		map[string]any{"role": "auditor"},
	}
	return doc
}

func TestOperatorsValid(t *testing.T) {
	dir := t.TempDir()
	writeFixtures(t, dir)
	f, err := fleetspec.Load(writeFleet(t, dir, operatorDoc(t)))
	if err != nil {
		t.Fatalf("fleet with operators: %v", err)
	}
	if len(f.Operators) != 3 || f.Operators[1].Allow[0].Values[0].Values[0] != "off" {
		t.Errorf("operators = %+v", f.Operators)
	}
	// The runtime copy keeps the operators: the command function enforces them.
	data, err := f.RuntimeJSON()
	if err != nil {
		t.Fatal(err)
	}
	rt, err := fleetspec.ParseRuntime(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(rt.Operators) != 3 || rt.Classes[0].Commands[1].Params[0].Critical[0] != "off" {
		t.Errorf("runtime copy lost operators or critical values: %+v", rt.Operators)
	}
}

// TestOperatorProblems breaks one thing of a valid operator section per case and expects
// exactly that problem, with its path and value.
func TestOperatorProblems(t *testing.T) {
	op := func(doc map[string]any, i int) map[string]any { return at(doc, "operators", i) }
	perm := func(doc map[string]any) map[string]any { return at(doc, "operators", 0, "allow", 0) }
	vals := func(doc map[string]any) map[string]any { return at(doc, "operators", 0, "allow", 0, "values", 0) }
	cases := []struct {
		name string
		edit func(doc map[string]any)
		path string
		want string
	}{
		{"role missing", func(d map[string]any) { delete(op(d, 2), "role") }, "operators[2].role", "is required"},
		{"role is an ARN", func(d map[string]any) { op(d, 2)["role"] = "arn:aws:iam::123456789012:role/auditor" },
			"operators[2].role", `invalid IAM role name "arn:aws:iam::123456789012:role/auditor"`},
		{"role with a path", func(d map[string]any) { op(d, 2)["role"] = "ops/auditor" }, "operators[2].role", `invalid IAM role name "ops/auditor"`},
		{"duplicate role ignoring case", func(d map[string]any) { op(d, 2)["role"] = "Lighting-Operator" },
			"operators[2].role", `duplicate operator role "lighting-operator" (also operators[0])`},
		{"unknown class", func(d map[string]any) { perm(d)["class"] = "street_lamp" }, "operators[0].allow[0].class", `unknown device class "street_lamp"`},
		{"duplicate class", func(d map[string]any) {
			o := op(d, 1)
			o["allow"] = append(o["allow"].([]any), map[string]any{"class": "street_light", "commands": []any{"set-brightness"}})
		}, "operators[1].allow[1].class", `duplicate class "street_light" (also operators[1].allow[0])`},
		{"no commands", func(d map[string]any) { perm(d)["commands"] = []any{}; delete(perm(d), "values") },
			"operators[0].allow[0].commands", "at least one command is required"},
		{"unknown command", func(d map[string]any) { perm(d)["commands"] = []any{"set-brightness", "set-mode", "self-destruct"} },
			"operators[0].allow[0].commands[2]", `class street_light has no command "self-destruct"`},
		{"duplicate command", func(d map[string]any) { perm(d)["commands"] = []any{"set-brightness", "set-mode", "set-mode"} },
			"operators[0].allow[0].commands[2]", `duplicate command "set-mode"`},
		{"values for a command not granted", func(d map[string]any) { perm(d)["commands"] = []any{"set-brightness"} },
			"operators[0].allow[0].values[0].command", `command "set-mode" is not one of this permission's commands`},
		{"values for an unknown param", func(d map[string]any) { vals(d)["param"] = "colour" },
			"operators[0].allow[0].values[0].param", `command set-mode of class street_light has no param "colour"`},
		{"values for a non-string param", func(d map[string]any) {
			vals(d)["command"], vals(d)["param"], vals(d)["values"] = "set-brightness", "level", []any{"10"}
		}, "operators[0].allow[0].values[0].param", `param "level" of command set-brightness is of type "integer"`},
		{"value outside the enum", func(d map[string]any) { vals(d)["values"] = []any{"auto", "disco"} },
			"operators[0].allow[0].values[0].values[1]", `"disco" is not one of "auto", "manual", "off"`},
		{"no values", func(d map[string]any) { vals(d)["values"] = []any{} }, "operators[0].allow[0].values[0].values", "at least one value is required"},
		{"critical value outside the enum", func(d map[string]any) {
			at(d, "classes", 0, "commands", 1, "params", 0)["critical"] = []any{"off", "strobe"}
		}, "classes[0].commands[1].params[0].critical[1]", `critical value "strobe" is not one of the param's enum`},
		{"critical on a telemetry field", func(d map[string]any) { at(d, "classes", 0, "fields", 2)["critical"] = []any{"manual"} },
			"classes[0].fields[2].critical", "only allowed on command params"},
		{"critical on an integer param", func(d map[string]any) { at(d, "classes", 0, "commands", 0, "params", 0)["critical"] = []any{"0"} },
			"classes[0].commands[0].params[0].critical", `only allowed on string params, not on type "integer"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFixtures(t, dir)
			doc := operatorDoc(t)
			c.edit(doc)
			path := writeFleet(t, dir, doc)
			_, err := fleetspec.Load(path)
			probs := problems(t, err)
			if len(probs) != 1 {
				t.Fatalf("got %d problems, want 1:\n%v", len(probs), err)
			}
			if p := probs[0]; p.File != path || p.Path != c.path || !strings.Contains(p.Message, c.want) {
				t.Errorf("got problem %q\nwant path %q, message containing %q", p, c.path, c.want)
			}
		})
	}
}
