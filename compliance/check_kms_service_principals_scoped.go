package compliance

import (
	"fmt"
	"strings"
)

// checkKMSServicePrincipalsScoped: a key policy that lets a service use the key with no
// condition lets that service use it on behalf of any of its customers.
var checkKMSServicePrincipalsScoped = Check{
	Name:    "kms-service-principals-scoped",
	Default: "key policies grant service principals only with conditions that scope them to this account",
	Run:     kmsServicePrincipalsScoped,
}

// unconditionedServices may appear without conditions: EventBridge sends no source context to
// KMS, so a condition would silently drop every delivery.
var unconditionedServices = map[string]bool{"events.amazonaws.com": true}

func kmsServicePrincipalsScoped(t Template) (int, []string) {
	return each(t, "AWS::KMS::Key", func(r Resource) string {
		var bad []string
		for i, st := range List(Get(r.Properties, "KeyPolicy", "Statement")) {
			if Get(st, "Effect") != "Allow" {
				continue
			}
			p := Get(st, "Principal")
			if p == "*" || Get(p, "AWS") == "*" {
				bad = append(bad, fmt.Sprintf("statement %d allows any principal", i))
				continue
			}
			for _, svc := range List(Get(p, "Service")) {
				name, _ := svc.(string)
				if unconditionedServices[name] {
					continue
				}
				if c, _ := Get(st, "Condition").(map[string]any); len(c) == 0 {
					bad = append(bad, fmt.Sprintf("statement %d grants %v without a condition", i, svc))
				}
			}
		}
		return strings.Join(bad, "; ")
	})
}
