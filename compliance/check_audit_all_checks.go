package compliance

import (
	"fmt"
	"sort"
	"strings"
)

// checkAuditAllChecks: an audit that skips checks is a blind spot, and one that notifies
// nobody is read by nobody.
var checkAuditAllChecks = Check{
	Name:    "audit-all-checks",
	Default: "the Device Defender audit configuration enables all 17 checks and notifies an SNS topic",
	Run:     auditAllChecks,
}

// AuditCheckKeys are the 17 AccountAuditConfiguration check keys (SECURITY-REFERENCE.md, from
// the CloudFormation reference).
var AuditCheckKeys = []string{
	"AuthenticatedCognitoRoleOverlyPermissiveCheck",
	"CaCertificateExpiringCheck",
	"CaCertificateKeyQualityCheck",
	"ConflictingClientIdsCheck",
	"DeviceCertificateAgeCheck",
	"DeviceCertificateExpiringCheck",
	"DeviceCertificateKeyQualityCheck",
	"DeviceCertificateSharedCheck",
	"IntermediateCaRevokedForActiveDeviceCertificatesCheck",
	"IotPolicyOverlyPermissiveCheck",
	"IoTPolicyPotentialMisConfigurationCheck",
	"IotRoleAliasAllowsAccessToUnusedServicesCheck",
	"IotRoleAliasOverlyPermissiveCheck",
	"LoggingDisabledCheck",
	"RevokedCaCertificateStillActiveCheck",
	"RevokedDeviceCertificateStillActiveCheck",
	"UnauthenticatedCognitoRoleOverlyPermissiveCheck",
}

func auditAllChecks(t Template) (int, []string) {
	return each(t, "AWS::IoT::AccountAuditConfiguration", func(r Resource) string {
		var bad []string
		for _, k := range AuditCheckKeys {
			if Get(r.Properties, "AuditCheckConfigurations", k, "Enabled") != true {
				bad = append(bad, k)
			}
		}
		var out []string
		if len(bad) > 0 {
			sort.Strings(bad)
			out = append(out, fmt.Sprintf("checks not enabled: %s", strings.Join(bad, ", ")))
		}
		sns := Get(r.Properties, "AuditNotificationTargetConfigurations", "Sns")
		if Get(sns, "Enabled") != true || Get(sns, "TargetArn") == nil || Get(sns, "RoleArn") == nil {
			out = append(out, "no enabled SNS notification target")
		}
		return strings.Join(out, "; ")
	})
}
