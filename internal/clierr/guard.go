package clierr

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/cxapi"
	"github.com/aws/constructs-go/constructs/v10"
)

// Build runs fn, which composes constructs under app, and turns a panic into problems. A
// construct that meets bad props records a validation error and may then panic in a later
// jsii call (a nil grantee, say: "parameter grantee is required, but nil was provided"), which
// would hide the cause behind the symptom; so a panic is answered with the validation errors
// recorded so far, one "<construct path>: <message>" each, and with the panic's own message
// only when there are none.
func Build(app constructs.Construct, fn func()) (problems []string) {
	defer func() {
		if r := recover(); r != nil {
			if problems = ValidationErrors(app); len(problems) == 0 {
				problems = FromPanic(r)
			}
		}
	}()
	fn()
	return nil
}

// Synth synthesizes app. CDK throws on failed construct validation (props errors), which
// reaches Go as a panic carrying CDK's report and a JavaScript stack; a failed Lambda build
// panics with the compiler's output. Both come back as problems.
func Synth(app awscdk.App) (asm cxapi.CloudAssembly, problems []string) {
	defer func() {
		if r := recover(); r != nil {
			problems = FromPanic(r)
		}
	}()
	return app.Synth(nil), nil
}

// ValidationErrors runs every construct's validations, as synth would, and returns one
// "<path>: <message>" line per error.
func ValidationErrors(app constructs.Construct) (out []string) {
	defer func() {
		// The tree may be half-built; what was collected before a failure is still useful.
		_ = recover()
	}()
	for _, c := range *app.Node().FindAll(constructs.ConstructOrder_PREORDER) {
		for _, m := range *c.Node().Validate() {
			out = append(out, *c.Node().Path()+": "+*m)
		}
	}
	return out
}
