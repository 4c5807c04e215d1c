package iameval

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// fixture is one request and the policies that decide it. A rule's compliant fixture must be
// allowed and its noncompliant fixture refused.
type fixture struct {
	Account string `json:"account"`
	Request struct {
		Principal struct {
			Service string `json:"service"`
			ARN     string `json:"arn"`
			Account string `json:"account"`
		} `json:"principal"`
		Action   string              `json:"action"`
		Resource string              `json:"resource"`
		Context  map[string][]string `json:"context"`
	} `json:"request"`
	Identity []any `json:"identity"`
	Resource any   `json:"resource"`
	KMS      bool  `json:"kms"`
}

func decide(t *testing.T, path string) Decision {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f fixture
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var identity []Policy
	for i, d := range f.Identity {
		p, err := ParsePolicy(d, "identity")
		if err != nil {
			t.Fatalf("%s: identity %d: %v", path, i, err)
		}
		identity = append(identity, p)
	}
	target := Target{KMS: f.KMS}
	if f.Resource != nil {
		p, err := ParsePolicy(f.Resource, "resource")
		if err != nil {
			t.Fatalf("%s: resource: %v", path, err)
		}
		target.Policy = p
	}
	pr := f.Request.Principal
	d, err := Evaluate(Request{Principal: Principal{Service: pr.Service, ARN: pr.ARN, Account: pr.Account},
		Action: f.Request.Action, Resource: f.Request.Resource, Context: f.Request.Context}, identity, target, f.Account)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return d
}

func TestRulesWithFixtures(t *testing.T) {
	dirs, err := filepath.Glob("testdata/*")
	if err != nil || len(dirs) < 10 {
		t.Fatalf("want the rule fixtures under testdata/, got %d (%v)", len(dirs), err)
	}
	for _, dir := range dirs {
		rule := filepath.Base(dir)
		t.Run(rule, func(t *testing.T) {
			if d := decide(t, filepath.Join(dir, "compliant.json")); !d.Allowed {
				t.Errorf("compliant fixture refused: %s", d.Reason)
			}
			if d := decide(t, filepath.Join(dir, "noncompliant.json")); d.Allowed {
				t.Errorf("noncompliant fixture allowed: %s", d.Reason)
			}
		})
	}
}

func TestUnsupportedGrammarIsAnError(t *testing.T) {
	for name, doc := range map[string]string{
		"operator":  `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"DateGreaterThan":{"aws:CurrentTime":"2020-01-01"}}}]}`,
		"qualifier": `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"ForSomeValues:StringEquals":{"k":"v"}}}]}`,
		"principal": `{"Statement":[{"Effect":"Allow","Principal":{"Federated":"x"},"Action":"*","Resource":"*"}]}`,
		"element":   `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Unknown":1}]}`,
		"effect":    `{"Statement":[{"Effect":"Maybe","Action":"*","Resource":"*"}]}`,
	} {
		var v any
		if err := json.Unmarshal([]byte(doc), &v); err != nil {
			t.Fatal(err)
		}
		if _, err := ParsePolicy(v, name); err == nil {
			t.Errorf("%s: parsed without error", name)
		}
	}
}

func TestWildcard(t *testing.T) {
	for _, c := range []struct {
		p, v string
		want bool
	}{
		{"arn:aws:sns:*:1:t", "arn:aws:sns:us-east-1:1:t", true},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"*", "", true},
		{"exact", "exactly", false},
	} {
		if got := Wildcard(c.p, c.v); got != c.want {
			t.Errorf("Wildcard(%q, %q) = %v", c.p, c.v, got)
		}
	}
}

func TestConditionKeysAreCaseInsensitive(t *testing.T) {
	var v any
	_ = json.Unmarshal([]byte(`{"Statement":[{"Effect":"Allow","Principal":{"Service":"s.amazonaws.com"},"Action":"x:Y","Resource":"*","Condition":{"StringEquals":{"AWS:SourceAccount":"1"}}}]}`), &v)
	p, err := ParsePolicy(v, "t")
	if err != nil {
		t.Fatal(err)
	}
	d, err := Evaluate(Request{Principal: Principal{Service: "s.amazonaws.com"}, Action: "x:y", Resource: "r",
		Context: map[string][]string{"aws:sourceaccount": {"1"}}}, nil, Target{Policy: p}, "1")
	if err != nil || !d.Allowed {
		t.Errorf("decision %+v, %v", d, err)
	}
}
