// Package propcheck reports construct props errors the CDK way: as validation errors attached
// to the construct, so synth stops with the construct's path and every message at once.
package propcheck

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Errors collects props errors while a constructor checks its props.
type Errors []string

// Addf records one error; messages are lowercase and name the field and the value.
func (e *Errors) Addf(format string, args ...any) {
	*e = append(*e, fmt.Sprintf(format, args...))
}

// Attach makes synth fail with the collected errors, if any. The construct's
// Node().Validate() returns them too, which is how tests check them without a synth.
func (e Errors) Attach(c constructs.IConstruct) {
	if len(e) == 0 {
		return
	}
	c.Node().AddValidation(&validation{errs: append([]string(nil), e...)})
}

// IsUnresolved reports whether a value is a CDK token whose value is only known at deploy
// time; such values are skipped by validation (STYLE: tokens are opaque).
func IsUnresolved(v any) bool {
	return *awscdk.Token_IsUnresolved(v)
}

type validation struct{ errs []string }

// Validate implements constructs.IValidation.
func (v *validation) Validate() *[]*string {
	return jsii.Strings(v.errs...)
}
