package policies

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestTokenize(t *testing.T) {
	got := tokenize("a/${iot:Connection.Thing.ThingName}/${*}x/+/*?${iot:ClientId}${", true)
	want := []token{
		{tokLit, "a/"}, {tokVar, varThingName}, {tokLit, "/*x/"}, {tokMQTT, "+"}, {tokLit, "/"},
		{tokStar, "*"}, {tokQmark, "?"}, {tokVar, varClientID}, {tokLit, "${"},
	}
	if d := cmp.Diff(want, got, cmp.AllowUnexported(token{})); d != "" {
		t.Errorf("tokenize (-want +got):\n%s", d)
	}
	if toks := tokenize("a/+/#", false); len(toks) != 1 || toks[0].kind != tokLit {
		t.Errorf("without mqtt, + and # are literal: %v", toks)
	}
}

func TestGlobMatch(t *testing.T) {
	cases := []struct {
		pattern, s string
		want       bool
	}{
		{"topic/a/*", "topic/a/b/c", true},
		{"topic/a/*", "topic/a/", true},
		{"topic/a/*", "topic/a", false},
		{"topic/a/?", "topic/a/b", true},
		{"topic/a/?", "topic/a/bc", false},
		{"*", "", true},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
		{"topic/a/${*}", "topic/a/*", true},
		{"topic/a/${*}", "topic/a/b", false},
	}
	for _, c := range cases {
		g, st := resolve(c.pattern, Request{})
		if st != resolved {
			t.Fatalf("resolve(%q) failed", c.pattern)
		}
		if got := g.match(c.s); got != c.want {
			t.Errorf("match(%q, %q) = %v, want %v", c.pattern, c.s, got, c.want)
		}
	}
}

func TestGlobFold(t *testing.T) {
	cases := []struct {
		pattern, action string
		want            bool
	}{
		{"iot:*", "iot:Publish", true},
		{"*", "iot:Publish", true},
		{"IOT:publish", "iot:Publish", true},
		{"iot:Publish", "iot:RetainPublish", false},
		{"iot:Get*", "iot:GetThingShadow", true},
	}
	for _, c := range cases {
		if got := globFold(c.pattern, c.action); got != c.want {
			t.Errorf("globFold(%q, %q) = %v, want %v", c.pattern, c.action, got, c.want)
		}
	}
}

func TestReachesThingsReserved(t *testing.T) {
	cases := []struct {
		pattern string
		mqtt    bool
		want    bool
	}{
		{"$aws/things/*", false, true},
		{"$aws/things/*/shadow/update", false, true},
		{"$aws/thi*", false, true},
		{"*", false, true},
		{"$aws/things/sl-*", false, true},
		{"$aws/things/+/shadow/update", true, true},
		{"$aws/things/+/shadow/update", false, false}, // literal "+": matches nothing real
		{"$aws/things/${iot:Connection.Thing.ThingName}/shadow/*", false, false},
		{"$aws/things/${iot:Connection.Thing.ThingName}*", false, true},
		{"$aws/things/${iot:Connection.Thing.ThingName}", false, false},
		{"$aws/things/sl-001/shadow/*", false, false},
		{"$aws/rules/*", false, false},
		{"city/*", false, false},
		{"$aws/things/", false, false},
	}
	for _, c := range cases {
		if got := reachesThingsReserved(tokenize(c.pattern, c.mqtt)); got != c.want {
			t.Errorf("reachesThingsReserved(%q, mqtt=%v) = %v, want %v", c.pattern, c.mqtt, got, c.want)
		}
	}
}

func TestSplitResource(t *testing.T) {
	cases := []struct {
		r         Resource
		typ, rest string
	}{
		{"*", "*", "*"},
		{"topic*", "*", "*"},
		{"topic/a/b", "topic", "a/b"},
		{"client/${iot:ClientId}", "client", "${iot:ClientId}"},
		{"foo", "", ""},
	}
	for _, c := range cases {
		typ, rest := splitResource(c.r)
		if typ != c.typ || rest != c.rest {
			t.Errorf("splitResource(%q) = %q, %q; want %q, %q", c.r, typ, rest, c.typ, c.rest)
		}
	}
}
