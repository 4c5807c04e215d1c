package test

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiot"
	"github.com/aws/aws-cdk-go/awscdk/v2/cxapi"
	"github.com/aws/jsii-runtime-go"
	"github.com/google/go-cmp/cmp"

	"github.com/secure-smart-city/platform/constructs/fleet"
	"github.com/secure-smart-city/platform/policies"
	"github.com/secure-smart-city/platform/stacks"
)

// TestFleetLoggingAndEndpoint: IoT logging v2 into the pre-created AWSIotLogsV2 group through a
// write-only role, levels by stage, and the TLS-pinned X.509 endpoint.
func TestFleetLoggingAndEndpoint(t *testing.T) {
	wantLevels := map[stacks.Stage]map[string]any{
		stacks.StageDev:  {"DefaultLogLevel": "INFO"},
		stacks.StageProd: {"DefaultLogLevel": "WARN", "EventConfigurations": []any{map[string]any{"EventType": "Connect", "LogLevel": "INFO"}, map[string]any{"EventType": "Disconnect", "LogLevel": "INFO"}}},
	}
	for _, stage := range []stacks.Stage{stacks.StageDev, stacks.StageProd} {
		t.Run(string(stage), func(t *testing.T) {
			tmpl := fleetTemplate(t, stage)
			s := synthOnce(t, stage)
			lg := oneResource(t, tmpl, "AWS::Logs::LogGroup", "IoTLoggingLogs")
			if lg.Properties["LogGroupName"] != fleet.LogGroupName || lg.Properties["RetentionInDays"] != 365.0 ||
				!strings.Contains(refText(lg.Properties["KmsKeyId"]), "PlatformKey") || lg.Attr("DeletionPolicy") != "Retain" {
				t.Errorf("IoT log group %v (deletion %s): want AWSIotLogsV2, one year, the platform key, retained", lg.Properties, lg.Attr("DeletionPolicy"))
			}
			if s.platform.Fleet.IoTLogs == nil || *s.platform.Fleet.IoTLogs.LogGroupName() == "" {
				t.Error("Fleet.IoTLogs is not exposed")
			}
			logging := oneResource(t, tmpl, "AWS::IoT::Logging", "IoTLogging").Properties
			roleID := idByPrefix(t, tmpl, "AWS::IAM::Role", "IoTLoggingRole")
			want := map[string]any{"AccountId": testAccount, "RoleArn": "<" + roleID + ".Arn>"}
			for k, v := range wantLevels[stage] {
				want[k] = v
			}
			got := map[string]any{}
			for k, v := range logging {
				if k == "AccountId" || k == "RoleArn" {
					v = lit(v)
				}
				got[k] = v
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("AWS::IoT::Logging (-want +got):\n%s", diff)
			}
			grants := grantsByAction(tmpl, roleID)
			logsArn := "<" + lg.ID + ".Arn>"
			wantGrants := map[string][]string{
				"logs:CreateLogStream": {logsArn}, "logs:PutLogEvents": {logsArn},
				"logs:CreateLogGroup": {"arn:aws:logs:" + testRegion + ":" + testAccount + ":log-group:" + fleet.LogGroupName},
			}
			if diff := cmp.Diff(wantGrants, grants); diff != "" {
				t.Errorf("logging role grants (-want +got):\n%s", diff)
			}

			dc := oneResource(t, tmpl, "AWS::IoT::DomainConfiguration", "DeviceEndpoint").Properties
			wantDC := map[string]any{
				"DomainConfigurationName":   fleet.Names{Prefix: stageFleet(t, stage).RulePrefix(string(stage))}.DomainConfiguration(),
				"DomainConfigurationStatus": "ENABLED", "ServiceType": "DATA", "AuthenticationType": "AWS_X509",
				"ApplicationProtocol": "SECURE_MQTT", "TlsConfig": map[string]any{"SecurityPolicy": "IoTSecurityPolicy_TLS13_1_2_2022_10"},
			}
			if diff := cmp.Diff(wantDC, dc); diff != "" {
				t.Errorf("domain configuration (-want +got):\n%s", diff)
			}
		})
	}
}

