package golambda

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
)

// modulePath is this module's import path; Entry packages are built inside it.
const modulePath = "github.com/secure-smart-city/platform"

// goBuild bundles a Go main package with the local toolchain (no Docker): a static arm64
// binary named bootstrap, built reproducibly, plus any extra files beside it.
type goBuild struct {
	root  string // the module root (holds go.mod)
	entry string // the main package, relative to root
	files map[string][]byte
}

// buildFlags make identical binaries from identical sources: no cgo, no paths, no build id,
// and the lambda.norpc tag that provided.al2023 needs no RPC shim for.
var buildFlags = []string{"build", "-tags", "lambda.norpc", "-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid="}

// TryBundle implements awscdk.ILocalBundling. A failed build stops synth with the compiler's
// output rather than falling back to Docker, which these machines do not have.
func (g *goBuild) TryBundle(outputDir *string, _ *awscdk.BundlingOptions) *bool {
	if err := g.build(*outputDir); err != nil {
		panic(err)
	}
	return jsii.Bool(true)
}

func (g *goBuild) build(outDir string) error {
	args := append(append([]string{}, buildFlags...), "-o", filepath.Join(outDir, "bootstrap"), "./"+filepath.ToSlash(g.entry))
	cmd := exec.Command("go", args...)
	cmd.Dir = g.root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64", "GOFLAGS=-mod=readonly")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("golambda: go build ./%s (in %s) failed: %w\n%s", g.entry, g.root, err, out.String())
	}
	for name, data := range g.files {
		if name != filepath.Base(name) || name == "bootstrap" {
			return fmt.Errorf("golambda: extra file %q must be a plain file name other than bootstrap", name)
		}
		if err := os.WriteFile(filepath.Join(outDir, name), data, 0o644); err != nil {
			return fmt.Errorf("golambda: writing %s: %w", name, err)
		}
	}
	return nil
}

// ModuleRoot finds this module's root directory: from this source file when the build kept
// paths (go run, go test, and importers building from the module cache), otherwise by walking
// up from the working directory to the go.mod that declares the module.
func ModuleRoot() (string, error) {
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		root := filepath.Dir(filepath.Dir(filepath.Dir(file)))
		if declaresModule(filepath.Join(root, "go.mod")) {
			return root, nil
		}
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if declaresModule(filepath.Join(dir, "go.mod")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("golambda: no go.mod declaring module %s above the working directory", modulePath)
		}
		dir = parent
	}
}

func declaresModule(goMod string) bool {
	f, err := os.Open(goMod)
	if err != nil {
		return false
	}
	// Read-only: a close error cannot lose data.
	defer func() { _ = f.Close() }()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if line := strings.TrimSpace(s.Text()); strings.HasPrefix(line, "module ") {
			return strings.TrimSpace(strings.TrimPrefix(line, "module ")) == modulePath
		}
	}
	return false
}
