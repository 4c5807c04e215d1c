package test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/cxapi"
)

// annotation is one error or warning recorded while a stack was synthesized: its construct
// path and text, as the cloud assembly's manifest stores them (the metadata the CLI prints).
// It replaces cxapi.SynthesisMessage, whose fields are deprecated.
type annotation struct {
	path, text string
	err        bool // an error; otherwise a warning
}

// metadataEntry is one entry of a stack's metadata as the cloud assembly stores it.
type metadataEntry struct {
	Type string `json:"type"`
	Data any    `json:"data"`
}

// annotations are st's errors and warnings, in construct path order. The CDK writes them to
// the manifest's metadata or, as it does today, to the stack's additionalMetadataFile.
func annotations(t testing.TB, st cxapi.CloudFormationStackArtifact) []annotation {
	t.Helper()
	all := map[string][]metadataEntry{}
	m := st.Manifest()
	if m.Metadata != nil {
		for p, entries := range *m.Metadata {
			if entries == nil {
				continue
			}
			for _, e := range *entries {
				if e != nil && e.Type != nil {
					all[p] = append(all[p], metadataEntry{Type: *e.Type, Data: e.Data})
				}
			}
		}
	}
	if m.AdditionalMetadataFile != nil {
		data, err := os.ReadFile(filepath.Join(*st.Assembly().Directory(), *m.AdditionalMetadataFile))
		if err != nil {
			t.Fatalf("stack %s: %v", *st.StackName(), err)
		}
		var file map[string][]metadataEntry
		if err := json.Unmarshal(data, &file); err != nil {
			t.Fatalf("stack %s: %s: %v", *st.StackName(), *m.AdditionalMetadataFile, err)
		}
		for p, entries := range file {
			all[p] = append(all[p], entries...)
		}
	}
	paths := make([]string, 0, len(all))
	for p := range all {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var out []annotation
	for _, p := range paths {
		for _, e := range all[p] {
			switch e.Type {
			case "aws:cdk:error":
				out = append(out, annotation{path: p, text: fmt.Sprint(e.Data), err: true})
			case "aws:cdk:warning":
				out = append(out, annotation{path: p, text: fmt.Sprint(e.Data)})
			}
		}
	}
	return out
}
