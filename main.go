// Command platform is the smart-city IoT platform's CDK app: `cdk synth` (or `make synth`)
// runs it. It reads the stage, account and region from context, builds the four stacks and
// applies the synth-time security checks; it never calls AWS.
package main

import (
	"fmt"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/secure-smart-city/platform/stacks"
)

func main() {
	defer jsii.Close()
	app := awscdk.NewApp(nil)
	cfg, err := stacks.ConfigFromContext(app)
	if err != nil {
		fmt.Fprintln(os.Stderr, "smart city platform:", err)
		os.Exit(1)
	}
	stacks.NewPlatform(app, cfg)
	app.Synth(nil)
}
