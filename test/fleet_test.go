package test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/secure-smart-city/platform/compliance"
	"github.com/secure-smart-city/platform/constructs/fleet"
	"github.com/secure-smart-city/platform/fleetspec"
	"github.com/secure-smart-city/platform/policies"
	"github.com/secure-smart-city/platform/stacks"
	"github.com/secure-smart-city/platform/topics"
)

// stageFleet loads a stage's committed fleet file.
func stageFleet(t testing.TB, stage stacks.Stage) *fleetspec.Fleet {
	t.Helper()
	f, err := fleetspec.Load(filepath.Join(moduleRoot(t), "config", "fleet."+string(stage)+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func fleetTemplate(t testing.TB, stage stacks.Stage) compliance.Template {
	t.Helper()
	tmpl, ok := synthOnce(t, stage).templates["SmartCity-"+string(stage)+"-Fleet"]
	if !ok {
		t.Fatalf("no Fleet stack in stage %s", stage)
	}
	return tmpl
}

// lit resolves what the Fleet templates use to build strings (the stacks have an explicit
// environment, so ARNs are mostly literal): Fn::Join, Fn::Sub (IoT policy variables "${!x}"
// become "${x}"), pseudo parameters; another Ref or Fn::GetAtt becomes "<id>" or "<id.Attr>".
func lit(v any) string {
	pseudo := map[string]string{"AWS::AccountId": testAccount, "AWS::Region": testRegion, "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com"}
	switch x := v.(type) {
	case string:
		return x
	case map[string]any:
		if r, ok := x["Ref"].(string); ok {
			if p, ok := pseudo[r]; ok {
				return p
			}
			return "<" + r + ">"
		}
		if g, ok := x["Fn::GetAtt"].([]any); ok && len(g) == 2 {
			return fmt.Sprintf("<%v.%v>", g[0], g[1])
		}
		if j, ok := x["Fn::Join"].([]any); ok && len(j) == 2 {
			var parts []string
			for _, p := range compliance.List(j[1]) {
				parts = append(parts, lit(p))
			}
			return strings.Join(parts, lit(j[0]))
		}
		if s, ok := x["Fn::Sub"].(string); ok {
			for k, v := range pseudo {
				s = strings.ReplaceAll(s, "${"+k+"}", v)
			}
			return strings.ReplaceAll(s, "${!", "${")
		}
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// iotARN is an IoT ARN in the test environment.
func iotARN(typ, name string) string {
	return policies.ARNPrefix("aws", testRegion, testAccount) + typ + "/" + name
}

// policyDocument turns an AWS::IoT::Policy's document, as the template holds it, back into a
// policies.Document with literal ARNs, so the evaluator judges what would be deployed.
func policyDocument(t *testing.T, raw any) policies.Document {
	t.Helper()
	d := policies.Document{}
	d.Version, _ = compliance.Get(raw, "Version").(string)
	for _, st := range compliance.List(compliance.Get(raw, "Statement")) {
		s := policies.Statement{}
		s.Sid, _ = compliance.Get(st, "Sid").(string)
		e, _ := compliance.Get(st, "Effect").(string)
		s.Effect = policies.Effect(e)
		for _, a := range compliance.List(compliance.Get(st, "Action")) {
			s.Actions = append(s.Actions, a.(string))
		}
		for _, r := range compliance.List(compliance.Get(st, "Resource")) {
			s.Resources = append(s.Resources, policies.Resource(lit(r)))
		}
		if c, ok := compliance.Get(st, "Condition").(map[string]any); ok {
			s.Conditions = policies.Conditions{}
			for op, kv := range c {
				m := map[string][]string{}
				for k, vs := range kv.(map[string]any) {
					for _, v := range compliance.List(vs) {
						m[k] = append(m[k], fmt.Sprint(v))
					}
				}
				s.Conditions[op] = m
			}
		}
		d.Statements = append(d.Statements, s)
	}
	if len(d.Statements) == 0 {
		t.Fatalf("policy document %v has no statements", raw)
	}
	return d
}

// iotPolicies maps the policy name of every AWS::IoT::Policy in tmpl to its resource.
func iotPolicies(tmpl compliance.Template) map[string]compliance.Resource {
	out := map[string]compliance.Resource{}
	for _, p := range tmpl.Resources("AWS::IoT::Policy") {
		out[lit(p.Properties["PolicyName"])] = p
	}
	return out
}

// namesOf lists a property of every resource of a type, sorted.
func namesOf(tmpl compliance.Template, typ, prop string) []string {
	var out []string
	for _, r := range tmpl.Resources(typ) {
		out = append(out, lit(r.Properties[prop]))
	}
	sort.Strings(out)
	return out
}

// sdkCall decodes one of a Custom::AWS resource's Create/Update/Delete calls.
type sdkCall struct {
	Service                  string         `json:"service"`
	Action                   string         `json:"action"`
	Parameters               map[string]any `json:"parameters"`
	IgnoreErrorCodesMatching string         `json:"ignoreErrorCodesMatching"`
	PhysicalResourceID       struct {
		ID string `json:"id"`
	} `json:"physicalResourceId"`
}

func callOf(t *testing.T, r compliance.Resource, which string) sdkCall {
	t.Helper()
	var c sdkCall
	if err := json.Unmarshal([]byte(lit(r.Properties[which])), &c); err != nil {
		t.Fatalf("%s %s: %v", r.ID, which, err)
	}
	return c
}

// grantsByAction unions, per action, the resources every IAM policy (inline or managed)
// attached to the role allows.
func grantsByAction(tmpl compliance.Template, roleID string) map[string][]string {
	out := map[string][]string{}
	for _, typ := range []string{"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"} {
		for _, p := range tmpl.Resources(typ) {
			attached := false
			for _, r := range compliance.List(compliance.Get(p.Properties, "Roles")) {
				attached = attached || compliance.Get(r, "Ref") == roleID
			}
			if !attached {
				continue
			}
			for _, st := range compliance.List(compliance.Get(p.Properties, "PolicyDocument", "Statement")) {
				if compliance.Get(st, "Effect") != "Allow" {
					continue
				}
				for _, a := range compliance.List(compliance.Get(st, "Action")) {
					for _, r := range compliance.List(compliance.Get(st, "Resource")) {
						out[a.(string)] = append(out[a.(string)], lit(r))
					}
				}
			}
		}
	}
	for a := range out {
		out[a] = sorted(out[a])
	}
	return out
}

func idByPrefix(t *testing.T, tmpl compliance.Template, typ, prefix string) string {
	t.Helper()
	return oneResource(t, tmpl, typ, prefix).ID
}

// TestFleetRegistry: thing types, groups and things of the dev fleet file, property by
// property, with their memberships and types written by the registry custom resources.
func TestFleetRegistry(t *testing.T) {
	fl := stageFleet(t, stacks.StageDev)
	tmpl := fleetTemplate(t, stacks.StageDev)
	n := fleet.Names{Prefix: fl.RulePrefix("dev")}

	t.Run("thing types", func(t *testing.T) {
		got := map[string]any{}
		for _, r := range tmpl.Resources("AWS::IoT::ThingType") {
			got[lit(r.Properties["ThingTypeName"])] = r.Properties["ThingTypeProperties"]
		}
		want := map[string]any{}
		for _, c := range fl.Classes {
			want[n.Class(c.ID)] = map[string]any{
				"SearchableAttributes": []any{"district", "class", "serial"},
				"ThingTypeDescription": c.Name + " (" + c.ID + ")",
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("thing types (-want +got):\n%s", diff)
		}
	})

	t.Run("thing groups", func(t *testing.T) {
		want := []string{n.Quarantine()}
		for _, c := range fl.Classes {
			want = append(want, "smartcity_dev_"+c.ID)
		}
		for _, d := range fl.Districts {
			want = append(want, "smartcity_dev_district_"+d.ID)
		}
		if diff := cmp.Diff(sorted(want), namesOf(tmpl, "AWS::IoT::ThingGroup", "ThingGroupName")); diff != "" {
			t.Errorf("thing groups (-want +got):\n%s", diff)
		}
		for _, g := range tmpl.Resources("AWS::IoT::ThingGroup") {
			if compliance.Get(g.Properties, "QueryString") != nil {
				t.Errorf("%s is a dynamic group; membership is static and written by the registry", g.ID)
			}
			if compliance.Get(g.Properties, "ThingGroupProperties", "ThingGroupDescription") == nil {
				t.Errorf("%s has no description", g.ID)
			}
		}
	})

	t.Run("things and attributes", func(t *testing.T) {
		got := map[string]any{}
		for _, r := range tmpl.Resources("AWS::IoT::Thing") {
			got[lit(r.Properties["ThingName"])] = compliance.Get(r.Properties, "AttributePayload", "Attributes")
		}
		want := map[string]any{}
		for _, th := range fl.Things {
			// The attributes every provisioning path writes: the district id as in the fleet
			// file (the device policy's ${iot:Connection.Thing.Attributes[district]}) and the
			// serial. The class is the thing type ("thing types of things" below).
			want[th.Name] = map[string]any{topics.DistrictAttribute: th.District, "serial": th.Serial}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("things (-want +got):\n%s", diff)
		}
	})

	// thingID maps thing names to logical ids, to check dependencies.
	thingID := map[string]string{}
	for _, r := range tmpl.Resources("AWS::IoT::Thing") {
		thingID[lit(r.Properties["ThingName"])] = r.ID
	}
	provider := idByPrefix(t, tmpl, "AWS::Lambda::Function", "AWS679f53fac002430cb0da5b7982bd2287")

	t.Run("memberships", func(t *testing.T) {
		var got [][2]string
		for _, r := range tmpl.Resources(fleet.ResourceTypeMembership) {
			c, d := callOf(t, r, "Create"), callOf(t, r, "Delete")
			u := callOf(t, r, "Update")
			if c.Service != "Iot" || c.Action != "AddThingToThingGroup" || d.Action != "RemoveThingFromThingGroup" || !cmp.Equal(c, u) {
				t.Errorf("%s: create %+v update %+v delete %+v", r.ID, c, u, d)
			}
			if d.IgnoreErrorCodesMatching != "ResourceNotFoundException" || c.IgnoreErrorCodesMatching != "" {
				t.Errorf("%s: only the delete may ignore a missing thing: create %q delete %q", r.ID, c.IgnoreErrorCodesMatching, d.IgnoreErrorCodesMatching)
			}
			if !cmp.Equal(c.Parameters, d.Parameters) {
				t.Errorf("%s: delete removes %v, create adds %v", r.ID, d.Parameters, c.Parameters)
			}
			thing, group := fmt.Sprint(c.Parameters["thingName"]), fmt.Sprint(c.Parameters["thingGroupName"])
			got = append(got, [2]string{thing, group})
			if !dependsOn(r, thingID[thing]) {
				t.Errorf("%s does not depend on thing %s", r.ID, thingID[thing])
			}
			if lit(r.Properties["ServiceToken"]) != "<"+provider+".Arn>" {
				t.Errorf("%s: service token %v, want the one shared provider", r.ID, r.Properties["ServiceToken"])
			}
		}
		var want [][2]string
		for _, th := range fl.Things {
			want = append(want, [2]string{th.Name, n.Class(th.Class)}, [2]string{th.Name, n.District(th.District)})
		}
		less := func(a, b [2]string) bool { return a[0]+"/"+a[1] < b[0]+"/"+b[1] }
		sort.Slice(got, func(i, j int) bool { return less(got[i], got[j]) })
		sort.Slice(want, func(i, j int) bool { return less(want[i], want[j]) })
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("memberships (-want +got):\n%s", diff)
		}
	})

	t.Run("thing types of things", func(t *testing.T) {
		got := map[string]string{}
		for _, r := range tmpl.Resources(fleet.ResourceTypeThingType) {
			c, d := callOf(t, r, "Create"), callOf(t, r, "Delete")
			if c.Action != "UpdateThing" || d.Action != "UpdateThing" || d.Parameters["removeThingType"] != true {
				t.Errorf("%s: create %+v delete %+v", r.ID, c, d)
			}
			got[fmt.Sprint(c.Parameters["thingName"])] = fmt.Sprint(c.Parameters["thingTypeName"])
		}
		want := map[string]string{}
		for _, th := range fl.Things {
			want[th.Name] = n.Class(th.Class)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("thing types of things (-want +got):\n%s", diff)
		}
	})

	t.Run("quarantine group and its deny-all policy", func(t *testing.T) {
		group := idByPrefix(t, tmpl, "AWS::IoT::ThingGroup", "QuarantineGroup")
		pol := idByPrefix(t, tmpl, "AWS::IoT::Policy", "DevicesQuarantinePolicy")
		crs := tmpl.Resources(fleet.ResourceTypeGroupPol)
		if len(crs) != 1 {
			t.Fatalf("%d group policy attachments, want 1", len(crs))
		}
		c, d := callOf(t, crs[0], "Create"), callOf(t, crs[0], "Delete")
		want := map[string]any{"policyName": "<" + pol + ">", "target": "<" + group + ".Arn>"}
		if c.Action != "AttachPolicy" || d.Action != "DetachPolicy" || !cmp.Equal(c.Parameters, want) || !cmp.Equal(d.Parameters, want) {
			t.Errorf("attachment: create %+v delete %+v, want AttachPolicy/DetachPolicy of %v", c, d, want)
		}
		if got := lit(tmpl.Resources("AWS::IoT::ThingGroup")[0].Properties["ThingGroupName"]); got == "" {
			t.Error("group without name")
		}
		qp := iotPolicies(tmpl)[n.Quarantine()]
		if diff := cmp.Diff(policies.Quarantine().Render(""), policyDocument(t, qp.Properties["PolicyDocument"]).Render("")); diff != "" {
			t.Errorf("quarantine policy (-want +got):\n%s", diff)
		}
	})

	t.Run("one provider function, hardened", func(t *testing.T) {
		fns := tmpl.Resources("AWS::Lambda::Function")
		if len(fns) != 2 {
			t.Errorf("%d functions, want 2 (the registry provider and the provisioning hook): custom resources must share one provider", len(fns))
		}
		p := oneResource(t, tmpl, "AWS::Lambda::Function", provider).Properties
		want := map[string]any{
			"TracingConfig":                map[string]any{"Mode": "Active"},
			"ReservedConcurrentExecutions": float64(fleet.ProviderConcurrency),
			"LoggingConfig":                map[string]any{"LogFormat": "JSON", "LogGroup": map[string]any{"Ref": idByPrefix(t, tmpl, "AWS::Logs::LogGroup", "DevicesRegistryLogs")}},
			"Role":                         map[string]any{"Fn::GetAtt": []any{idByPrefix(t, tmpl, "AWS::IAM::Role", "DevicesRegistryExecutionRole"), "Arn"}},
		}
		for k, v := range want {
			if diff := cmp.Diff(v, p[k]); diff != "" {
				t.Errorf("provider %s (-want +got):\n%s", k, diff)
			}
		}
		total := len(tmpl.Resources(fleet.ResourceTypeMembership)) + len(tmpl.Resources(fleet.ResourceTypeThingType)) + len(tmpl.Resources(fleet.ResourceTypeGroupPol))
		if total != 2*len(fl.Things)+len(fl.Things)+1 {
			t.Errorf("%d registry custom resources, want %d", total, 3*len(fl.Things)+1)
		}
	})

	t.Run("registry role names exact ARNs", func(t *testing.T) {
		role := idByPrefix(t, tmpl, "AWS::IAM::Role", "DevicesRegistryExecutionRole")
		g := grantsByAction(tmpl, role)
		var things, groups, types []string
		for _, th := range fl.Things {
			things = append(things, iotARN("thing", th.Name))
		}
		for _, c := range fl.Classes {
			groups = append(groups, iotARN("thinggroup", n.Class(c.ID)))
			types = append(types, iotARN("thingtype", n.Class(c.ID)))
		}
		for _, d := range fl.Districts {
			groups = append(groups, iotARN("thinggroup", n.District(d.ID)))
		}
		// One statement for the declared things' memberships and types (each thing named once).
		declared := sorted(append(append(append([]string{}, things...), groups...), types...))
		want := map[string][]string{
			"iot:AddThingToThingGroup":      declared,
			"iot:RemoveThingFromThingGroup": declared,
			"iot:UpdateThing":               declared,
			"iot:AttachPolicy": sorted([]string{"<" + idByPrefix(t, tmpl, "AWS::IoT::Policy", "DevicesQuarantinePolicy") + ".Arn>",
				"<" + idByPrefix(t, tmpl, "AWS::IoT::ThingGroup", "QuarantineGroup") + ".Arn>"}),
		}
		want["iot:DetachPolicy"] = want["iot:AttachPolicy"]
		for a, res := range want {
			if diff := cmp.Diff(res, g[a]); diff != "" {
				t.Errorf("%s resources (-want +got):\n%s", a, diff)
			}
		}
		for a, res := range g {
			if strings.HasPrefix(a, "iot:") && want[a] == nil {
				t.Errorf("unexpected grant %s on %v", a, res)
			}
			for _, r := range res {
				if strings.Contains(r, "*") && !strings.HasPrefix(a, "xray:") {
					t.Errorf("%s on a wildcard resource %s", a, r)
				}
			}
		}
	})
}
