package test

import (
	"os"
	"path/filepath"
	"regexp"
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

// TestReadmeNamesRealTests: every test the README cites as proof (the threat model, the
// security controls, the identity model) is a test function of this module, so a renamed or
// deleted test cannot leave a control proved on paper only.
func TestReadmeNamesRealTests(t *testing.T) {
	root := moduleRoot(t)
	defined := map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || d.Name() == ".git" || d.Name() == "cdk.out" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range testFunc.FindAllStringSubmatch(string(src), -1) {
			defined[m[1]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range []string{"README.md", "config/README.md"} {
		text, err := os.ReadFile(filepath.Join(root, doc))
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range testName.FindAllString(string(text), -1) {
			if !defined[name] {
				t.Errorf("%s cites %s, which no test file defines", doc, name)
			}
		}
	}
}

var (
	testFunc = regexp.MustCompile(`(?m)^func (Test[A-Z][A-Za-z0-9_]*)\(`)
	testName = regexp.MustCompile(`\bTest[A-Z][A-Za-z0-9_]*`)
)
