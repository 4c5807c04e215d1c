package compliance

import (
	"fmt"
	"sort"
)

// checkKMSGrantGuard holds every key policy to Control Tower control CT.KMS.PR.3: a Deny of
// kms:CreateGrant to Principal "*" on Resource "*" when BoolIfExists kms:GrantIsForAWSResource
// and aws:PrincipalIsAWSService are both "false". A grant keeps working after the policy
// that let its creator make it is gone, so only grants for AWS resources may be created.
var checkKMSGrantGuard = Check{
	Name:    "kms-grant-guard",
	Default: "every key policy denies kms:CreateGrant unless the grant is for an AWS resource (Control Tower CT.KMS.PR.3)",
	Run:     kmsGrantGuard,
}

func kmsGrantGuard(t Template) (int, []string) {
	return each(t, "AWS::KMS::Key", func(r Resource) string {
		for _, st := range List(Get(r.Properties, "KeyPolicy", "Statement")) {
			if isGrantGuard(st) {
				return ""
			}
		}
		return "no key policy statement denies kms:CreateGrant unless the grant is for an AWS resource (CT.KMS.PR.3)"
	})
}

func isGrantGuard(st any) bool {
	if Get(st, "Effect") != "Deny" {
		return false
	}
	p := Get(st, "Principal")
	if p != "*" && Get(p, "AWS") != "*" {
		return false
	}
	acts := List(Get(st, "Action"))
	if len(acts) != 1 || acts[0] != "kms:CreateGrant" {
		return false
	}
	if res := List(Get(st, "Resource")); len(res) != 1 || res[0] != "*" {
		return false
	}
	cond, _ := Get(st, "Condition").(map[string]any)
	if len(cond) != 1 {
		return false
	}
	b, _ := cond["BoolIfExists"].(map[string]any)
	keys := make([]string, 0, len(b))
	for k, v := range b {
		if fmt.Sprint(v) != "false" {
			return false
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return fmt.Sprint(keys) == "[aws:PrincipalIsAWSService kms:GrantIsForAWSResource]"
}
