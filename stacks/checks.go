package stacks

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/cxapi"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/secure-smart-city/platform/policies"
)

// ApplyChecks adds the synth-time checks to scope (normally the app): the IoT policy rules
// (cdk-nag has none for AWS::IoT::*) and the cdk-nag AwsSolutions, NIST 800-53 R5 and
// Serverless packs, after recording the accepted findings. A finding without a suppression is
// an error annotation, and synth fails on it.
func ApplyChecks(scope constructs.Construct) {
	Suppress(scope)
	aspects := awscdk.Aspects_Of(scope)
	aspects.Add(policies.NewChecker(), nil)
	opts := &cdknag.NagPackProps{Verbose: jsii.Bool(true)}
	aspects.Add(cdknag.NewAwsSolutionsChecks(opts), nil)
	aspects.Add(cdknag.NewNIST80053R5Checks(opts), nil)
	aspects.Add(cdknag.NewServerlessChecks(opts), nil)
}

// CheckTemplates runs the IoT policy rules over the synthesized templates of every stack in
// asm and returns "<stack>/<logical id>: <finding>" lines.
func CheckTemplates(asm cxapi.CloudAssembly) []string {
	var out []string
	for _, st := range *asm.Stacks() {
		tmpl, _ := st.Template().(map[string]any)
		for _, f := range policies.CheckTemplate(tmpl) {
			out = append(out, *st.StackName()+"/"+f)
		}
	}
	return out
}
