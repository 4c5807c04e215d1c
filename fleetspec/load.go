package fleetspec

import (
	"encoding/json"
	"fmt"
	"os"
)

// runtimeLabel names the runtime copy in problems: it has no file of its own.
const runtimeLabel = "runtime fleet"

// Load reads, decodes and validates a fleet file, including the CSR and CA files it references.
func Load(path string) (*Fleet, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read fleet file: %w", err)
	}
	return Parse(data, path)
}

// Parse decodes and validates a fleet file's contents. path names the file in problems and is
// the directory relative CSR and CA references resolve from. Unknown, misspelled and duplicate
// keys are errors.
func Parse(data []byte, path string) (*Fleet, error) {
	f := &Fleet{Path: path}
	if err := decodeStrict(data, f.label(), f); err != nil {
		return nil, err
	}
	f.Path = path
	if err := f.Validate(); err != nil {
		return nil, err
	}
	f.idx = newIndex(f)
	return f, nil
}

// RuntimeJSON is the fleet without file references (csr and caCertificate cleared), for
// Lambdas to read with ParseRuntime. It fails if the fleet is invalid, so a bad copy never
// reaches a function at cold start.
func (f *Fleet) RuntimeJSON() ([]byte, error) {
	c := *f
	c.Path = ""
	c.idx = nil
	c.Things = make([]Thing, len(f.Things))
	for i, t := range f.Things {
		t.CSR = ""
		c.Things[i] = t
	}
	c.Provisioning.CACertificate = ""
	if err := c.validate(f.label(), forbidFiles); err != nil {
		return nil, err
	}
	data, err := json.Marshal(&c)
	if err != nil {
		return nil, fmt.Errorf("encode runtime fleet: %w", err)
	}
	return data, nil
}

// ParseRuntime decodes and validates the copy RuntimeJSON produced: every rule applies except
// the file checks, and a copy that still references files is rejected.
func ParseRuntime(data []byte) (*Fleet, error) {
	f := &Fleet{}
	if err := decodeStrict(data, runtimeLabel, f); err != nil {
		return nil, err
	}
	f.Path = ""
	if err := f.validate(runtimeLabel, forbidFiles); err != nil {
		return nil, err
	}
	f.idx = newIndex(f)
	return f, nil
}