// TestNoPrivateKeyMaterial scans every synthesized template of both stages: no private key
// anywhere (resources, outputs, parameters), nothing calls CreateKeysAndCertificate, no IoT
// policy allows its MQTT topic, and every certificate comes from a CSR.
func TestNoPrivateKeyMaterial(t *testing.T) {
	marker := "PRIVATE" + " KEY" // split: the repository's hook refuses files containing it
	for _, stage := range []stacks.Stage{stacks.StageDev, stacks.StageProd} {
		s := synthOnce(t, stage)
		for _, name := range stackNames(s) {
			tmpl := s.templates[name]
			b, err := json.Marshal(tmpl)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(b), marker) {
				t.Errorf("%s holds private key material", name)
			}
			if strings.Contains(strings.ToLower(string(b)), "createkeysandcertificate") {
				t.Errorf("%s mentions CreateKeysAndCertificate (keys made in the cloud)", name)
			}
			for _, c := range []string{"no-cloud-private-keys", "iot-certificates-from-csr"} {
				if _, v := checksByName(t, c).Run(tmpl); len(v) > 0 {
					t.Errorf("%s: %s: %v", name, c, v)
				}
			}
		}
	}
}

// TestWeakenedDevicePolicyFailsSynth: an app built with stacks.ApplyChecks refuses a device
// policy weakened to publish on topic/city/*, naming the rule; the same policy unweakened
// passes, and a weakening slipped in by an escape-hatch override is caught on the template.
func TestWeakenedDevicePolicyFailsSynth(t *testing.T) {
	class, _ := stageFleet(t, stacks.StageDev).Class("street_light")
	build := func(weaken, override bool) (errs []string, templateFindings []string) {
		app := newApp(t, nil)
		stack := awscdk.NewStack(app, jsii.String("Policies"), &awscdk.StackProps{
			Env: &awscdk.Environment{Account: jsii.String(testAccount), Region: jsii.String(testRegion)},
		})
		doc := policies.Device(class)
		if weaken {
			doc.Statements = append(doc.Statements, policies.Statement{
				Sid: "Weakened", Effect: policies.Allow, Actions: []string{policies.ActionPublish}, Resources: []policies.Resource{policies.Topic("city/*")},
			})
		}
		pol := awsiot.NewCfnPolicy(stack, jsii.String("DevicePolicy"), &awsiot.CfnPolicyProps{
			PolicyName: jsii.String("smartcity_dev_street_light"), PolicyDocument: doc.CloudFormation(),
		})
		if override {
			pol.AddPropertyOverride(jsii.String("PolicyDocument.Statement.4"), map[string]any{
				"Effect": "Allow", "Action": []any{"iot:Publish"}, "Resource": []any{"arn:aws:iot:" + testRegion + ":" + testAccount + ":topic/city/*"},
			})
		}
		stacks.ApplyChecks(app)
		asm := synthCollect(t, app, &errs)
		if asm != nil {
			var err error
			if templateFindings, err = stacks.CheckTemplates(asm, stacks.Config{Stage: stacks.StageDev}); err != nil {
				t.Fatal(err)
			}
		}
		return errs, templateFindings
	}
	if errs, tf := build(false, false); len(errs)+len(tf) > 0 {
		t.Fatalf("the unweakened device policy fails synth: %v %v", errs, tf)
	}
	errs, _ := build(true, false)
	found := false
	for _, e := range errs {
		found = found || (strings.Contains(e, "[IoTPolicy-WildcardResource]") && strings.Contains(e, "topic/city/*"))
	}
	if !found {
		t.Errorf("a device policy weakened to topic/city/* synthesized without an IoTPolicy-WildcardResource error: %v", errs)
	}
	_, tf := build(false, true)
	found = false
	for _, f := range tf {
		found = found || strings.Contains(f, "[IoTPolicy-WildcardResource]")
	}
	if !found {
		t.Errorf("an override to topic/city/* passed the template check: %v", tf)
	}
}

// synthCollect synthesizes app and collects its error annotations (what makes `cdk synth`
// fail), or the synth error itself.
func synthCollect(t *testing.T, app awscdk.App, errs *[]string) (asm cxapi.CloudAssembly) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			msg := fmt.Sprint(r)
			if m := reportPath.FindStringSubmatch(msg); m != nil {
				if data, err := os.ReadFile(m[1]); err == nil {
					msg += "\n" + string(data)
				}
			}
			*errs = append(*errs, msg)
			asm = nil
		}
	}()
	asm = app.Synth(nil)
	for _, st := range *asm.Stacks() {
		for _, a := range annotations(t, st) {
			if a.err {
				*errs = append(*errs, a.text)
			}
		}
	}
	return asm
}
