package policies

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/secure-smart-city/platform/fleetspec"
)

// maxPolicyChars is AWS IoT's limit on a policy document, whitespace excluded.
const maxPolicyChars = 2048

// TestPolicySizeWithinLimit renders with the longest ARN prefix a commercial region gives
// (the partition "aws-us-gov" and region "ap-southeast-5" are longer than most) and a long
// rule name, and keeps the documents under IoT's size limit. The device policy is checked for
// the largest class shape (one with commands, which adds the command topic) and for every
// class of every fleet file in config/.
func TestPolicySizeWithinLimit(t *testing.T) {
	prefix := ARNPrefix("aws-us-gov", "ap-southeast-5", "123456789012")
	docs := map[string]Document{
		"device":     Device(fleetspec.DeviceClass{ID: "c", Commands: []fleetspec.Command{{Name: "x"}}}),
		"claim":      Claim(strings.Repeat("t", 36)), // template names are at most 36 characters
		"quarantine": Quarantine(),
	}
	files, err := filepath.Glob("../config/fleet.*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fleet files: %v", err)
	}
	for _, f := range files {
		fl, err := fleetspec.Load(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range fl.Classes {
			docs["device "+filepath.Base(f)+" "+c.ID] = Device(c)
		}
	}
	for name, doc := range docs {
		b, err := json.Marshal(doc.Render(prefix))
		if err != nil {
			t.Fatal(err)
		}
		if n := len(b); n > maxPolicyChars {
			t.Errorf("%s policy is %d characters, over IoT's %d", name, n, maxPolicyChars)
		} else if !strings.HasPrefix(name, "device ") {
			t.Logf("%s policy: %d characters", name, n)
		}
	}
}
