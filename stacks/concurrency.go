package stacks

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/secure-smart-city/platform/compliance"
)

// MinUnreservedConcurrency is what Lambda keeps unreserved in every account and region:
// reservations may total at most the concurrency limit minus this.
const MinUnreservedConcurrency = 100

// ConcurrencyPlan is what ApplyConcurrencyBudget found and did.
type ConcurrencyPlan struct {
	// Budget is the account's concurrency limit the plan was made for.
	Budget int
	// Reserved is the reservations' total as the constructs asked for them.
	Reserved int
	// Functions is how many functions reserve concurrency.
	Functions int
	// Unreserved is true when the reservations did not fit and were removed.
	Unreserved bool
}

// ApplyConcurrencyBudget checks the functions' reserved concurrency against the account's
// concurrency limit (cfg.LambdaConcurrencyBudget). Lambda refuses a reservation that would
// leave fewer than MinUnreservedConcurrency executions unreserved, so a deployment into an
// account whose limit is still low (new accounts start at 10) would fail on the first
// function. When the total does not fit, every function is left unreserved (they then share
// the account's pool, and a flood in one can starve the others), each records why in its
// metadata (compliance.UnreservedConcurrencyMetadata) and synth warns. Call it after every
// function is built.
func ApplyConcurrencyBudget(app constructs.Construct, cfg Config) ConcurrencyPlan {
	plan := ConcurrencyPlan{Budget: cfg.LambdaConcurrencyBudget}
	if plan.Budget <= 0 {
		plan.Budget = DefaultLambdaConcurrencyBudget
	}
	var reserved []awslambda.CfnFunction
	for _, c := range *app.Node().FindAll(constructs.ConstructOrder_PREORDER) {
		fn, ok := c.(awslambda.CfnFunction)
		if !ok {
			continue
		}
		if n := fn.ReservedConcurrentExecutions(); n != nil {
			plan.Reserved += int(*n)
			plan.Functions++
			reserved = append(reserved, fn)
		}
	}
	if plan.Reserved <= plan.Budget-MinUnreservedConcurrency {
		return plan
	}
	plan.Unreserved = true
	reason := fmt.Sprintf("lambdaConcurrencyBudget %d leaves room for %d reserved executions (Lambda keeps %d unreserved); "+
		"the functions reserve %d", plan.Budget, max(plan.Budget-MinUnreservedConcurrency, 0), MinUnreservedConcurrency, plan.Reserved)
	warned := map[string]bool{}
	for _, fn := range reserved {
		fn.SetReservedConcurrentExecutions(nil)
		fn.AddMetadata(jsii.String(compliance.UnreservedConcurrencyMetadata), jsii.String(reason))
		stack := awscdk.Stack_Of(fn)
		if name := *stack.StackName(); !warned[name] {
			warned[name] = true
			awscdk.Annotations_Of(stack).AddWarningV2(jsii.String("smartcity:lambdaConcurrencyBudget"), jsii.String(reason+
				", so no function in this stack reserves concurrency: they share the account's pool, and a flood in one can "+
				"throttle the others. Raise the account's Lambda concurrent-executions quota (Service Quotas) and deploy "+
				"again without -c lambdaConcurrencyBudget to restore the reservations."), nil)
		}
	}
	return plan
}
