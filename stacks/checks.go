package stacks

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/cxapi"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/secure-smart-city/platform/compliance"
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

// CheckTemplates runs every secure-default check (compliance.All, which includes the IoT
// policy rules) over the synthesized template of every stack in asm, and returns one
// "<stack>: <check>: <violation>" line per violation. It sees the templates as they will be
// deployed, escape-hatch overrides included, which cdk-nag and the policy aspect (both reading
// constructs) do not; main runs it after synth and fails on any line.
func CheckTemplates(asm cxapi.CloudAssembly, cfg Config) ([]string, error) {
	var out []string
	var all []compliance.StackTemplate
	for _, st := range *asm.Stacks() {
		tmpl, err := compliance.FromValue(st.Template())
		if err != nil {
			return nil, fmt.Errorf("stack %s: %w", *st.StackName(), err)
		}
		all = append(all, compliance.StackTemplate{Name: *st.StackName(), Template: tmpl,
			Account: *st.Environment().Account, Region: *st.Environment().Region})
		for _, c := range compliance.All {
			if c.ProdOnly && !cfg.Prod() {
				continue
			}
			_, violations := c.Run(tmpl)
			for _, v := range violations {
				out = append(out, fmt.Sprintf("%s: %s (%s): %s", *st.StackName(), c.Name, c.Default, v))
			}
		}
	}
	// The flow proofs need every stack at once (cross-stack references).
	for _, v := range compliance.CheckFlows(all) {
		out = append(out, "flows: "+v)
	}
	return out, nil
}
