package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunRefusesBadFlagsBeforeStartingAnything(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "operators.json")
	if err := os.WriteFile(bad, []byte(`{"operators":[{"name":"alice","passwordHash":"hunter2","role":"operator"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-addr", "0.0.0.0:8443", "-state", dir}, "not a loopback IP"},
		{[]string{"-operators", bad, "-state", dir}, "operators[0].passwordHash: not a bcrypt hash"},
		{[]string{"-devices", "-1", "-state", dir}, "devices: -1"},
		{[]string{"-quarantine", "no-such-thing", "-state", dir}, `no thing "no-such-thing"`},
	} {
		var out, errOut strings.Builder
		err := run(tc.args, &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("run %v: %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) > 1 {
		t.Errorf("a refused run left files in the state dir: %v", entries)
	}
}
