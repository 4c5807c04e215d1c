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
// Annotations.addError) from the cloud assembly in dir, one "[Error at path] message" line
// each, stack by stack and construct path by construct path. It reads the files rather than
// going through cxapi, whose message accessors are deprecated, and works on an assembly whose
// synth threw after writing it (CDK's validation report). A stack's metadata is inline in
// manifest.json or, since cloud assembly schema 5x, in the stack's additionalMetadataFile.
func AssemblyErrors(dir string) ([]string, error) {
	var m struct {
		Artifacts map[string]struct {
			Metadata               map[string][]metadataEntry `json:"metadata"`
			AdditionalMetadataFile string                     `json:"additionalMetadataFile"`
		} `json:"artifacts"`
	}
	if err := readJSON(filepath.Join(dir, "manifest.json"), &m); err != nil {
		return nil, err
	}
	var out []string
	for _, name := range sortedKeys(m.Artifacts) {
		a := m.Artifacts[name]
		md := map[string][]metadataEntry{}
		for path, entries := range a.Metadata {
			md[path] = append(md[path], entries...)
		}
		if a.AdditionalMetadataFile != "" {
			var extra map[string][]metadataEntry
			if err := readJSON(filepath.Join(dir, a.AdditionalMetadataFile), &extra); err != nil {
				return nil, err
			}
			for path, entries := range extra {
				md[path] = append(md[path], entries...)
			}
		}
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

type metadataEntry struct {
	Type string `json:"type"`
	Data any    `json:"data"`
}

func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read the cloud assembly: %w", err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("read the cloud assembly %s: %w", path, err)
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// AnnotationsFailedSynth reports whether synth's problems are CDK's validation report
// ("ValidationFailed: Validation failed. A copy of this report can be found in: ..."), which it
// throws on error annotations when @aws-cdk/core:annotationsInValidationReport is on; the
// assembly is on disk by then.
func AnnotationsFailedSynth(problems []string) bool {
	return len(problems) == 1 && strings.Contains(problems[0], "A copy of this report can be found in")
}

// HasAssembly reports whether dir holds a cloud assembly.
func HasAssembly(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "manifest.json"))
	return err == nil
}
