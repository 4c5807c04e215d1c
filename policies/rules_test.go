package policies

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestRuleFixtures runs the pack over testdata/<rule id>/{compliant,noncompliant}*.json:
// every non-compliant fixture must produce the rule's id, no compliant one may.
func TestRuleFixtures(t *testing.T) {
	for _, r := range Rules() {
		t.Run(r.ID, func(t *testing.T) {
			files, err := filepath.Glob(filepath.Join("testdata", r.ID, "*.json"))
			if err != nil {
				t.Fatal(err)
			}
			counts := map[bool]int{}
			for _, f := range files {
				base := filepath.Base(f)
				var want bool
				switch {
				case strings.HasPrefix(base, "noncompliant"):
					want = true
				case strings.HasPrefix(base, "compliant"):
					want = false
				default:
					t.Errorf("%s: fixture name must start with compliant or noncompliant", f)
					continue
				}
				counts[want]++
				data, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				findings, err := CheckJSON(data)
				if err != nil {
					t.Errorf("%s: %v", base, err)
					continue
				}
				var got []Finding
				for _, fd := range findings {
					if fd.RuleID == r.ID {
						got = append(got, fd)
					}
				}
				if want && len(got) == 0 {
					t.Errorf("%s: no %s finding", base, r.ID)
				}
				if !want && len(got) > 0 {
					t.Errorf("%s: unexpected findings %v", base, got)
				}
			}
			if counts[true] == 0 || counts[false] == 0 {
				t.Errorf("want at least one compliant and one noncompliant fixture, have %d and %d", counts[false], counts[true])
			}
		})
	}
}

func TestRulesMetadata(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range Rules() {
		if r.ID == "" || r.Name == "" || r.Description == "" || r.Mirrors == "" || r.Check == nil {
			t.Errorf("rule %q has an empty field", r.ID)
		}
		if seen[r.ID] {
			t.Errorf("duplicate rule id %q", r.ID)
		}
		seen[r.ID] = true
		if !strings.Contains(string(doc), r.ID) {
			t.Errorf("doc.go does not list rule %s", r.ID)
		}
		if _, err := os.Stat(filepath.Join("rule_" + fileName(r.ID) + ".go")); err != nil {
			t.Errorf("rule %s: %v", r.ID, err)
		}
	}
}

// fileName maps "IoTPolicy-OverlyPermissiveClient" to "overly_permissive_client".
func fileName(id string) string {
	name := strings.TrimPrefix(id, "IoTPolicy-")
	name = strings.ReplaceAll(name, "MQTT", "Mqtt")
	var b strings.Builder
	for i, c := range name {
		if c >= 'A' && c <= 'Z' {
			if i > 0 {
				b.WriteByte('_')
			}
			c += 'a' - 'A'
		}
		b.WriteRune(c)
	}
	return b.String()
}

func TestFindingString(t *testing.T) {
	doc := Document{Statements: []Statement{{Sid: "Weak", Effect: Allow, Actions: []string{ActionPublish}, Resources: []Resource{Topic("city/*")}}}}
	findings := Check(doc)
	if len(findings) != 1 {
		t.Fatalf("got %v, want one finding", findings)
	}
	f := findings[0]
	if f.RuleID != "IoTPolicy-WildcardResource" || f.Sid != "Weak" || f.Statement != 0 {
		t.Errorf("got %+v", f)
	}
	s := f.String()
	if !strings.HasPrefix(s, "[IoTPolicy-WildcardResource] ") || !strings.Contains(s, `"Resource":["topic/city/*"]`) {
		t.Errorf("String() = %s", s)
	}
}

func TestCheckNormalizesFullARNs(t *testing.T) {
	doc := Document{Statements: []Statement{{
		Effect: Allow, Actions: []string{ActionPublish},
		Resources: []Resource{Resource(testPrefix + "topic/city/*")},
	}}}
	var ids []string
	for _, f := range Check(doc) {
		ids = append(ids, f.RuleID)
	}
	if !cmp.Equal(ids, []string{"IoTPolicy-WildcardResource"}) {
		t.Errorf("got %v", ids)
	}
	if !Allows(doc, ActionPublish, testPrefix+"topic/city/x", "A") {
		t.Error("Evaluate does not read full ARNs")
	}
	if acl, err := MosquittoACL(nil, Document{Statements: []Statement{{Effect: Allow, Actions: []string{ActionPublish}, Resources: []Resource{Resource(testPrefix + "topic/a")}}}}); err != nil || !strings.Contains(acl, "pattern write a\n") {
		t.Errorf("MosquittoACL: %q, %v", acl, err)
	}
}

func TestCheckReportsUnreadable(t *testing.T) {
	doc := Document{Version: "2008-10-17", Statements: []Statement{{
		Effect: Allow, Actions: []string{ActionPublish}, Resources: []Resource{"arn:aws:iot:eu"},
	}}}
	n := 0
	for _, f := range Check(doc) {
		if f.RuleID == UnreadableID {
			n++
		}
	}
	if n != 2 {
		t.Errorf("got %d unreadable findings, want 2 (version, malformed ARN)", n)
	}
}

// TestNoInit: the rule pack is the Rules table and the lookup tables are plain variables; no
// init function builds or registers anything out of the reader's sight.
func TestNoInit(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains("\n"+string(src), "\nfunc init()") {
			t.Errorf("%s has an init function", f)
		}
	}
}
