package policies

import (
	"fmt"
	"sort"
	"strings"

	"github.com/secure-smart-city/platform/topics"
)

// RegisteredThing is a thing as the AWS IoT registry holds it, as far as thing policy
// variables read it: its name, its thing type and its attributes. AWS IoT resolves the
// variables from the registry at connection time; tests (AllowsThing) and the local broker
// (MosquittoACL) resolve them from these values.
type RegisteredThing struct {
	// Name is the thing name, also the device's MQTT client id and certificate CN.
	Name string
	// Type is the thing type name, the class's qualified name (topics.RuleName). Default:
	// none, and ${iot:Connection.Thing.ThingTypeName} does not resolve.
	Type string
	// Attributes are the thing's attributes, topics.DistrictAttribute among them. Default:
	// none, and no ${iot:Connection.Thing.Attributes[...]} resolves.
	Attributes map[string]string
}

// CityThing is a device as every provisioning path registers it (declared things, JITP,
// claim): its class's thing type and its district, the fleet file's district id, as the
// topics.DistrictAttribute attribute.
func CityThing(name, thingType, district string) RegisteredThing {
	return RegisteredThing{Name: name, Type: thingType, Attributes: map[string]string{topics.DistrictAttribute: district}}
}

// Request is the question "may this thing, connected as itself, perform action on
// resourceARN" as Evaluate takes it.
func (t RegisteredThing) Request(action, resourceARN string) Request {
	return Request{
		Action: action, Resource: resourceARN,
		ClientID: t.Name, AttachedThing: t.Name,
		ThingType: t.Type, ThingAttributes: t.Attributes,
	}
}

// Registry is a local city's device registry: the things a local broker serves, standing in
// for the AWS IoT registry (a test adds a thing to it to "provision" the thing at run time).
type Registry []RegisteredThing

// Validate checks every entry against the registry's own formats and reports every problem
// at once, naming the entry by index and name: thing names [a-zA-Z0-9:_-]{1,128}, unique;
// thing types [a-zA-Z0-9:_-]{1,128}; attribute names [a-zA-Z0-9_.,@/:#-]{1,128}; attribute
// values [a-zA-Z0-9_.,@/:=\[\]-]{0,800}. The registry also allows "#" in a value; here it is
// refused, because the broker's ACL would read it as an MQTT wildcard.
func (r Registry) Validate() error {
	var problems []string
	seen := map[string]int{}
	for i, t := range r {
		where := fmt.Sprintf("registry[%d] (%q)", i, t.Name)
		if !validName(t.Name) {
			problems = append(problems, fmt.Sprintf("%s: thing name %q is not 1 to 128 of [a-zA-Z0-9:_-]", where, t.Name))
		}
		if j, dup := seen[t.Name]; dup {
			problems = append(problems, fmt.Sprintf("%s: thing name %q also at registry[%d]", where, t.Name, j))
		} else {
			seen[t.Name] = i
		}
		if t.Type != "" && !validName(t.Type) {
			problems = append(problems, fmt.Sprintf("%s: thing type %q is not 1 to 128 of [a-zA-Z0-9:_-]", where, t.Type))
		}
		for _, k := range sortedKeys(t.Attributes) {
			v := t.Attributes[k]
			if !validAttributeName(k) {
				problems = append(problems, fmt.Sprintf("%s: attribute name %q is not 1 to 128 of [a-zA-Z0-9_.,@/:#-]", where, k))
			}
			if len(v) > 800 || strings.IndexFunc(v, func(c rune) bool { return !validAttributeValueChar(c) }) >= 0 {
				problems = append(problems, fmt.Sprintf("%s: attribute %s value %q is not at most 800 of [a-zA-Z0-9_.,@/:=[]-]", where, k, v))
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("invalid registry:\n  %s", strings.Join(problems, "\n  "))
	}
	return nil
}

// Thing returns the registered thing of that name.
func (r Registry) Thing(name string) (RegisteredThing, bool) {
	for _, t := range r {
		if t.Name == name {
			return t, true
		}
	}
	return RegisteredThing{}, false
}

func validName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, c := range s {
		if !isThingNameChar(c) {
			return false
		}
	}
	return true
}

func validAttributeValueChar(c rune) bool {
	return isThingNameChar(c) || strings.ContainsRune(".,@/=[]", c)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
