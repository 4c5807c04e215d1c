package document

import (
	"strings"
	"testing"
)

func TestVersionOrder(t *testing.T) {
	// Ascending, by semver precedence (semver.org 2.0.0, item 11).
	order := []string{"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11",
		"1.0.0-rc.1", "1.0.0", "1.0.1", "1.2.0", "1.10.0", "2.0.0"}
	for i := 0; i+1 < len(order); i++ {
		a, err := ParseVersion(order[i])
		if err != nil {
			t.Fatal(err)
		}
		b, err := ParseVersion(order[i+1])
		if err != nil {
			t.Fatal(err)
		}
		if a.Compare(b) != -1 || b.Compare(a) != 1 || a.Compare(a) != 0 {
			t.Errorf("%s vs %s: %d/%d", a, b, a.Compare(b), b.Compare(a))
		}
	}
	same, _ := ParseVersion("1.4.0+build.7")
	plain, _ := ParseVersion("1.4.0")
	if same.Compare(plain) != 0 {
		t.Error("build metadata must not order versions")
	}
	for _, bad := range []string{"", "1.4", "v1.4.0", "01.4.0", "1.4.0-", "1.4.0.1", "latest"} {
		if _, err := ParseVersion(bad); err == nil {
			t.Errorf("ParseVersion(%q) accepted", bad)
		}
	}
}

func TestParseRefusesIncompleteDocuments(t *testing.T) {
	good := `{"operation":"` + Operation + `","class":"street_light","version":"1.1.0","size":10,` +
		`"sha256":"` + strings.Repeat("ab", 32) + `","image":{"url":"https://example.com/fw"},` +
		`"signature":{"signature":"AAAA","signatureAlgorithm":"SHA256withECDSA"}}`
	d, err := Parse([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.ReceivedSignature(); err != nil {
		t.Errorf("signature: %v", err)
	}
	for name, doc := range map[string]string{
		"other operation": strings.Replace(good, Operation, "reboot", 1),
		"http url":        strings.Replace(good, "https://", "http://", 1),
		"no version":      strings.Replace(good, `"version":"1.1.0",`, "", 1),
		"bad digest":      strings.Replace(good, strings.Repeat("ab", 32), "abc", 1),
		"zero size":       strings.Replace(good, `"size":10`, `"size":0`, 1),
		"not json":        "{",
	} {
		if _, err := Parse([]byte(doc)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	for name, sig := range map[string]string{
		"placeholder":     `"${aws:iot:code-sign-signature:s3://r.b/k@v}"`,
		"null":            `null`,
		"other algorithm": `{"signature":"AAAA","signatureAlgorithm":"SHA1withRSA"}`,
	} {
		d, err := Parse([]byte(strings.Replace(good, `{"signature":"AAAA","signatureAlgorithm":"SHA256withECDSA"}`, sig, 1)))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := d.ReceivedSignature(); err == nil {
			t.Errorf("%s: signature accepted", name)
		}
	}
}
