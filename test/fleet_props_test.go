package test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiot"
	"github.com/aws/aws-cdk-go/awscdk/v2/customresources"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/google/go-cmp/cmp"

	"github.com/secure-smart-city/platform/constructs/fleet"
	"github.com/secure-smart-city/platform/fleetspec"
	"github.com/secure-smart-city/platform/policies"
	"github.com/secure-smart-city/platform/stacks"
	"github.com/secure-smart-city/platform/topics"
)

// TestFleetPropsErrors: the fleet constructs refuse impossible or weakening props with a
// message naming the field and the value.
func TestFleetPropsErrors(t *testing.T) {
	app := newApp(t, nil)
	stack := awscdk.NewStack(app, jsii.String("FleetProps"), &awscdk.StackProps{
		Env: &awscdk.Environment{Account: jsii.String(testAccount), Region: jsii.String(testRegion)},
	})
	key := platformKey(stack).Resource
	table := awsdynamodb.Table_FromTableName(stack, jsii.String("Allowlist"), jsii.String("allowlist"))
	small := func(change func(*fleetspec.Fleet)) *fleetspec.Fleet {
		f := &fleetspec.Fleet{
			Name:      "city",
			Districts: []fleetspec.District{{ID: "centre", Name: "Centre"}},
			Classes:   []fleetspec.DeviceClass{{ID: "lamp", Name: "Lamp"}},
			Things:    []fleetspec.Thing{{Name: "lamp-1", Class: "lamp", District: "centre", Serial: "S1"}},
		}
		if change != nil {
			change(f)
		}
		return f
	}
	cases := []struct {
		name  string
		build func(s constructs.Construct) constructs.IConstruct
		want  []string
	}{
		{"no fleet", func(s constructs.Construct) constructs.IConstruct {
			return fleet.New(s, "F", &fleet.Props{Prefix: "city_dev", EncryptionKey: key})
		}, []string{"Fleet (the stage's fleet file) is required"}},
		{"no key", func(s constructs.Construct) constructs.IConstruct {
			return fleet.New(s, "F", &fleet.Props{Fleet: small(nil), Prefix: "city_dev"})
		}, []string{"EncryptionKey is required"}},
		{"claim without allowlist", func(s constructs.Construct) constructs.IConstruct {
			return fleet.New(s, "F", &fleet.Props{Fleet: small(func(f *fleetspec.Fleet) { f.Provisioning.Claim = true }), Prefix: "city_dev", EncryptionKey: key})
		}, []string{"Allowlist is required when the fleet enables claim provisioning"}},
		{"reserved class", func(s constructs.Construct) constructs.IConstruct {
			return fleet.New(s, "F", &fleet.Props{Fleet: small(func(f *fleetspec.Fleet) {
				f.Classes = append(f.Classes, fleetspec.DeviceClass{ID: "quarantine", Name: "Q"}, fleetspec.DeviceClass{ID: "district_x", Name: "D"})
			}), Prefix: "city_dev", EncryptionKey: key})
		}, []string{`class id "quarantine" is reserved`, `class id "district_x" must not start with "district_"`}},
		{"template name too long", func(s constructs.Construct) constructs.IConstruct {
			return fleet.New(s, "F", &fleet.Props{Fleet: small(nil), Prefix: "a_very_long_fleet_name_for_a_city_dev", EncryptionKey: key})
		}, []string{`provisioning template name "a_very_long_fleet_name_for_a_city_dev_claim" must be 1-36`}},
		{"missing csr", func(s constructs.Construct) constructs.IConstruct {
			return fleet.New(s, "F", &fleet.Props{Fleet: small(func(f *fleetspec.Fleet) { f.Things[0].CSR = "missing.csr" }), Prefix: "city_dev", EncryptionKey: key})
		}, []string{`thing "lamp-1" csr:`}},
		{"too many things for one stack", func(s constructs.Construct) constructs.IConstruct {
			return fleet.New(s, "F", &fleet.Props{Fleet: small(func(f *fleetspec.Fleet) {
				for i := 0; i < 120; i++ {
					f.Things = append(f.Things, fleetspec.Thing{Name: fmt.Sprintf("lamp-x%d", i), Class: "lamp", District: "centre", Serial: fmt.Sprintf("X%d", i)})
				}
			}), Prefix: "city_dev", EncryptionKey: key})
		}, []string{"the fleet declares 121 things (0 with a csr), above the limit of 100 things", "the Fleet stack would hold about 518 resources, CloudFormation allows 500"}},
		{"logging disabled", func(s constructs.Construct) constructs.IConstruct {
			return fleet.NewLogging(s, "L", &fleet.LoggingProps{EncryptionKey: key, Level: fleet.LevelDisabled})
		}, []string{"Level DISABLED turns IoT logging off"}},
		{"logging above INFO drops duplicate client ids", func(s constructs.Construct) constructs.IConstruct {
			return fleet.NewLogging(s, "L", &fleet.LoggingProps{EncryptionKey: key, Level: fleet.LevelError})
		}, []string{`logging level ERROR for Disconnect events drops the INFO Disconnect entries`}},
		{"logging bad level and no key", func(s constructs.Construct) constructs.IConstruct {
			return fleet.NewLogging(s, "L", &fleet.LoggingProps{Level: "VERBOSE"})
		}, []string{`logging Level "VERBOSE" must be DEBUG, INFO, WARN or ERROR`, "logging EncryptionKey is required"}},
		{"endpoint legacy TLS", func(s constructs.Construct) constructs.IConstruct {
			return fleet.NewEndpoint(s, "E", &fleet.EndpointProps{Name: "devices", SecurityPolicy: "IoTSecurityPolicy_TLS12_1_0_2015_01"})
		}, []string{`endpoint SecurityPolicy "IoTSecurityPolicy_TLS12_1_0_2015_01" is not one of`}},
		{"endpoint reserved name", func(s constructs.Construct) constructs.IConstruct {
			return fleet.NewEndpoint(s, "E", &fleet.EndpointProps{Name: "iot:Data-ATS"})
		}, []string{`endpoint Name "iot:Data-ATS" starts with the reserved IoT: prefix`}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := validationErrors(c.build(constructs.NewConstruct(stack, jsii.String(fmt.Sprintf("Case%d", i)))))
			for _, w := range c.want {
				if !strings.Contains(got, w) {
					t.Errorf("validation errors %q do not contain %q", got, w)
				}
			}
		})
	}
	// After the errors, every part is still there: callers need no nil checks.
	t.Run("safe after errors", func(t *testing.T) {
		scope := constructs.NewConstruct(stack, jsii.String("Safe"))
		f := fleet.New(scope, "F", &fleet.Props{Prefix: "city_dev"})
		l := fleet.NewLogging(scope, "L", &fleet.LoggingProps{Level: "VERBOSE"})
		e := fleet.NewEndpoint(scope, "E", &fleet.EndpointProps{Name: "iot:bad", SecurityPolicy: "old"})
		for name, v := range map[string]any{"Registry": f.Registry, "QuarantineGroup": f.QuarantineGroup, "QuarantinePolicy": f.QuarantinePolicy,
			"QuarantineGroupArn": f.QuarantineGroupArn(), "ClassGroups": f.ClassGroups, "Things": f.Things,
			"Logging.LogGroup": l.LogGroup, "Logging.Role": l.Role, "Logging.Resource": l.Resource, "Endpoint.Resource": e.Resource} {
			if nilPart(v) {
				t.Errorf("%s is nil after a props error", name)
			}
		}
		if validationErrors(f) == "" || validationErrors(l) == "" || validationErrors(e) == "" {
			t.Error("the errors were not reported")
		}
	})
	t.Run("valid props have no errors", func(t *testing.T) {
		scope := constructs.NewConstruct(stack, jsii.String("Valid"))
		for _, c := range []constructs.IConstruct{
			fleet.New(scope, "F", &fleet.Props{Fleet: small(func(f *fleetspec.Fleet) { f.Provisioning.Claim = true }), Prefix: "city_dev", EncryptionKey: key, Allowlist: table}),
			fleet.NewLogging(scope, "L", &fleet.LoggingProps{EncryptionKey: key, Level: fleet.LevelError, EventLevels: map[string]fleet.Level{fleet.EventDisconnect: fleet.LevelInfo}}),
			fleet.NewEndpoint(scope, "E", &fleet.EndpointProps{Name: "city_dev_devices", SecurityPolicy: fleet.TLS13Only}),
		} {
			if errs := validationErrors(c); errs != "" {
				t.Errorf("%s: unexpected errors %q", *c.Node().Path(), errs)
			}
		}
	})
}

