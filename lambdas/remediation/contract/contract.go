// Package contract is what the remediation functions (lambdas/remediation/audit and
// lambdas/remediation/quarantine) and the construct that deploys them (constructs/defender)
// must agree on: the environment, the bundled fleet file, the detection metrics and their log
// filter patterns, and the event values the functions act on. It holds names only, so the CDK
// app imports no SDK client.
package contract

// The runtime fleet copy both functions read (written by (*fleetspec.Fleet).RuntimeJSON).
const (
	// FleetFile is the file's name among the function's bundled files.
	FleetFile = "fleet.json"
	// FleetPath is where the functions find it: beside their binary in the task root.
	FleetPath = "/var/task/" + FleetFile
)

// Environment variables of both functions.
const (
	// EnvFleetFile is the path of the runtime fleet copy (FleetPath). Required.
	EnvFleetFile = "FLEET_FILE"
	// EnvThingTypePrefix is the fleet's thing type prefix: the functions act only on things
	// whose type is <prefix>_<class> for one of the fleet's classes. Required.
	EnvThingTypePrefix = "THING_TYPE_PREFIX"
)

// Environment variables of the audit function: the mitigation actions' names, one per step.
// An unset name drops that step; all unset is an error.
const (
	EnvActionDeactivateCertificate = "ACTION_DEACTIVATE_CERT"
	EnvActionQuarantine            = "ACTION_QUARANTINE"
	EnvActionEnableLogging         = "ACTION_ENABLE_LOGGING"
	EnvActionPublishFinding        = "ACTION_PUBLISH_FINDING"
)

// Environment variables of the quarantine function.
const (
	// EnvQuarantineGroup is the quarantine thing group's name. Required.
	EnvQuarantineGroup = "QUARANTINE_GROUP"
	// EnvDeactivateCertificates is "true" to also deactivate the offending certificates.
	// Default: false.
	EnvDeactivateCertificates = "DEACTIVATE_CERTIFICATES"
	// EnvDeviceThreshold is how many events one certificate may cause per alarm period before
	// it is acted on. Default: 0 (every certificate found).
	EnvDeviceThreshold = "DEVICE_THRESHOLD"
	// EnvSecurityAlarms is the comma-separated names of the alarms the function trusts (the
	// alarms on MetricAuthorizationFailures and MetricDuplicateClientIDs). Required.
	EnvSecurityAlarms = "SECURITY_ALARMS"
	// EnvIoTLogGroup is the AWS IoT v2 log group (AWSIotLogsV2) the function queries. Required.
	EnvIoTLogGroup = "IOT_LOG_GROUP"
	// EnvCertificateARNPrefix is "arn:<partition>:iot:<region>:<account>:cert/". Required.
	EnvCertificateARNPrefix = "CERTIFICATE_ARN_PREFIX"
	// EnvAlertTopicARN is the topic the function reports to. Required.
	EnvAlertTopicARN = "ALERT_TOPIC_ARN"
	// EnvBudgetTable is the table holding the hourly action budget (partition BudgetPartition).
	// Required unless EnvQuarantineCap is 0.
	EnvBudgetTable = "BUDGET_TABLE"
	// EnvQuarantineCap is how many automated actions an hour the function may take; 0 makes it
	// notify only. Default: DefaultQuarantineCap.
	EnvQuarantineCap = "QUARANTINE_CAP"
	// EnvClaimPolicy is the claim certificates' IoT policy: its targets are reported, never
	// acted on. Default: - none.
	EnvClaimPolicy = "CLAIM_POLICY"
	// EnvClaimCertificateIDs is a comma-separated list of claim certificate ids, treated the
	// same way. Default: - none.
	EnvClaimCertificateIDs = "CLAIM_CERTIFICATE_IDS"
)

// DefaultQuarantineCap is the quarantine function's automated actions per hour when
// EnvQuarantineCap is unset.
const DefaultQuarantineCap = 10

// BudgetPartition is the partition key value of the quarantine budget's items in the budget
// table (keys pk and sk, TTL attribute expiresAt). A thing name cannot contain "#", so the
// partition never meets a device's items.
const BudgetPartition = "#quarantine-budget"

// The detection metrics: fleet totals that metric filters over the AWS IoT v2 log group count
// and the security alarms watch. The quarantine function confirms an alarm only on these.
const (
	MetricNamespace             = "SmartCity/Security"
	MetricAuthorizationFailures = "AuthorizationFailures"
	MetricDuplicateClientIDs    = "DuplicateClientIds"
)

// Metric filter patterns over the AWS IoT v2 log group (AWSIotLogsV2), one per metric, each
// with metric value "1" and no dimension: a dimension from the log entry would be a value a
// client chooses (clientId), which lets it name a victim and, with about 1,000 distinct values
// an hour, makes CloudWatch Logs disable the filter. Who caused the events is found at alarm
// time from the entries' principalId.
//
// Failed broker operations (Connect, Publish-In, Subscribe, ...) are logged with status
// "Failure", a reason and details, so one pattern covers every authorization failure. For a
// duplicate client id two spellings are in circulation: reason "DUPLICATE_CLIENT_ID" and the
// Disconnect entry's disconnectReason "DUPLICATE_CLIENTID" (the lifecycle events' value). No
// AWS sample of the log line was at hand, so the pattern accepts either rather than bet on one.
const (
	FilterPatternAuthorizationFailures = `{ $.status = "Failure" && $.reason = "AUTHORIZATION_FAILURE" }`
	FilterPatternDuplicateClientIDs    = `{ $.reason = "DUPLICATE_CLIENT_ID" || $.disconnectReason = "DUPLICATE_CLIENTID" }`
)

// ViolationInAlarm is the Device Defender Detect violation event type that may quarantine its
// thing; the quarantine subscription's filter selects it.
const ViolationInAlarm = "in-alarm"
