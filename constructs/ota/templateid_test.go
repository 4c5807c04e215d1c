package ota_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/secure-smart-city/platform/constructs/ota"
)

// TestTemplateIDFollowsContent: every AWS::IoT::JobTemplate property is create-only, so the id
// must change with any content change (a new template) and stay put otherwise (no churn).
func TestTemplateIDFollowsContent(t *testing.T) {
	valid := regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)
	a := ota.TemplateID("smartcity_dev", "street_light", []byte(`{"abort":10}`))
	if a != ota.TemplateID("smartcity_dev", "street_light", []byte(`{"abort":10}`)) {
		t.Error("the same content gave two ids")
	}
	for _, other := range []string{
		ota.TemplateID("smartcity_dev", "street_light", []byte(`{"abort":20}`)),
		ota.TemplateID("smartcity_prod", "street_light", []byte(`{"abort":10}`)),
		ota.TemplateID("smartcity_dev", "camera", []byte(`{"abort":10}`)),
	} {
		if other == a {
			t.Errorf("different content, same id %s", a)
		}
	}
	long := ota.TemplateID(strings.Repeat("f", 32)+"_devstage", strings.Repeat("c", 40), []byte(`{}`))
	for _, id := range []string{a, long} {
		if !valid.MatchString(id) {
			t.Errorf("id %q is not a valid job template id (64 of [a-zA-Z0-9_-])", id)
		}
	}
	if !strings.HasPrefix(a, "smartcity_dev_street_light_") {
		t.Errorf("id %q does not say what it is for", a)
	}
}
