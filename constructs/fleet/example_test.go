package fleet_test

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/secure-smart-city/platform/constructs/fleet"
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
