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

// RuntimeJSON is the fleet for Lambdas to read with ParseRuntime: name, districts, classes
// (fields, commands) and provisioning flags, without declared things and without file
// references. No function may depend on the declared things: a device provisioned at run time
// must be served like a declared one, and a function bundle must not change (or name a
// device) when the fleet file gains a thing. It fails if the fleet is invalid, so a bad copy
// never reaches a function at cold start.
func (f *Fleet) RuntimeJSON() ([]byte, error) {
	c := *f
	c.Path = ""
	c.idx = nil
	c.Things = nil
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
// the file checks; a copy that references files or lists things is rejected, so no function
// can come to rely on a device list.
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
