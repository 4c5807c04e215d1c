package compliance

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestServiceTrustFixtures runs iam-service-trust-conditioned over its fixtures: every
// compliant template inspects its role and passes, every non-compliant one is caught.
func TestServiceTrustFixtures(t *testing.T) {
	c, ok := ByName("iam-service-trust-conditioned")
	if !ok {
		t.Fatal("iam-service-trust-conditioned is not registered in All")
	}
	for _, kind := range []string{"compliant", "noncompliant"} {
		files, err := filepath.Glob(filepath.Join("testdata", c.Name, kind, "*.json"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no %s fixtures: %v", kind, err)
		}
		for _, f := range files {
			t.Run(kind+"/"+filepath.Base(f), func(t *testing.T) {
				tmpl, err := Load(f)
				if err != nil {
					t.Fatal(err)
				}
				n, v := c.Run(tmpl)
				if n == 0 {
					t.Fatal("inspected no role")
				}
				if kind == "compliant" && len(v) > 0 {
					t.Errorf("violations %v", v)
				}
				if kind == "noncompliant" && len(v) == 0 {
					t.Error("not caught")
				}
			})
		}
	}
}

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
