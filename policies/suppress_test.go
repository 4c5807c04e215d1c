package policies

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseSuppressions(t *testing.T) {
	v := appendSuppression(nil, "IoTPolicy-WildcardResource", "bridge for the test broker")
	v = appendSuppression(v, "IoTPolicy-WildcardAction", "  legacy gateway, ticket CITY-12  ")
	got, err := parseSuppressions(v, Rules())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"IoTPolicy-WildcardResource": "bridge for the test broker",
		"IoTPolicy-WildcardAction":   "legacy gateway, ticket CITY-12",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}

	none, err := parseSuppressions(nil, Rules())
	if err != nil || len(none) != 0 {
		t.Errorf("nil metadata: %v, %v", none, err)
	}
}

func TestParseSuppressionsRejects(t *testing.T) {
	cases := map[string]struct {
		v    any
		want string
	}{
		"short reason": {appendSuppression(nil, "IoTPolicy-WildcardAction", "ok"), "reason"},
		"unknown rule": {appendSuppression(nil, "IoTPolicy-Nope", "a perfectly good reason"), "unknown rule"},
		"pseudo rule":  {appendSuppression(nil, UnreadableID, "a perfectly good reason"), "unknown rule"},
		"wrong shape":  {map[string]any{"rules": []any{}}, "rules_to_suppress"},
	}
	for name, c := range cases {
		_, err := parseSuppressions(c.v, Rules())
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", name, err, c.want)
		}
	}
	// A valid entry next to an invalid one still counts.
	v := appendSuppression(appendSuppression(nil, "IoTPolicy-WildcardAction", "x"), "IoTPolicy-WildcardResource", "a perfectly good reason")
	got, err := parseSuppressions(v, Rules())
	if err == nil || got["IoTPolicy-WildcardResource"] == "" {
		t.Errorf("got %v, %v", got, err)
	}
}