// TestFleetNames: every name derives from the prefix, and a class's type, group, policy and
// topic rule share one name.
func TestFleetNames(t *testing.T) {
	n := fleet.Names{Prefix: "smartcity_dev"}
	got := []string{n.Class("street_light"), n.District("old_town"), n.Quarantine(), n.ClaimPolicy(), n.ClaimTemplate(), n.DomainConfiguration()}
	want := []string{topics.RuleName("smartcity_dev", "street_light"), "smartcity_dev_district_old_town", "smartcity_dev_quarantine", "smartcity_dev_claim", "smartcity_dev_claim", "smartcity_dev_devices"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("names (-want +got):\n%s", diff)
	}
	if !cmp.Equal(fleet.SearchableAttributes, []string{"district", "class", "serial"}) {
		t.Errorf("searchable attributes %v (AWS allows three)", fleet.SearchableAttributes)
	}
	levels := map[stacks.Stage]fleet.Level{}
	for _, s := range []stacks.Stage{stacks.StageDev, stacks.StageProd} {
		levels[s], _ = stacks.IoTLogLevels(s)
	}
	if levels[stacks.StageDev] != fleet.LevelInfo || levels[stacks.StageProd] != fleet.LevelWarn {
		t.Errorf("log levels by stage %v", levels)
	}
}

