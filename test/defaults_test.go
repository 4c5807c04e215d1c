package test

import (
	"testing"

	"github.com/secure-smart-city/platform/compliance"
)

// TestSecureDefaults runs every secure-default check over every stack of both stages. A check
// that inspects nothing in a stage where its resource type exists would pass vacuously, so the
// test also requires each check to have inspected something somewhere, unless the app has no
// resource of that kind yet (listed in notYetInApp, which must shrink, never grow, as issues land).
func TestSecureDefaults(t *testing.T) {
	inspected := map[string]int{}
	for variant, s := range synthVariants(t) {
		for _, c := range compliance.All {
			if c.ProdOnly && variant != "prod" {
				continue
			}
			for _, name := range stackNames(s) {
				n, violations := c.Run(s.templates[name])
				inspected[c.Name] += n
				for _, v := range violations {
					t.Errorf("%s (%s): %s %s: %s", c.Name, c.Default, variant, name, v)
				}
			}
		}
	}
	for _, c := range compliance.All {
		if inspected[c.Name] == 0 && !notYetInApp[c.Name] {
			t.Errorf("check %s inspected no resource in the app: it would pass whatever the app did", c.Name)
		}
		if inspected[c.Name] > 0 && notYetInApp[c.Name] {
			t.Errorf("check %s now inspects %d resources: remove it from notYetInApp", c.Name, inspected[c.Name])
		}
	}
}

// notYetInApp lists checks whose resource types the app does not create yet; their proofs in
// TestChecksCatchWeakening still run.
var notYetInApp = map[string]bool{}
