package clierr

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// AssemblyErrors reads the error annotations (cdk-nag findings, IoT policy findings,
// Annotations.addError) from the cloud assembly in dir, one "[path] message" line each, in
// the order the CLI prints them: stack by stack, construct path by path. It reads
// manifest.json itself rather than through cxapi, whose message accessors are deprecated.
func AssemblyErrors(dir string) ([]string, error) {
	data, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return nil, fmt.Errorf("read the cloud assembly: %w", err)
	}
	var m struct {
		Artifacts map[string]struct {
			Metadata map[string][]struct {
				Type string `json:"type"`
				Data any    `json:"data"`
			} `json:"metadata"`
		} `json:"artifacts"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("read the cloud assembly %s: %w", filepath.Join(dir, "manifest.json"), err)
	}
	var out []string
	for _, name := range sortedKeys(m.Artifacts) {
		md := m.Artifacts[name].Metadata
		for _, path := range sortedKeys(md) {
			for _, e := range md[path] {
				if e.Type != "aws:cdk:error" {
					continue
				}
				msg := fmt.Sprint(e.Data)
				if s, ok := e.Data.(string); ok {
					msg = s
				}
				out = append(out, "[Error at "+path+"] "+strings.Join(strings.Fields(msg), " "))
			}
		}
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
