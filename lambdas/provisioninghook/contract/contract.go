// Package contract is what the pre-provisioning hook and the construct that deploys it must
// agree on: the environment, the template parameters, the decision reasons and the metrics the
// hook emits, on which the Fleet stack's alarms are built. It holds names only, so the CDK app imports no SDK client.
package contract

// Environment variables of the hook function.
const (
	// EnvAllowlistTable names the provisioning allowlist table.
	EnvAllowlistTable = "ALLOWLIST_TABLE"
	// EnvAllowUnboundClaims is "true" only in a trial (context allowUnboundClaims=true): the
	// hook then admits allowlist entries that carry no key fingerprint. Anything else, or
	// unset, refuses them.
	EnvAllowUnboundClaims = "ALLOW_UNBOUND_CLAIMS"
)

// Template parameter names. The provisioning template must declare these parameters and use
// ParamThingName, ParamClass and ParamDistrict (never values the device sent) for the thing's
// name, type and attributes; the hook overrides them from the allowlist. Class and District are
// the fleet file's ids (the district attribute's format on every provisioning path).
const (
	ParamSerialNumber = "SerialNumber"
	ParamThingName    = "ThingName"
	ParamClass        = "Class"
	ParamDistrict     = "District"
)

// Metrics. Every decision is one embedded-metric-format log line that counts 1 in
// MetricDecisions with the dimension DimensionReason = the decision's reason, so CloudWatch
// holds one metric per reason (admissions included) without a PutMetricData call.
const (
	MetricNamespace = "SmartCity/Provisioning"
	MetricDecisions = "Decisions"
	// DimensionReason is also the log line's "reason" field, which the dimension reads.
	DimensionReason = "reason"
)

// Reasons logged with every decision. The response to AWS IoT carries no reason, so these are
// the only record of why a device was refused; keep them stable for log queries and alarms.
const (
	ReasonAdmitted = "admitted"
	// ReasonAdmittedUnbound is an admission of an entry without a key fingerprint, possible
	// only with the trial setting: no device-unique proof was checked.
	ReasonAdmittedUnbound = "admitted_unbound_trial"
	ReasonRetrySameCert   = "retry_same_certificate"
	ReasonMissingSerial   = "missing_serial"
	ReasonInvalidSerial   = "invalid_serial"
	// ReasonMissingCertificate: the request carries no certificate id.
	ReasonMissingCertificate = "missing_certificate_id"
	// ReasonUnreadableCertificate: the request's certificatePem does not parse, so the key it
	// carries cannot be compared with the allowlist.
	ReasonUnreadableCertificate = "certificate_unreadable"
	ReasonUnknownSerial         = "unknown_serial"
	ReasonAlreadyProvisioned    = "already_provisioned"
	ReasonNotAllowed            = "status_not_allowed"
	ReasonThingNameMismatch     = "thing_name_mismatch"
	ReasonInvalidAllowlist      = "invalid_allowlist_entry"
	// ReasonFingerprintMissing: the entry holds no key fingerprint and the trial setting is
	// off.
	ReasonFingerprintMissing = "fingerprint_missing"
	// ReasonFingerprintMismatch: the certificate being provisioned carries another key than
	// the one the manufacturer recorded for the serial (a copied serial, a wrong device).
	ReasonFingerprintMismatch = "fingerprint_mismatch"
	// ReasonThingInUse: the thing already has an ACTIVE certificate (or another principal)
	// that is not this request's; provisioning would bind a second identity to it.
	ReasonThingInUse = "thing_has_active_principal"
	ReasonRaceLost   = "race_lost"
	// ReasonAllowlistUnreadable and ReasonRegistryError are failures of DynamoDB or the IoT
	// registry, not decisions about the device: the hook returns an error as well.
	ReasonAllowlistUnreadable = "allowlist_error"
	ReasonRegistryError       = "registry_error"
)

// AlarmedReasons are the refusals that mean someone is presenting a serial or a thing that is
// not theirs; the Fleet stack alarms on each. race_lost and already_provisioned: two
// certificates for one serial; fingerprint_mismatch: a serial without its device's key;
// thing_has_active_principal: a claim for a thing that is already in service.
var AlarmedReasons = []string{ReasonRaceLost, ReasonAlreadyProvisioned, ReasonFingerprintMismatch, ReasonThingInUse}
