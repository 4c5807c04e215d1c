package fleetspec_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/secure-smart-city/platform/fleetspec"
)

// mistyped has two wrong JSON types, a semantic problem between them and a wrong type whose
// zero value would also fail validation (serial 2 -> missing serial, which must not be
// reported twice). Lines and columns below are counted from this text.
const mistyped = `{
  "name": "testcity",
  "districts": [{"id": "north", "name": "North"}],
  "classes": [{
    "id": "street_light", "name": "Street light",
    "maxMessageBytes": "1024",
    "fields": [{"name": "on", "type": "boolean", "required": "yes"}]
  }],
  "things": [
    {"name": "sl-1", "class": "street_light", "district": "north", "serial": "SN-1"},
    {"name": "sl-2", "class": "street_lamp", "district": "north", "serial": 2}
  ]
}`

// TestTypeErrorsDoNotHideOtherProblems: a wrong JSON type used to stop the loader, so the
// rest of the file went unchecked until it was fixed. Every problem comes back at once, in
// file order, each at the line and column of its value.
func TestTypeErrorsDoNotHideOtherProblems(t *testing.T) {
	f, err := fleetspec.Parse([]byte(mistyped), "city.json")
	if f != nil {
		t.Errorf("Parse returned a fleet with its error")
	}
	var got []string
	for _, p := range problems(t, err) {
		got = append(got, p.Error())
	}
	want := []string{
		`city.json:6:24: classes[0].maxMessageBytes: expected an integer, got string "1024"`,
		`city.json:7:62: classes[0].fields[0].required: expected true or false, got string "yes"`,
		`city.json:11:31: things[1].class: unknown device class "street_lamp"`,
		`city.json:11:77: things[1].serial: expected a string, got number 2`,
	}
	if len(got) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i := range want {
		// The semantic message may say more (the known classes); its start is the contract.
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("problem %d:\n got %s\nwant %s...", i, got[i], want[i])
		}
	}
}

// TestPositionsOfKeyProblems: unknown and duplicate keys point at the key, validation
// problems about a missing value at the object that lacks it.
func TestPositionsOfKeyProblems(t *testing.T) {
	cases := []struct {
		name, doc string
		want      string
	}{
		{
			name: "unknown key",
			doc:  "{\"name\": \"testcity\",\n \"clases\": []}",
			want: `x.json:2:2: (top level): unknown key "clases" (did you mean "classes"?)`,
		},
		{
			name: "duplicate key",
			doc:  "{\"name\": \"testcity\",\n  \"name\": \"other\"}",
			want: `x.json:2:3: name: duplicate key "name"`,
		},
		{
			name: "missing value",
			doc: `{"name": "testcity", "districts": [{"id": "north", "name": "North"}],
 "classes": [{"id": "pk", "name": "Parking"}],
 "things": [{"name": "pk-1", "class": "pk", "district": "north"}]}`,
			want: `x.json:3:13: things[0].serial:`,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := fleetspec.Parse([]byte(c.doc), "x.json")
			probs := problems(t, err)
			if len(probs) != 1 || !strings.HasPrefix(probs[0].Error(), c.want) {
				t.Errorf("got %v, want one problem starting %q", err, c.want)
			}
		})
	}
}

// TestManyTypeErrorsReportedTogether: one wrong type per thing, all of them reported, none
// echoed by validation.
func TestManyTypeErrorsReportedTogether(t *testing.T) {
	var things []string
	for i := range 50 {
		things = append(things, fmt.Sprintf(`{"name": "pk-%d", "class": "pk", "district": "north", "serial": %d}`, i, i))
	}
	doc := `{"name": "testcity", "districts": [{"id": "north", "name": "North"}],
 "classes": [{"id": "pk", "name": "Parking"}],
 "things": [` + strings.Join(things, ",\n") + `]}`
	_, err := fleetspec.Parse([]byte(doc), "x.json")
	var lines []int
	for _, p := range problems(t, err) {
		if !strings.Contains(p.Message, "expected a string, got number") {
			t.Errorf("unexpected problem %v", p)
		}
		lines = append(lines, p.Line)
	}
	var want []int
	for i := range 50 {
		want = append(want, 3+i)
	}
	if diff := cmp.Diff(want, lines); diff != "" {
		t.Errorf("problem lines (-want +got):\n%s", diff)
	}
}
