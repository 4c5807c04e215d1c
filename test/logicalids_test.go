package test

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/secure-smart-city/platform/compliance"
	"github.com/secure-smart-city/platform/stacks"
)

// pinnedTypes are the resource types whose logical ids must not change: stateful resources
// (keys, tables, buckets, log groups, streams, queues, topics) lose their data on replacement,
// and the IoT and CloudWatch ones carry names that devices, rules and operators refer to.
var pinnedTypes = map[string]bool{
	"AWS::CloudWatch::Alarm":         true,
	"AWS::CloudWatch::Dashboard":     true,
	"AWS::DynamoDB::Table":           true,
	"AWS::IoT::DomainConfiguration":  true,
	"AWS::IoT::Policy":               true,
	"AWS::IoT::ProvisioningTemplate": true,
	"AWS::IoT::ThingGroup":           true,
	"AWS::IoT::ThingType":            true,
	"AWS::IoT::TopicRule":            true,
	"AWS::Kinesis::Stream":           true,
	"AWS::KMS::Key":                  true,
	"AWS::Logs::LogGroup":            true,
	"AWS::S3::Bucket":                true,
	"AWS::SNS::Topic":                true,
	"AWS::SQS::Queue":                true,
}

// physicalNameProps are the properties that give a resource a fixed physical name.
// CloudFormation cannot replace a custom-named resource on update (the new one would need the
// name the old one still holds), so any resource that names itself is pinned whatever its type.
// A property counts only on a type whose name ends with the property's noun (AlarmName on an
// Alarm, PolicyName on an IoT Policy or a ScalingPolicy, RuleName on a TopicRule): the same
// property on another type refers to a different resource (a MetricFilter's LogGroupName, a
// PolicyPrincipalAttachment's PolicyName) and says nothing about the resource's own name.
var physicalNameProps = []string{
	"AlarmName", "TableName", "BucketName", "LogGroupName", "TopicName", "QueueName",
	"PolicyName", "RuleName", "ThingTypeName", "ThingGroupName", "TemplateName",
}

// unpinnedNamedTypes name themselves but are not standalone resources: an AWS::IAM::Policy's
// PolicyName names an inline policy that CDK derives from the logical id itself and that
// CloudFormation replaces freely on the role it is attached to.
var unpinnedNamedTypes = map[string]bool{"AWS::IAM::Policy": true}

// namesItself reports whether r sets a physical name property for itself.
func namesItself(r compliance.Resource) bool {
	if unpinnedNamedTypes[r.Type] {
		return false
	}
	kind := r.Type[strings.LastIndex(r.Type, ":")+1:]
	for _, p := range physicalNameProps {
		if _, ok := r.Properties[p]; ok && strings.HasSuffix(kind, strings.TrimSuffix(p, "Name")) {
			return true
		}
	}
	return false
}

// pinnedLogicalIDs lists "<Type> <LogicalId>" for every named or stateful resource of a stack,
// sorted.
func pinnedLogicalIDs(s *synthesized, stack string) []string {
	var out []string
	for _, r := range s.templates[stack].Resources("") {
		if pinnedTypes[r.Type] || namesItself(r) {
			out = append(out, r.Type+" "+r.ID)
		}
	}
	sort.Strings(out)
	return out
}

// TestLogicalIdsPinned compares, for the dev and prod synths, the logical ids of every named or
// stateful resource with the golden lists in testdata/logical-ids/. Moving a construct changes
// its path and so its logical id; CloudFormation then replaces the resource, which loses a
// stateful resource's data and fails outright for a custom-named one. Regenerate with
// `go test ./test/ -run TestLogicalIdsPinned -update` only for an intended replacement.
func TestLogicalIdsPinned(t *testing.T) {
	for _, stage := range []stacks.Stage{stacks.StageDev, stacks.StageProd} {
		s := synthOnce(t, stage)
		for _, name := range stackNames(s) {
			t.Run(name, func(t *testing.T) {
				got := pinnedLogicalIDs(s, name)
				path := filepath.Join("testdata", "logical-ids", name+".txt")
				if *update {
					if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(path, []byte(strings.Join(got, "\n")+"\n"), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				data, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run with -update to create it)", err)
				}
				want := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("logical ids of named or stateful resources in %s differ from %s (-golden +synthesized):\n%s\n"+
						"A changed logical id makes CloudFormation replace the resource: a stateful one loses its data, "+
						"and the replacement fails for a custom-named one (AlarmName, TableName, ...). Pin the old id "+
						"with OverrideLogicalId instead of updating the list, unless the replacement is intended; "+
						"then rerun with -update and say why in the commit.", name, path, diff)
				}
			})
		}
	}
}
