package test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/secure-smart-city/platform/stacks"
)

// TestSnapshots compares every dev stack with its golden template in testdata/. After an
// intended change, regenerate with `go test ./test/ -run TestSnapshots -update` and read the
// diff before committing it.
func TestSnapshots(t *testing.T) {
	s := synthOnce(t, stacks.StageDev)
	for _, name := range stackNames(s) {
		t.Run(name, func(t *testing.T) {
			got := normalize(t, s.templates[name])
			path := filepath.Join("testdata", name+".template.json")
			if *update {
				data, err := json.MarshalIndent(got, "", "  ")
				if err != nil {
					t.Fatal(err)
				}
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			var want any
			if err := json.Unmarshal(data, &want); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s differs from %s (-golden +synthesized); if intended, rerun with -update and review the diff:\n%s", name, path, diff)
			}
		})
	}
}
