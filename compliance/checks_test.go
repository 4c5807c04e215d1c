package compliance

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestCheckFixtures runs every check over testdata/<name>/{compliant,noncompliant}/*.json:
// a compliant fixture must be inspected (a check that looks at nothing passes whatever the
// template says) and pass, a non-compliant one must be caught.
func TestCheckFixtures(t *testing.T) {
	for _, c := range All {
		t.Run(c.Name, func(t *testing.T) {
			for _, kind := range []string{"compliant", "noncompliant"} {
				files, err := filepath.Glob(filepath.Join("testdata", c.Name, kind, "*.json"))
				if err != nil {
					t.Fatal(err)
				}
				if len(files) == 0 {
					t.Errorf("no %s fixture in testdata/%s/%s/", kind, c.Name, kind)
				}
				for _, f := range files {
					tmpl, err := Load(f)
					if err != nil {
						t.Error(err)
						continue
					}
					n, v := c.Run(tmpl)
					name := kind + "/" + filepath.Base(f)
					switch {
					case n == 0:
						t.Errorf("%s: inspected nothing", name)
					case kind == "compliant" && len(v) > 0:
						t.Errorf("%s: violations %q", name, v)
					case kind == "noncompliant" && len(v) == 0:
						t.Errorf("%s: not caught", name)
					}
				}
			}
		})
	}
}

// TestChecksMetadata: every check is complete, unique, defined in its own check_<name>.go
// and listed in the package documentation; every fixture directory belongs to a check.
func TestChecksMetadata(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, c := range All {
		if c.Name == "" || c.Default == "" || c.Run == nil {
			t.Errorf("check %q has an empty field", c.Name)
		}
		if seen[c.Name] {
			t.Errorf("duplicate check name %q", c.Name)
		}
		seen[c.Name] = true
		if !regexp.MustCompile(`(?m)^//\t` + regexp.QuoteMeta(c.Name) + ` `).Match(doc) {
			t.Errorf("doc.go does not list check %s", c.Name)
		}
		file := "check_" + strings.ReplaceAll(c.Name, "-", "_") + ".go"
		src, err := os.ReadFile(file)
		if err != nil {
			t.Errorf("check %s: %v", c.Name, err)
			continue
		}
		if !strings.Contains(string(src), `"`+c.Name+`"`) {
			t.Errorf("%s does not define check %s", file, c.Name)
		}
	}
	dirs, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if d.IsDir() && !seen[d.Name()] && d.Name() != "flows" {
			t.Errorf("testdata/%s belongs to no check", d.Name())
		}
	}
}

// TestOneRegistration: All is the only registration; no file of the package adds checks (or
// anything else) behind the reader's back in an init function.
func TestOneRegistration(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	initFunc := regexp.MustCompile(`(?m)^func init\(\)`)
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if initFunc.Match(src) {
			t.Errorf("%s has an init function", f)
		}
		if f != "checks.go" && !strings.HasSuffix(f, "_test.go") && strings.Contains(string(src), "All = append(") {
			t.Errorf("%s appends to All", f)
		}
	}
}
