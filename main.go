// Command platform is the smart-city IoT platform's CDK app: `cdk synth` (or `make synth`)
// runs it. It reads the stage, account, region and fleet file from context, builds the four
// stacks and applies the synth-time security checks; it never calls AWS.
package main

import (
	"fmt"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/secure-smart-city/platform/stacks"
)

func main() {
	os.Exit(run())
}

func run() int {
	defer jsii.Close()
	app := awscdk.NewApp(nil)
	cfg, err := stacks.ConfigFromContext(app)
	if err != nil {
		fmt.Fprintln(os.Stderr, "smart city platform:", err)
		return 1
	}
	stacks.NewPlatform(app, cfg)
	// Synth itself fails on cdk-nag and IoT policy findings (error annotations); the template
	// check then catches IoT policies weakened by escape-hatch overrides, which only the
	// synthesized templates show.
	asm := app.Synth(nil)
	if findings := stacks.CheckTemplates(asm); len(findings) > 0 {
		fmt.Fprintln(os.Stderr, "smart city platform: IoT policy findings in the synthesized templates:")
		for _, f := range findings {
			fmt.Fprintln(os.Stderr, "  "+f)
		}
		return 1
	}
	return 0
}
