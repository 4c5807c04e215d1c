package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseRate(t *testing.T) {
	for in, want := range map[string]float64{"1/min": 1, "2/s": 120, "30/h": 0.5, "1440/day": 1, "0.5/min": 0.5} {
		got, err := parseRate(in)
		if err != nil || got != want {
			t.Errorf("parseRate(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"1", "1/week", "-1/min", "0/min", "x/min"} {
		if _, err := parseRate(in); err == nil || !strings.Contains(err.Error(), in) {
			t.Errorf("parseRate(%q): error %v, want one naming the value", in, err)
		}
	}
}

// TestRun prices the estimate package's fixture end to end: the last line is the ratio.
func TestRun(t *testing.T) {
	var out, errOut bytes.Buffer
	dir := filepath.Join("estimate", "testdata")
	err := run([]string{"-devices", "1000", "-rate", "1/min", "-bytes", "1000", "-stage", "test",
		"-cdk-out", filepath.Join(dir, "fixture"), "-figures", filepath.Join(dir, "figures.json")}, nil, &out, &errOut)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if !strings.HasPrefix(lines[len(lines)-1], "ratio ") {
		t.Errorf("last line %q", lines[len(lines)-1])
	}
	if !strings.Contains(errOut.String(), "warning: unpriced resource type") {
		t.Errorf("stderr %q: want the unpriced warning", errOut.String())
	}
	if err := run([]string{"-stage", "nope", "-cdk-out", filepath.Join(dir, "fixture"), "-figures", filepath.Join(dir, "figures.json")}, nil, &out, &errOut); err == nil || !strings.Contains(err.Error(), "make synth STAGE=nope") {
		t.Errorf("missing stage: error %v", err)
	}
}
