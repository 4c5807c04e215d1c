package defender

import "slices"

// Check is one Device Defender audit check.
type Check struct {
	// Name is the API name, used by scheduled audits, findings and mitigation tasks.
	Name string
	// Key is the check's key in AWS::IoT::AccountAuditConfiguration AuditCheckConfigurations.
	Key string
	// Severity as the Device Defender audit check reference gives it.
	Severity string
	// Daily checks run in the daily audit: the critical ones, plus the ones whose findings the
	// platform contains automatically (revoked device certificates) or that restore detection
	// itself (logging disabled).
	Daily bool
	// Unschedulable checks are refused by CloudFormation in a scheduled audit's target list
	// ("Request contains an invalid Audit Check Name", aws/aws-cdk PR 31776, which left them
	// out of its AuditCheck enum for that reason). They stay enabled, so on-demand audits run
	// them.
	Unschedulable bool
}

// Checks are all 17 audit checks, in the CloudFormation reference's order.
var Checks = []Check{
	{Name: "AUTHENTICATED_COGNITO_ROLE_OVERLY_PERMISSIVE_CHECK", Key: "AuthenticatedCognitoRoleOverlyPermissiveCheck", Severity: "Critical", Daily: true},
	{Name: "CA_CERTIFICATE_EXPIRING_CHECK", Key: "CaCertificateExpiringCheck", Severity: "Medium"},
	{Name: "CA_CERTIFICATE_KEY_QUALITY_CHECK", Key: "CaCertificateKeyQualityCheck", Severity: "Critical", Daily: true},
	{Name: "CONFLICTING_CLIENT_IDS_CHECK", Key: "ConflictingClientIdsCheck", Severity: "High"},
	{Name: "DEVICE_CERTIFICATE_AGE_CHECK", Key: "DeviceCertificateAgeCheck", Severity: "Low"},
	{Name: "DEVICE_CERTIFICATE_EXPIRING_CHECK", Key: "DeviceCertificateExpiringCheck", Severity: "Medium"},
	{Name: "DEVICE_CERTIFICATE_KEY_QUALITY_CHECK", Key: "DeviceCertificateKeyQualityCheck", Severity: "Critical", Daily: true},
	{Name: "DEVICE_CERTIFICATE_SHARED_CHECK", Key: "DeviceCertificateSharedCheck", Severity: "Critical", Daily: true},
	{Name: "INTERMEDIATE_CA_REVOKED_FOR_ACTIVE_DEVICE_CERTIFICATES_CHECK", Key: "IntermediateCaRevokedForActiveDeviceCertificatesCheck", Severity: "Medium", Unschedulable: true},
	{Name: "IOT_POLICY_OVERLY_PERMISSIVE_CHECK", Key: "IotPolicyOverlyPermissiveCheck", Severity: "Critical", Daily: true},
	{Name: "IOT_POLICY_POTENTIAL_MISCONFIGURATION_CHECK", Key: "IoTPolicyPotentialMisConfigurationCheck", Severity: "Medium", Unschedulable: true},
	{Name: "IOT_ROLE_ALIAS_ALLOWS_ACCESS_TO_UNUSED_SERVICES_CHECK", Key: "IotRoleAliasAllowsAccessToUnusedServicesCheck", Severity: "Medium"},
	{Name: "IOT_ROLE_ALIAS_OVERLY_PERMISSIVE_CHECK", Key: "IotRoleAliasOverlyPermissiveCheck", Severity: "Critical", Daily: true},
	{Name: "LOGGING_DISABLED_CHECK", Key: "LoggingDisabledCheck", Severity: "Low", Daily: true},
	{Name: "REVOKED_CA_CERTIFICATE_STILL_ACTIVE_CHECK", Key: "RevokedCaCertificateStillActiveCheck", Severity: "Critical", Daily: true},
	{Name: "REVOKED_DEVICE_CERTIFICATE_STILL_ACTIVE_CHECK", Key: "RevokedDeviceCertificateStillActiveCheck", Severity: "Medium", Daily: true},
	{Name: "UNAUTHENTICATED_COGNITO_ROLE_OVERLY_PERMISSIVE_CHECK", Key: "UnauthenticatedCognitoRoleOverlyPermissiveCheck", Severity: "Critical", Daily: true},
}

// DailyChecks are the checks of the daily audit, in Checks order.
func DailyChecks() []string {
	var out []string
	for _, c := range Checks {
		if c.Daily && !c.Unschedulable {
			out = append(out, c.Name)
		}
	}
	return out
}

// WeeklyChecks are the checks of the weekly audit: every check a scheduled audit accepts.
func WeeklyChecks() []string {
	var out []string
	for _, c := range Checks {
		if !c.Unschedulable {
			out = append(out, c.Name)
		}
	}
	return out
}

// unschedulable reports whether CloudFormation refuses name in a scheduled audit.
func unschedulable(name string) bool {
	i := slices.IndexFunc(Checks, func(c Check) bool { return c.Name == name })
	return i >= 0 && Checks[i].Unschedulable
}

// known reports whether name is one of the 17 checks.
func known(name string) bool {
	return slices.ContainsFunc(Checks, func(c Check) bool { return c.Name == name })
}

// Certificate age threshold bounds (days) for DEVICE_CERTIFICATE_AGE_CHECK.
const (
	MinCertificateAgeDays     = 30
	MaxCertificateAgeDays     = 3652
	DefaultCertificateAgeDays = 365
)
