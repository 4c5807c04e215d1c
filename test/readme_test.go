package test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadmeExampleIsTested: the README's construct sample is the body of
// Example_importConstructs, line for line, so the documented code compiles and runs.
func TestReadmeExampleIsTested(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(moduleRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "## Using a construct in your own stack")
	if !ok {
		t.Fatal(`README.md has no "## Using a construct in your own stack" section`)
	}
	_, block, ok := strings.Cut(section, "```go\n")
	block, _, ok2 := strings.Cut(block, "```")
	if !ok || !ok2 {
		t.Fatal("no Go code block in the README's construct section")
	}
	example, err := os.ReadFile("example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	body := string(example)
	for _, line := range strings.Split(block, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		i := strings.Index(body, line)
		if i < 0 {
			t.Fatalf("README line %q is not in Example_importConstructs (in this order)", line)
		}
		body = body[i+len(line):]
	}
}
