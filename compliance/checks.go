package compliance

// Check is one secure default: a pure function of one synthesized template, in the manner of
// a cdk-nag rule, with compliant and non-compliant fixtures in testdata/<Name>/.
type Check struct {
	// Name identifies the check: in synth errors, test names and testdata/<Name>/. It is
	// stable.
	Name string
	// Default is the secure default it holds the app to, in the words of the README's "Secure by
	// default, and proved" section.
	Default string
	// ProdOnly checks apply only to the prod stage's templates.
	ProdOnly bool
	// Run inspects t and returns how many resources it looked at and what violates the default.
	Run func(t Template) (inspected int, violations []string)
}

// All is every secure-default check, in the order synth reports their violations. Each is
// defined in its own check_<name>.go; this table is the only registration.
var All = []Check{
	checkKMSRotation,
	checkKMSRetain,
	checkKMSServicePrincipalsScoped,
	checkS3Encryption,
	checkS3PublicAccessBlock,
	checkS3TLSOnly,
	checkS3Versioning,
	checkS3AccessLogs,
	checkS3Lifecycle,
	checkS3Ownership,
	checkDynamoDBCMK,
	checkDynamoDBPITR,
	checkDynamoDBProdProtection,
	checkSNSCMK,
	checkSNSTLSOnly,
	checkSQSCMK,
	checkSQSTLSOnly,
	checkKinesisCMK,
	checkLogsCMKRetention,
	checkIoTRuleErrorAction,
	checkIoTPolicyRules,
	checkIAMWildcardResources,
	checkLambdaHardening,
	checkLambdaAsyncFailureDestination,
	checkStreamSourceHardening,
	checkAPIMethodsAuthorized,
	checkLambdaIoTPermissionScoped,
	checkIAMServiceTrustConditioned,
	checkKMSGrantGuard,
	checkIoTDomainTLSPolicy,
	checkIoTLoggingEnabled,
	checkNoCloudPrivateKeys,
	checkIoTCertificatesFromCSR,
	checkAlarmsHaveActions,
	checkAuditAllChecks,
}

// ByName returns the check with the given name.
func ByName(name string) (Check, bool) {
	for _, c := range All {
		if c.Name == name {
			return c, true
		}
	}
	return Check{}, false
}
