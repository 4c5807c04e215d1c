package test

import (
	"fmt"
	"sort"

	"github.com/aws/aws-cdk-go/awscdk/v2/cxapi"
)

// annotation is one error or warning recorded while a stack was synthesized: its construct
// path and text, as the cloud assembly's manifest stores them (the metadata the CLI prints).
// It replaces cxapi.SynthesisMessage, whose fields are deprecated.
type annotation struct {
	path, text string
	err        bool // an error; otherwise a warning
}

// annotations are st's errors and warnings, in construct path order.
func annotations(st cxapi.CloudFormationStackArtifact) []annotation {
	md := st.Manifest().Metadata
	if md == nil {
		return nil
	}
	paths := make([]string, 0, len(*md))
	for p := range *md {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var out []annotation
	for _, p := range paths {
		entries := (*md)[p]
		if entries == nil {
			continue
		}
		for _, e := range *entries {
			if e == nil || e.Type == nil {
				continue
			}
			switch *e.Type {
			case "aws:cdk:error":
				out = append(out, annotation{path: p, text: fmt.Sprint(e.Data), err: true})
			case "aws:cdk:warning":
				out = append(out, annotation{path: p, text: fmt.Sprint(e.Data)})
			}
		}
	}
	return out
}
