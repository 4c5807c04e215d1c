package clierr

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// CliVersionEnv is how the CDK CLI tells the app its version: the CLI sets CDK_CLI_VERSION
// (CLI_VERSION_ENV in aws-cdk-lib's cx-api/lib/cxapi.ts, "emitted since 1.10.1") in the app's
// environment, beside CDK_OUTDIR and CDK_CLI_ASM_VERSION; aws-cdk 2.1148.1 does so in both of
// its app runners. go run and go test leave it unset.
const CliVersionEnv = "CDK_CLI_VERSION"

// CheckToolchain compares the CDK CLI and the Node runtime the app runs under with the pins in
// dir's package.json (devDependencies aws-cdk and node), and returns one line that says what
// runs, what is pinned and to run make deps. A global cdk or the system's Node would
// otherwise fail later with messages that do not name the cause (an unreadable cloud
// assembly, an end-of-life banner, a kernel that does not start). Without a package.json
// (the app built elsewhere) there is nothing to compare with, and without CDK_CLI_VERSION
// (go run, go test) no CLI is involved.
func CheckToolchain(dir string, getenv func(string) string) error {
	data, err := os.ReadFile(filepath.Join(dir, "package.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read package.json: %w", err)
	}
	var pkg struct {
		DevDependencies map[string]string `json:"devDependencies"`
	}
	if err := json.Unmarshal(data, &pkg); err != nil {
		return fmt.Errorf("package.json: %w", err)
	}
	if want := pkg.DevDependencies["aws-cdk"]; want != "" {
		if got := getenv(CliVersionEnv); got != "" && got != want {
			return fmt.Errorf("the CDK CLI running this app is %s, the repo pins aws-cdk %s (package.json): run `make deps`, then `npx cdk ...` or `make synth`", got, want)
		}
	}
	if want := pkg.DevDependencies["node"]; want != "" {
		node := getenv("JSII_NODE") // what jsii-runtime-go starts, else node from PATH
		if node == "" {
			node = "node"
		}
		out, err := exec.Command(node, "--version").Output()
		if err != nil {
			return fmt.Errorf("cannot run %s --version (%v): the app needs Node %s: run `make deps` and put node_modules/.bin first on PATH", node, err, want)
		}
		got := strings.TrimPrefix(strings.TrimSpace(string(out)), "v")
		if major(got) != major(want) {
			return fmt.Errorf("the app runs on Node %s, the repo pins Node %s (package.json): run `make deps`, then `npx cdk ...` or `make synth`, which put node_modules/.bin first on PATH", got, want)
		}
	}
	return nil
}

func major(v string) string {
	m, _, _ := strings.Cut(v, ".")
	return m
}
