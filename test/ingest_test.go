package test

import (
	"encoding/json"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/secure-smart-city/platform/compliance"
	"github.com/secure-smart-city/platform/constructs/ingest"
	"github.com/secure-smart-city/platform/constructs/keys"
	"github.com/secure-smart-city/platform/constructs/securestore"
	"github.com/secure-smart-city/platform/fleetspec"
	"github.com/secure-smart-city/platform/stacks"
)

// The ingest family's synth tests: this file holds the shared helpers and the app's
// Ingestion stack; ingest_rules_test.go the rules, stream and rule role; ingest_processor_test.go
// the processor; ingest_props_test.go props errors and metrics; ingest_archive_test.go the
// archive's and dead letters' retention; imported_ingest_test.go the construct in a bare stack.

// ingestFleet is a small valid fleet built in code: two classes, one with a sensitive field.
func ingestFleet() *fleetspec.Fleet {
	return &fleetspec.Fleet{
		Name:      "testcity",
		Districts: []fleetspec.District{{ID: "centre", Name: "Centre"}},
		Classes: []fleetspec.DeviceClass{
			{ID: "street_light", Name: "Street light", Fields: []fleetspec.Field{{Name: "on", Type: fleetspec.TypeBoolean, Required: true}}},
			{ID: "camera", Name: "Camera", Fields: []fleetspec.Field{{Name: "plates", Type: fleetspec.TypeString, Sensitive: true}}},
		},
		Things: []fleetspec.Thing{
			{Name: "sl-001", Class: "street_light", District: "centre", Serial: "SN-0001"},
			{Name: "cam-001", Class: "camera", District: "centre", Serial: "SN-0002"},
		},
	}
}

// newIngest builds the construct with its own key, table, bucket and field key in scope;
// props fill in the rest (Entry defaults to testEntry: construct tests need a real main package
// but not the telemetry processor's).
func newIngest(scope constructs.Construct, p ingest.Props) *ingest.Ingest {
	return newIngestWith(scope, p, nil)
}

// newIngestWith is newIngest with a last change to the props, after the defaults.
func newIngestWith(scope constructs.Construct, p ingest.Props, change func(*ingest.Props)) *ingest.Ingest {
	name := strings.ReplaceAll(*scope.Node().Path(), "/", "-")
	key := keys.New(scope, "IngestKey", &keys.Props{Alias: jsii.String("alias/test/" + name + "/platform"), Services: []keys.Service{keys.ServiceLogs}})
	field := keys.New(scope, "IngestFieldKey", &keys.Props{Alias: jsii.String("alias/test/" + name + "/fields")})
	if p.Fleet == nil {
		p.Fleet = ingestFleet()
	}
	if p.RulePrefix == "" {
		p.RulePrefix = "testcity_dev"
	}
	if p.EncryptionKey == nil {
		p.EncryptionKey = key.Resource
	}
	if p.State == nil {
		p.State = securestore.NewTable(scope, "IngestState", &securestore.TableProps{PartitionKey: "pk", SortKey: "sk", TimeToLiveAttribute: "expiresAt", EncryptionKey: key.Resource}).Resource
	}
	if p.Archive == nil {
		p.Archive = securestore.NewBucket(scope, "IngestArchive", &securestore.BucketProps{EncryptionKey: key.Resource}).Resource
	}
	if p.FieldKey == nil {
		p.FieldKey = field.Resource
	}
	if p.Entry == "" {
		p.Entry = testEntry
	}
	if change != nil {
		change(&p)
	}
	return ingest.New(scope, "Telemetry", &p)
}

func init() {
	weakenings = append(weakenings, weakening{"lambda-iot-permission-scoped", func(s awscdk.Stack, w bool) {
		in := newIngest(s, ingest.Props{Mode: ingest.ModeDirect})
		if w {
			for _, c := range *in.Processor.Resource.Node().FindAll(constructs.ConstructOrder_PREORDER) {
				if p, ok := c.(awslambda.CfnPermission); ok {
					p.AddPropertyDeletionOverride(jsii.String("SourceAccount"))
				}
			}
		}
	}})
}

// stmt is one IAM policy statement, parsed.
type stmt struct {
	Actions    []string
	Resources  []any
	Conditions any
}

// roleStatements returns the statements of every AWS::IAM::Policy attached to the role with
// this logical id.
func roleStatements(tmpl compliance.Template, roleID string) []stmt {
	var out []stmt
	for _, p := range tmpl.Resources("AWS::IAM::Policy") {
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
			s := stmt{Resources: compliance.List(compliance.Get(st, "Resource")), Conditions: compliance.Get(st, "Condition")}
			for _, a := range compliance.List(compliance.Get(st, "Action")) {
				s.Actions = append(s.Actions, a.(string))
			}
			sort.Strings(s.Actions)
			out = append(out, s)
		}
	}
	return out
}

// refText is a reference (or any value) as JSON, to look for the logical id or the
// cross-stack export it names.
func refText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// oneResource finds the only resource of a type whose logical id starts with prefix.
func oneResource(t *testing.T, tmpl compliance.Template, typ, prefix string) compliance.Resource {
	t.Helper()
	var found []compliance.Resource
	for _, r := range tmpl.Resources(typ) {
		if strings.HasPrefix(r.ID, prefix) {
			found = append(found, r)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d %s resources with id prefix %q, want 1", len(found), typ, prefix)
	}
	return found[0]
}

func sorted(s []string) []string {
	c := append([]string(nil), s...)
	sort.Strings(c)
	return c
}

// viaService is the condition that limits a KMS statement to one service, in the test
// region (the stacks have an explicit environment, so the region is a literal).
func viaService(service string) any {
	return map[string]any{"StringEquals": map[string]any{"kms:ViaService": service + "." + testRegion + ".amazonaws.com"}}
}

// TestIngestionStack checks the app's telemetry path, resource by resource, in both stages.
func TestIngestionStack(t *testing.T) {
	for _, stage := range []stacks.Stage{stacks.StageDev, stacks.StageProd} {
		t.Run(string(stage), func(t *testing.T) {
			s := synthOnce(t, stage)
			tmpl := s.templates["SmartCity-"+string(stage)+"-Ingestion"]
			fleet, err := fleetspec.Load(filepath.Join(moduleRoot(t), "config", "fleet."+string(stage)+".json"))
			if err != nil {
				t.Fatal(err)
			}
			cfg := stacks.Config{Stage: stage, Fleet: fleet}
			checkIngestion(t, tmpl, cfg)
		})
	}
}

// checkIngestion checks one stage's Ingestion template.
func checkIngestion(t *testing.T, tmpl compliance.Template, cfg stacks.Config) {
	checkIngestionRules(t, tmpl, cfg)
	checkIngestionProcessor(t, tmpl, cfg)
}

func fieldConditions(f *fleetspec.Fleet) any {
	var v any
	b, _ := json.Marshal(ingest.FieldKeyConditions(f))
	_ = json.Unmarshal(b, &v)
	return v
}
