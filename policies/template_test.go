package policies

import (
	"strings"
	"testing"

	"github.com/secure-smart-city/platform/fleetspec"
)

func TestCheckTemplate(t *testing.T) {
	class := fleetspec.DeviceClass{ID: "street_light"}
	weak := Device(class)
	weak.Statements = append(weak.Statements, Statement{Effect: Allow, Actions: []string{"iot:Publish"}, Resources: []Resource{Topic("city/*")}})
	tmpl := map[string]any{"Resources": map[string]any{
		"Good":  map[string]any{"Type": "AWS::IoT::Policy", "Properties": map[string]any{"PolicyDocument": Device(class).CloudFormation()}},
		"Weak":  map[string]any{"Type": "AWS::IoT::Policy", "Properties": map[string]any{"PolicyDocument": weak.CloudFormation()}},
		"Other": map[string]any{"Type": "AWS::SQS::Queue"},
		"Suppressed": map[string]any{"Type": "AWS::IoT::Policy", "Properties": map[string]any{"PolicyDocument": weak.CloudFormation()},
			"Metadata": map[string]any{SuppressionMetadataKey: map[string]any{"rules_to_suppress": []any{
				map[string]any{"id": "IoTPolicy-WildcardResource", "reason": "a test of the suppression path"},
			}}}},
	}}
	got := CheckTemplate(tmpl)
	if len(got) != 1 || !strings.HasPrefix(got[0], "Weak: [IoTPolicy-WildcardResource]") || !strings.Contains(got[0], "city/*") {
		t.Errorf("CheckTemplate = %q; want one WildcardResource finding on Weak naming city/*", got)
	}
}
