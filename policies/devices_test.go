package policies

import (
	"strings"
	"testing"

	"github.com/secure-smart-city/platform/fleetspec"
	"github.com/secure-smart-city/platform/topics"
)

var (
	streetLight = fleetspec.DeviceClass{ID: "street_light", Commands: []fleetspec.Command{{Name: "set-light"}}}
	airQuality  = fleetspec.DeviceClass{ID: "air_quality"} // no commands
	testPrefix  = ARNPrefix("aws", "eu-west-1", "123456789012")
)

func platformDocs() map[string]Document {
	return map[string]Document{
		"device street_light": Device(streetLight),
		"device air_quality":  Device(airQuality),
		"quarantine":          Quarantine(),
		"claim":               Claim("smartcity_dev_claim"),
	}
}

func TestPlatformDocumentsPassEveryRule(t *testing.T) {
	for name, doc := range platformDocs() {
		if f := Check(doc); len(f) != 0 {
			t.Errorf("%s: Check: %v", name, f)
		}
		for form, rendered := range map[string]any{
			"cloudformation": doc.CloudFormation(),
			"literal":        doc.Render(testPrefix),
		} {
			f, err := CheckJSON(rendered)
			if err != nil {
				t.Errorf("%s %s: %v", name, form, err)
			}
			if len(f) != 0 {
				t.Errorf("%s %s: %v", name, form, f)
			}
		}
	}
}

// TestWeakenedDevicePolicyFails is the synth-time promise: widening any device grant fails.
func TestWeakenedDevicePolicyFails(t *testing.T) {
	weaken := map[string]func(*Document){
		"publish city/*": func(d *Document) {
			d.Statements[1].Resources = append(d.Statements[1].Resources, Topic("city/*"))
		},
		"connect any client": func(d *Document) { d.Statements[0].Resources = []Resource{Client("*")} },
		"drop IsAttached":    func(d *Document) { d.Statements[0].Conditions = nil },
		"subscribe all commands": func(d *Document) {
			d.Statements[2].Resources = append(d.Statements[2].Resources, TopicFilter(topics.Command("+")))
		},
		"iot:*": func(d *Document) { d.Statements[3].Actions = []string{ActionAll} },
		"any rule": func(d *Document) {
			d.Statements[1].Resources = append(d.Statements[1].Resources, Topic(topics.Telemetry("*", topics.DistrictVariable, topics.ThingNameVariable)))
		},
		"any district": func(d *Document) {
			d.Statements[1].Resources = append(d.Statements[1].Resources, Topic(topics.Telemetry(topics.ThingTypeVariable, "*", topics.ThingNameVariable)))
		},
		"any thing of the district": func(d *Document) {
			d.Statements[1].Resources = append(d.Statements[1].Resources, Topic(topics.Telemetry(topics.ThingTypeVariable, topics.DistrictVariable, "*")))
		},
		"district without thing": func(d *Document) {
			d.Statements[1].Resources = append(d.Statements[1].Resources, Topic("$aws/rules/"+topics.ThingTypeVariable+"/districts/"+topics.DistrictVariable+"/telemetry"))
		},
		"thing type as the thing": func(d *Document) {
			d.Statements[1].Resources = append(d.Statements[1].Resources, Topic(topics.Telemetry(topics.ThingTypeVariable, topics.DistrictVariable, topics.ThingTypeVariable)))
		},
		"misspelled district variable": func(d *Document) {
			d.Statements[1].Resources[0] = Topic(topics.Telemetry(topics.ThingTypeVariable, "${iot:Connection.Thing.Attribute[district]}", topics.ThingNameVariable))
		},
	}
	for name, w := range weaken {
		doc := Device(streetLight)
		w(&doc)
		f, err := CheckJSON(doc.CloudFormation())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(f) == 0 {
			t.Errorf("%s: no finding", name)
		}
		if want, ok := newVariableRule[name]; ok && !hasRule(f, want) {
			t.Errorf("%s: findings %v, want one of %s", name, f, want)
		}
	}
}

// newVariableRule names the rule each weakening around the thing type and attribute
// variables must trip.
var newVariableRule = map[string]string{
	"any district":                 "IoTPolicy-WildcardResource",
	"any thing of the district":    "IoTPolicy-WildcardResource",
	"district without thing":       "IoTPolicy-GroupScopedResource",
	"thing type as the thing":      "IoTPolicy-GroupScopedResource",
	"misspelled district variable": "IoTPolicy-ActionResourceMismatch",
}

func hasRule(f []Finding, id string) bool {
	for _, x := range f {
		if x.RuleID == id {
			return true
		}
	}
	return false
}

func TestDeviceWithoutCommandsCannotSubscribeToCommands(t *testing.T) {
	doc := Device(airQuality)
	if Allows(doc, ActionSubscribe, testPrefix+string(TopicFilter(topics.Command("aq-1"))), "aq-1") {
		t.Error("a class without commands may subscribe to its command topic")
	}
	if !Allows(doc, ActionSubscribe, testPrefix+string(TopicFilter(topics.ShadowDelta("aq-1"))), "aq-1") {
		t.Error("a class without commands may not subscribe to its shadow delta")
	}
}

// TestDeviceTelemetryIsOwnTelemetry: the device policy's telemetry grant is exactly
// topics.OwnTelemetry, so the rule, district and thing all come from the registry.
func TestDeviceTelemetryIsOwnTelemetry(t *testing.T) {
	for _, c := range []fleetspec.DeviceClass{streetLight, airQuality} {
		doc := Device(c)
		var telemetry []Resource
		for _, st := range doc.Statements {
			for _, r := range st.Resources {
				if strings.Contains(string(r), "/telemetry") {
					telemetry = append(telemetry, r)
				}
			}
		}
		if len(telemetry) != 1 || telemetry[0] != Topic(topics.OwnTelemetry) {
			t.Errorf("class %s: telemetry resources %q, want only %q", c.ID, telemetry, Topic(topics.OwnTelemetry))
		}
	}
}

// TestDeviceCannotDeleteItsShadow: a device may ask for and update its shadow but never
// publish shadow/delete, which would erase the desired state operators set (issue 12); it
// still receives the shadow service's answers on its own shadow topics.
func TestDeviceCannotDeleteItsShadow(t *testing.T) {
	for _, c := range []fleetspec.DeviceClass{streetLight, airQuality} {
		doc := Device(c)
		thing := CityThing("sl-1", topics.RuleName("smartcity_dev", c.ID), "old_town")
		if AllowsThing(doc, ActionPublish, testPrefix+"topic/"+topics.ShadowDelete("sl-1"), thing) {
			t.Errorf("class %s: a device may publish %s", c.ID, topics.ShadowDelete("sl-1"))
		}
		for _, topic := range []string{topics.ShadowUpdate("sl-1"), topics.ShadowGet("sl-1")} {
			if !AllowsThing(doc, ActionPublish, testPrefix+"topic/"+topic, thing) {
				t.Errorf("class %s: a device may not publish %s", c.ID, topic)
			}
		}
		for _, r := range doc.Statements[1].Resources {
			if strings.Contains(string(r), "/shadow/delete") || strings.HasSuffix(string(r), "/shadow/*") {
				t.Errorf("class %s: publish resource %s reaches shadow/delete", c.ID, r)
			}
		}
	}
}
