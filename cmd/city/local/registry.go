package local

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	iottypes "github.com/aws/aws-sdk-go-v2/service/iot/types"

	"github.com/secure-smart-city/platform/fleetspec"
	"github.com/secure-smart-city/platform/policies"
	"github.com/secure-smart-city/platform/topics"
)

// Thing is a device of the local registry, as AWS IoT's registry would describe it: its
// class (thing type) and district (attribute).
type Thing struct {
	Name, Class, District string
	// Declared is true when the fleet file names the thing; the others stand for things
	// provisioned at run time (JITP, claim, bulk import).
	Declared bool
}

// Registry plays the AWS IoT registry for the local city: the processor, the command handler
// and the broker's ACL look things up here. It also holds the quarantine thing group.
type Registry struct {
	// Prefix is the topic rule prefix: a thing's type is topics.RuleName(Prefix, class).
	Prefix      string
	mu          sync.RWMutex
	things      map[string]Thing
	order       []string
	quarantined map[string]bool
}

// classAbbrev shortens class ids in generated thing names, as the fleet file's names do.
var classAbbrev = map[string]string{
	"street_light": "sl", "traffic_signal": "ts", "air_quality": "aq",
	"waste_bin": "wb", "parking": "pk", "camera": "cam",
}

// Simulate picks n things spread over the fleet's classes and districts: class by class,
// then district by district, numbered within each (class, district) like the fleet file's
// names (sl-old-town-001). A name the fleet file declares with the same class and district is
// that declared thing; the rest are things the fleet file does not know, as run-time
// provisioning makes them.
func Simulate(f *fleetspec.Fleet, n int) (*Registry, error) {
	if n < 1 {
		return nil, fmt.Errorf("devices: %d, want at least 1", n)
	}
	if len(f.Classes) == 0 || len(f.Districts) == 0 {
		return nil, fmt.Errorf("fleet %s has no classes or no districts", f.Path)
	}
	r := &Registry{things: map[string]Thing{}, quarantined: map[string]bool{}}
	counts := map[[2]string]int{}
	for i := range n {
		c := f.Classes[i%len(f.Classes)]
		d := f.Districts[(i/len(f.Classes))%len(f.Districts)]
		key := [2]string{c.ID, d.ID}
		counts[key]++
		abbr, ok := classAbbrev[c.ID]
		if !ok {
			abbr = strings.ReplaceAll(c.ID, "_", "-")
		}
		name := fmt.Sprintf("%s-%s-%03d", abbr, strings.ReplaceAll(d.ID, "_", "-"), counts[key])
		t := Thing{Name: name, Class: c.ID, District: d.ID}
		if declared, ok := f.Thing(name); ok {
			if declared.Class != c.ID || declared.District != d.ID {
				return nil, fmt.Errorf("fleet %s declares %s as %s in %s; the simulator would make it %s in %s", f.Path, name, declared.Class, declared.District, c.ID, d.ID)
			}
			t.Declared = true
		}
		r.things[name] = t
		r.order = append(r.order, name)
	}
	return r, nil
}

// Describe looks a thing up, as DescribeThing does.
func (r *Registry) Describe(name string) (Thing, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	t, ok := r.things[name]
	return t, ok
}

// Things lists the registry in creation order.
func (r *Registry) Things() []Thing {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]Thing, 0, len(r.order))
	for _, n := range r.order {
		out = append(out, r.things[n])
	}
	return out
}

// Quarantine adds a thing to the quarantine group.
func (r *Registry) Quarantine(name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.things[name]; !ok {
		return fmt.Errorf("quarantine: no thing %q in the registry", name)
	}
	r.quarantined[name] = true
	return nil
}

// Quarantined lists the quarantine group's members, sorted.
func (r *Registry) Quarantined() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.quarantined))
	for n := range r.quarantined {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Policies is the registry as policies.MosquittoACL expands it: thing type = the class's
// rule name, attribute district = the district id, as every provisioning path registers them.
// A quarantined thing is left out: no per-thing line grants it its telemetry topic.
func (r *Registry) Policies(prefix string) policies.Registry {
	var reg policies.Registry
	for _, t := range r.Things() {
		if r.isQuarantined(t.Name) {
			continue
		}
		reg = append(reg, policies.CityThing(t.Name, topics.RuleName(prefix, t.Class), t.District))
	}
	return reg
}

func (r *Registry) isQuarantined(name string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.quarantined[name]
}

// DescribeThing answers as the IoT control plane does (an *iot.Client's method), so code that
// looks things up through a one-method DescribeThing interface (the command handler, the
// remediation functions) can use the local registry unchanged: thing type = the class's rule
// name, attribute district; an unknown thing is a ResourceNotFoundException.
func (r *Registry) DescribeThing(_ context.Context, in *iot.DescribeThingInput, _ ...func(*iot.Options)) (*iot.DescribeThingOutput, error) {
	name := aws.ToString(in.ThingName)
	t, ok := r.Describe(name)
	if !ok {
		return nil, &iottypes.ResourceNotFoundException{Message: aws.String("Thing " + name + " cannot be found.")}
	}
	return &iot.DescribeThingOutput{
		ThingName:       aws.String(t.Name),
		ThingTypeName:   aws.String(topics.RuleName(r.Prefix, t.Class)),
		Attributes:      map[string]string{topics.DistrictAttribute: t.District},
		DefaultClientId: aws.String(t.Name),
		Version:         1,
	}, nil
}
