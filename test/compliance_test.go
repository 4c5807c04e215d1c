package test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/secure-smart-city/platform/stacks"
)

// TestNoUnsuppressedFindings: cdk-nag (AwsSolutions, NIST 800-53 R5, Serverless) and the IoT
// policy checks report findings as error annotations; none may remain in any stack.
func TestNoUnsuppressedFindings(t *testing.T) {
	for stage, s := range synthVariants(t) {
		for _, e := range s.errors {
			t.Errorf("stage %s: unsuppressed finding: %s", stage, e)
		}
		for _, v := range s.gate {
			t.Errorf("stage %s: the app's post-synth check would fail synth: %s", stage, v)
		}
	}
}

// TestAcceptedFindingsDocumented keeps the README's "Accepted findings" in step with the one
// suppression table, and makes every suppression carry a reason.
func TestAcceptedFindingsDocumented(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(moduleRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "## Accepted findings")
	if !ok {
		t.Fatal("README.md has no \"## Accepted findings\" section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	for _, a := range stacks.AcceptedFindings {
		if len(strings.TrimSpace(a.Reason)) < 40 {
			t.Errorf("suppression of %v has no real reason: %q", a.Rules, a.Reason)
		}
		for _, id := range a.Rules {
			if !strings.Contains(section, id) {
				t.Errorf("README.md's Accepted findings does not list %s (%s)", id, a.Where)
			}
		}
	}
}
