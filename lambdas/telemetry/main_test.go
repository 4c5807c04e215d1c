package main

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestReadEnv(t *testing.T) {
	base := map[string]string{
		"STATE_TABLE": "state", "ARCHIVE_BUCKET": "archive", "FIELD_KEY_ID": "alias/fields",
		"LAMBDA_TASK_ROOT": "/var/task",
	}
	env := func(extra map[string]string) func(string) string {
		return func(k string) string {
			if v, ok := extra[k]; ok {
				return v
			}
			return base[k]
		}
	}
	got, err := readEnv(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := settings{table: "state", bucket: "archive", keyID: "alias/fields", fleetFile: "/var/task/fleet.json"}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(settings{})); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
	got, err = readEnv(env(map[string]string{"FLEET_FILE": "/tmp/f.json", "MAX_FUTURE_SKEW": "1m", "MAX_PAST_SKEW": "2h", "TELEMETRY_MODE": "direct", "ARRIVAL_TOLERANCE": "30s", "RULE_PREFIX": "smartcity_dev"}))
	if err != nil {
		t.Fatal(err)
	}
	want = settings{direct: true, table: "state", bucket: "archive", keyID: "alias/fields", fleetFile: "/tmp/f.json", rulePrefix: "smartcity_dev", maxFuture: time.Minute, maxPast: 2 * time.Hour, arrivalTol: 30 * time.Second}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(settings{})); diff != "" {
		t.Errorf("overrides (-want +got):\n%s", diff)
	}
	for name, extra := range map[string]map[string]string{
		"no table":               {"STATE_TABLE": ""},
		"no bucket":              {"ARCHIVE_BUCKET": ""},
		"no key":                 {"FIELD_KEY_ID": ""},
		"bad duration":           {"MAX_PAST_SKEW": "a day"},
		"negative skew":          {"MAX_FUTURE_SKEW": "-5m"},
		"zero arrival tolerance": {"ARRIVAL_TOLERANCE": "0s"},
		"bad tolerance":          {"ARRIVAL_TOLERANCE": "soon"},
		"unknown mode":           {"TELEMETRY_MODE": "batch"},
	} {
		if _, err := readEnv(env(extra)); err == nil {
			t.Errorf("%s: readEnv succeeded", name)
		}
	}
}
