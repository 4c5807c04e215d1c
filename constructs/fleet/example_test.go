package fleet_test

import (
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/jsii-runtime-go"

	"github.com/secure-smart-city/platform/constructs/fleet"
	"github.com/secure-smart-city/platform/fleetspec"
)

// The devices' data endpoint: X.509 client certificates over MQTT only, with the pinned TLS
// policy unless the props name another.
func ExampleNewEndpoint() {
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("Example"), nil)

	fleet.NewEndpoint(stack, "DeviceEndpoint", &fleet.EndpointProps{Name: "example-devices"})

	template := app.Synth(nil).GetStackByName(jsii.String("Example")).Template()
	for _, r := range template.(map[string]any)["Resources"].(map[string]any) {
		props := r.(map[string]any)["Properties"].(map[string]any)
		fmt.Println(r.(map[string]any)["Type"], props["DomainConfigurationName"], props["AuthenticationType"], props["ApplicationProtocol"])
	}
	// Output: AWS::IoT::DomainConfiguration example-devices AWS_X509 SECURE_MQTT
}

// A fleet of one class in one district, with one declared thing, over a key imported from
// another stack: the thing type, the class and district groups, the class's device policy and
// the quarantine group whose policy denies everything. A remediation role may move things into
// quarantine.
func ExampleNew() {
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("Example"), nil)
	key := awskms.Key_FromKeyArn(stack, jsii.String("Key"), jsii.String("arn:aws:kms:eu-west-1:111122223333:key/11111111-2222-3333-4444-555555555555"))

	devices := fleet.New(stack, "Devices", &fleet.Props{
		Fleet: &fleetspec.Fleet{
			Name:      "city",
			Districts: []fleetspec.District{{ID: "centre", Name: "Centre"}},
			Classes:   []fleetspec.DeviceClass{{ID: "lamp", Name: "Lamp"}},
			Things:    []fleetspec.Thing{{Name: "lamp-1", Class: "lamp", District: "centre", Serial: "S1"}},
		},
		Prefix:        "city_dev",
		EncryptionKey: key,
	})
	devices.GrantQuarantine(awsiam.Role_FromRoleName(stack, jsii.String("Remediation"), jsii.String("remediation"), nil))

	template := app.Synth(nil).GetStackByName(jsii.String("Example")).Template()
	var names []string
	for _, r := range template.(map[string]any)["Resources"].(map[string]any) {
		typ := r.(map[string]any)["Type"].(string)
		props, _ := r.(map[string]any)["Properties"].(map[string]any)
		if !strings.HasPrefix(typ, "AWS::IoT::") {
			continue
		}
		for _, key := range []string{"ThingTypeName", "ThingGroupName", "PolicyName", "ThingName"} {
			if name, ok := props[key].(string); ok {
				names = append(names, typ+" "+name)
			}
		}
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Println(n)
	}
	// Output:
	// AWS::IoT::Policy city_dev_lamp
	// AWS::IoT::Policy city_dev_quarantine
	// AWS::IoT::Thing lamp-1
	// AWS::IoT::ThingGroup city_dev_district_centre
	// AWS::IoT::ThingGroup city_dev_lamp
	// AWS::IoT::ThingGroup city_dev_quarantine
	// AWS::IoT::ThingType city_dev_lamp
}

// AWS IoT logging v2 for the account into the encrypted AWSIotLogsV2 group; another stack
// imports it by its attributes to put metric filters on the group.
func ExampleNewLogging() {
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("Example"), nil)
	key := awskms.Key_FromKeyArn(stack, jsii.String("Key"), jsii.String("arn:aws:kms:eu-west-1:111122223333:key/11111111-2222-3333-4444-555555555555"))

	logging := fleet.NewLogging(stack, "IoTLogging", &fleet.LoggingProps{EncryptionKey: key, Level: fleet.LevelInfo})
	imported := fleet.FromLoggingAttributes(stack, "Imported", &fleet.LoggingAttributes{RoleArn: "arn:aws:iam::111122223333:role/iot-logging"})

	fmt.Println(*logging.Resource.DefaultLogLevel(), fleet.LogGroupName, *imported.LogGroup.LogGroupName())
	// Output: INFO AWSIotLogsV2 AWSIotLogsV2
}
