package compliance

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestServiceTrustNamesTheService: the violation names the role, the statement and the
// service, so the owner knows which trust to fix; an exempt Lambda principal beside another
// service is not named.
func TestServiceTrustNamesTheService(t *testing.T) {
	tmpl, err := Load(filepath.Join("testdata", "iam-service-trust-conditioned", "noncompliant", "lambda-and-another-service.json"))
	if err != nil {
		t.Fatal(err)
	}
	_, v := serviceTrustConditioned(tmpl)
	if len(v) != 1 || !strings.HasPrefix(v[0], "Role: statement 0 trusts events.amazonaws.com with no confused-deputy condition") {
		t.Errorf("violations %q", v)
	}
}