func init() {
	weakenings = append(weakenings,
		weakening{"iot-domain-tls-policy", func(s awscdk.Stack, w bool) {
			e := fleet.NewEndpoint(s, "Endpoint", &fleet.EndpointProps{Name: "weaken_devices"})
			overrideIf(w, e.Resource, "TlsConfig.SecurityPolicy", "IoTSecurityPolicy_TLS12_1_0_2015_01")
		}},
		weakening{"iot-logging-enabled", func(s awscdk.Stack, w bool) {
			l := fleet.NewLogging(s, "Logging", &fleet.LoggingProps{EncryptionKey: platformKey(s).Resource})
			overrideIf(w, l.Resource, "DefaultLogLevel", "ERROR")
		}},
		weakening{"no-cloud-private-keys", func(s awscdk.Stack, w bool) {
			if !w {
				awsiot.NewCfnPolicy(s, jsii.String("Claim"), &awsiot.CfnPolicyProps{PolicyDocument: policies.Claim("weaken_claim").CloudFormation()})
				return
			}
			cr := customresources.NewAwsCustomResource(s, jsii.String("CloudKeys"), &customresources.AwsCustomResourceProps{
				OnCreate: &customresources.AwsSdkCall{
					Service: jsii.String("Iot"), Action: jsii.String("createKeysAndCertificate"),
					Parameters:         map[string]any{"setAsActive": true},
					PhysicalResourceId: customresources.PhysicalResourceId_FromResponse(jsii.String("certificateId")),
				},
				Policy: customresources.AwsCustomResourcePolicy_FromStatements(&[]awsiam.PolicyStatement{awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
					Actions: jsii.Strings("iot:CreateKeysAndCertificate"), Resources: jsii.Strings("*"),
				})}),
			})
			awscdk.NewCfnOutput(s, jsii.String("Key"), &awscdk.CfnOutputProps{Value: cr.GetResponseField(jsii.String("keyPair.PrivateKey"))})
		}},
		// The IoT logging role trusts AWS IoT under the documented confused-deputy condition;
		// an override that drops it (or a role built without one) is caught.
		weakening{"iam-service-trust-conditioned", func(s awscdk.Stack, w bool) {
			l := fleet.NewLogging(s, "Logging", &fleet.LoggingProps{EncryptionKey: platformKey(s).Resource})
			deleteIf(w, cfn(l.Role), "AssumeRolePolicyDocument.Statement.0.Condition")
		}},
		weakening{"iot-certificates-from-csr", func(s awscdk.Stack, w bool) {
			csr, err := os.ReadFile(filepath.Join("..", "config", "csr", "dev", "sl-old-town-001.csr"))
			if err != nil {
				panic(err)
			}
			c := awsiot.NewCfnCertificate(s, jsii.String("Cert"), &awsiot.CfnCertificateProps{
				CertificateSigningRequest: jsii.String(string(csr)), Status: jsii.String("ACTIVE"),
			})
			if w {
				c.AddPropertyDeletionOverride(jsii.String("CertificateSigningRequest"))
				c.AddPropertyOverride(jsii.String("CertificatePem"), "made elsewhere")
			}
		}},
	)
}
