package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunRefusesBadInputOffline: argument errors surface before any AWS configuration is
// loaded, so they need no credentials and reach no account.
func TestRunRefusesBadInputOffline(t *testing.T) {
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	fw := filepath.Join(t.TempDir(), "fw.bin")
	if err := os.WriteFile(fw, []byte("image"), 0o600); err != nil {
		t.Fatal(err)
	}
	fleet := filepath.Join("..", "..", "config", "fleet.dev.json")
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"no subcommand":   {nil, "usage:"},
		"unknown":         {[]string{"deploy"}, `unknown subcommand "deploy"`},
		"unknown class":   {[]string{"release", "-fleet", fleet, "-class", "tram", "-version", "1.0.0", "-file", fw, "-bucket", "b"}, `-class "tram" is not a device class`},
		"bad version":     {[]string{"release", "-fleet", fleet, "-class", "street_light", "-version", "one", "-file", fw, "-bucket", "b"}, `version "one" is not a semantic version`},
		"no bucket":       {[]string{"release", "-fleet", fleet, "-class", "street_light", "-version", "1.0.0", "-file", fw}, "-bucket is required"},
		"status, no job":  {[]string{"status"}, "-job is required"},
		"stray arguments": {[]string{"cancel", "-job", "j", "extra"}, "unexpected arguments"},
	} {
		t.Run(name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(context.Background(), tc.args, &out, &errOut)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
