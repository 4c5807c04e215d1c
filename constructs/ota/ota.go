// Package ota deploys over-the-air firmware updates for the city's devices: the firmware
// bucket (NewFirmwareStore), an AWS Signer signing profile for AWS IoT, one AWS IoT job
// template per device class with a staged rollout, abort criteria, timeouts, retries and a
// presigned-URL role that can read only that class's images, and alarms and a dashboard on
// job executions. The release command (cmd/ota) uploads, signs and starts jobs from these
// templates; devices verify every image against the pinned code-signing certificate.
package ota

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"regexp"
	"sort"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiot"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/customresources"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/secure-smart-city/platform/constructs/ota/document"
	"github.com/secure-smart-city/platform/fleetspec"
	"github.com/secure-smart-city/platform/internal/propcheck"
)

// SigningPlatform is the AWS Signer platform of the profile: "AWS IoT Device Management
// SHA256-ECDSA" (AWS Signer developer guide, "Creating profiles using the AWS CLI"), ECDSA
// P-256 over SHA-256, the algorithm devices verify (document.SignatureAlgorithm). The
// FreeRTOS platforms are for FreeRTOS's own OTA agent, which these devices do not run.
const SigningPlatform = "AWSIoTDeviceManagement-SHA256-ECDSA"

// ResourceTypeSigningProfile is the custom resource type of the signing profile.
const ResourceTypeSigningProfile = "Custom::SignerSigningProfile"

// Rollout is a job template's execution policy.
type Rollout struct {
	// BaseRatePerMinute devices are notified per minute at first (1-1000), multiplied by
	// IncrementFactor (1.1-5) each time SucceededToIncrease more devices succeeded, up to
	// MaximumPerMinute (1-1000).
	BaseRatePerMinute   int
	IncrementFactor     float64
	SucceededToIncrease int
	MaximumPerMinute    int
	// AbortPercent of executions failing (FAILED, REJECTED or TIMED_OUT, each counted on its
	// own) after at least AbortMinExecuted devices ran the job cancels it.
	AbortPercent     float64
	AbortMinExecuted int
	// InProgressTimeoutMinutes bounds one device's execution (1-10080); then it is TIMED_OUT.
	InProgressTimeoutMinutes int
	// RetriesOnFailure and RetriesOnTimeout retry a failed or timed-out execution (0-10 in
	// all): downloads fail transiently, a bad signature fails every time and is not helped.
	RetriesOnFailure int
	RetriesOnTimeout int
	// PresignedURLSeconds is how long an image URL handed to a device stays valid (60-3600).
	PresignedURLSeconds int
}

// DefaultRollout starts at 5 devices a minute, doubles after every 20 successes up to 100 a
// minute, aborts when 10% of the first 100 fail, reject or time out, gives a device an hour,
// retries a failure once and a timeout twice, and presigns URLs for 30 minutes.
func DefaultRollout() Rollout {
	return Rollout{
		BaseRatePerMinute: 5, IncrementFactor: 2, SucceededToIncrease: 20, MaximumPerMinute: 100,
		AbortPercent: 10, AbortMinExecuted: 100,
		InProgressTimeoutMinutes: 60,
		RetriesOnFailure:         1, RetriesOnTimeout: 2,
		PresignedURLSeconds: 1800,
	}
}

// Props configures OTA.
type Props struct {
	// Fleet gives the device classes: one job template and one presigned-URL role each.
	// Required, with at least one class.
	Fleet *fleetspec.Fleet
	// NamePrefix prefixes every name (the stage's "<fleet>_<stage>", e.g. "smartcity_dev").
	// Required.
	NamePrefix string
	// FirmwareBucket and FirmwareKey are the firmware store's bucket and its key (a
	// FirmwareStore's Bucket and Key, or securestore.BucketFromAttributes and
	// keys.FromKeyArn for a store in another stack or app). Required.
	FirmwareBucket awss3.IBucket
	FirmwareKey    awskms.IKey
	// CodeSigningCertificateArn is the ACM certificate the signing profile signs with (its
	// private key never leaves ACM/Signer). Required.
	CodeSigningCertificateArn *string
	// Rollout of every template, taken whole: start from DefaultRollout() and change fields,
	// since a zero field means zero (no retries), not its default. Default: DefaultRollout().
	Rollout *Rollout
	// AlarmAction notifies on ALARM and OK. Default: - alarms without actions.
	AlarmAction awscloudwatch.IAlarmAction
	// AlarmPrefix prefixes alarm and dashboard names. Default: NamePrefix.
	AlarmPrefix string
	// LogKey encrypts the signing-profile provider's log group. Default: - FirmwareKey.
	LogKey awskms.IKey
	// LogRetention of that log group. Default: one year.
	LogRetention awslogs.RetentionDays
}

// OTA is the deployed update machinery.
type OTA struct {
	constructs.Construct
	// SigningProfileName is the AWS Signer profile the release command signs with.
	SigningProfileName string
	// SigningProfile is the custom resource that puts the profile (PutSigningProfile) and
	// cancels it on delete.
	SigningProfile customresources.AwsCustomResource
	// SigningProfileRole is the provider's role: PutSigningProfile and CancelSigningProfile
	// on this one profile.
	SigningProfileRole awsiam.Role
	// Templates, TemplateIDs and PresignRoles are keyed by class id.
	Templates    map[string]awsiot.CfnJobTemplate
	TemplateIDs  map[string]string
	PresignRoles map[string]awsiam.Role
	// Alarms on failed, rejected and cancelled (aborted) job executions.
	Alarms []awscloudwatch.Alarm
	// Dashboard shows rollouts per job.
	Dashboard awscloudwatch.Dashboard
	// Rollout is the policy every template carries.
	Rollout Rollout
	// profileArn is the signing profile's ARN.
	profileArn string
}

// providerID is the construct id AwsCustomResource gives its singleton function in a stack.
const providerID = "AWS679f53fac002430cb0da5b7982bd2287"

var profileNameRe = regexp.MustCompile(`^[a-zA-Z0-9_]{2,64}$`)

// Placeholders stand in for missing or invalid props, so that New still returns a complete
// OTA (no nil field) while synth reports the errors.
const (
	placeholderCertificateArn = "arn:aws:acm:us-east-1:000000000000:certificate/00000000-0000-0000-0000-000000000000"
	placeholderKeyArn         = "arn:aws:kms:us-east-1:000000000000:key/00000000-0000-0000-0000-000000000000"
	placeholderNamePrefix     = "invalid"
)

// New builds the signing profile, job templates, alarms and dashboard. Props errors are
// reported at synth time with the construct's path, all at once; the OTA returned is complete
// either way (missing or invalid props are replaced by placeholders), so callers need no nil
// checks.
func New(scope constructs.Construct, id string, props *Props) *OTA {
	this := constructs.NewConstruct(scope, jsii.String(id))
	o := &OTA{Construct: this, Templates: map[string]awsiot.CfnJobTemplate{}, TemplateIDs: map[string]string{},
		PresignRoles: map[string]awsiam.Role{}}
	var errs propcheck.Errors
	defer func() { errs.Attach(this) }()
	p := Props{}
	if props == nil {
		errs.Addf("ota: props are required (Fleet, NamePrefix, FirmwareBucket, FirmwareKey, CodeSigningCertificateArn)")
	} else {
		p = *props
	}
	o.Rollout = DefaultRollout()
	if p.Rollout != nil {
		o.Rollout = *p.Rollout
	}
	if rollout := o.Rollout.check(); len(rollout) > 0 {
		for _, e := range rollout {
			errs.Addf("ota: Rollout.%s", e)
		}
		o.Rollout = DefaultRollout()
	}
	var classes []fleetspec.DeviceClass
	if p.Fleet == nil || len(p.Fleet.Classes) == 0 {
		if props != nil {
			errs.Addf("ota: Fleet with at least one class is required")
		}
	} else {
		classes = append(classes, p.Fleet.Classes...)
	}
	if p.FirmwareBucket == nil {
		if props != nil {
			errs.Addf("ota: FirmwareBucket is required")
		}
		p.FirmwareBucket = awss3.Bucket_FromBucketName(this, jsii.String("MissingFirmwareBucket"), jsii.String("invalid-firmware-bucket"))
	}
	if p.FirmwareKey == nil {
		if props != nil {
			errs.Addf("ota: FirmwareKey is required")
		}
		p.FirmwareKey = awskms.Key_FromKeyArn(this, jsii.String("MissingFirmwareKey"), jsii.String(placeholderKeyArn))
	}
	switch {
	case p.CodeSigningCertificateArn == nil:
		if props != nil {
			errs.Addf("ota: CodeSigningCertificateArn is required: the signing profile signs with an ACM code-signing certificate")
		}
		p.CodeSigningCertificateArn = jsii.String(placeholderCertificateArn)
	case !propcheck.IsUnresolved(*p.CodeSigningCertificateArn) && !acmArnRe.MatchString(*p.CodeSigningCertificateArn):
		errs.Addf("ota: CodeSigningCertificateArn %q is not an ACM certificate ARN", *p.CodeSigningCertificateArn)
		p.CodeSigningCertificateArn = jsii.String(placeholderCertificateArn)
	}
	if p.NamePrefix == "" {
		if props != nil {
			errs.Addf("ota: NamePrefix is required (the stage's \"<fleet>_<stage>\", e.g. \"smartcity_dev\")")
		}
		p.NamePrefix = placeholderNamePrefix
	}
	o.SigningProfileName = p.NamePrefix + "_firmware"
	if !profileNameRe.MatchString(o.SigningProfileName) {
		errs.Addf("ota: signing profile name %q must be 2-64 of [a-zA-Z0-9_] (shorten NamePrefix)", o.SigningProfileName)
		p.NamePrefix = placeholderNamePrefix
		o.SigningProfileName = p.NamePrefix + "_firmware"
	}
	if p.AlarmPrefix == "" {
		p.AlarmPrefix = p.NamePrefix
	}
	if p.LogKey == nil {
		p.LogKey = p.FirmwareKey
	}
	if p.LogRetention == "" {
		p.LogRetention = awslogs.RetentionDays_ONE_YEAR
	}

	o.signingProfile(p)
	sort.Slice(classes, func(i, j int) bool { return classes[i].ID < classes[j].ID })
	for _, c := range classes {
		o.template(p, c.ID)
	}
	o.alarms(p)
	o.dashboard(p)
	return o
}

var acmArnRe = regexp.MustCompile(`^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]{36}$`)

func (r Rollout) check() []string {
	var errs []string
	rng := func(name string, v, lo, hi float64) {
		if v < lo || v > hi {
			errs = append(errs, fmtRange(name, v, lo, hi))
		}
	}
	rng("BaseRatePerMinute", float64(r.BaseRatePerMinute), 1, 1000)
	rng("IncrementFactor", r.IncrementFactor, 1.1, 5)
	rng("SucceededToIncrease", float64(r.SucceededToIncrease), 1, 1000000)
	rng("MaximumPerMinute", float64(r.MaximumPerMinute), 1, 1000)
	rng("AbortPercent", r.AbortPercent, 0.01, 100)
	rng("AbortMinExecuted", float64(r.AbortMinExecuted), 1, 1000000)
	rng("InProgressTimeoutMinutes", float64(r.InProgressTimeoutMinutes), 1, 10080)
	rng("RetriesOnFailure", float64(r.RetriesOnFailure), 0, 10)
	rng("RetriesOnTimeout", float64(r.RetriesOnTimeout), 0, 10)
	rng("PresignedURLSeconds", float64(r.PresignedURLSeconds), 60, 3600)
	if r.RetriesOnFailure+r.RetriesOnTimeout > 10 {
		errs = append(errs, "RetriesOnFailure + RetriesOnTimeout must be at most 10 (AWS IoT's retry limit per job)")
	}
	if r.BaseRatePerMinute > r.MaximumPerMinute {
		errs = append(errs, "BaseRatePerMinute must not exceed MaximumPerMinute")
	}
	return errs
}

func fmtRange(name string, v, lo, hi float64) string {
	b, _ := json.Marshal([]float64{v, lo, hi})
	return name + " [value, min, max] = " + string(b) + " is out of range"
}

// signingProfile puts the AWS Signer profile through AwsCustomResource: CloudFormation's
// AWS::Signer::SigningProfile allows only the Lambda and Notation platforms and has no
// certificate. Its role may put and cancel this one profile and nothing else.
func (o *OTA) signingProfile(p Props) {
	stack := awscdk.Stack_Of(o.Construct)
	profileArn := "arn:" + *stack.Partition() + ":signer:" + *stack.Region() + ":" + *stack.Account() +
		":/signing-profiles/" + o.SigningProfileName
	o.profileArn = profileArn
	// The role's id is ExecutionRole, as every function role of the platform's: the accepted
	// X-Ray finding (Resource * for tracing only) is scoped by that path.
	provider := constructs.NewConstruct(o.Construct, jsii.String("SigningProfileProvider"))
	role := awsiam.NewRole(provider, jsii.String("ExecutionRole"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("Puts and cancels the " + o.SigningProfileName + " AWS Signer profile at deploy time; that profile only"),
	})
	logs := awslogs.NewLogGroup(provider, jsii.String("Logs"), &awslogs.LogGroupProps{
		EncryptionKey: p.LogKey, Retention: p.LogRetention, RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	logs.GrantWrite(role)
	role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid: jsii.String("SigningProfile"), Actions: jsii.Strings("signer:PutSigningProfile", "signer:CancelSigningProfile"),
		Resources: jsii.Strings(profileArn),
	}))
	role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid: jsii.String("Tracing"), Actions: jsii.Strings("xray:PutTraceSegments", "xray:PutTelemetryRecords"), Resources: jsii.Strings("*"),
	}))
	o.SigningProfileRole = role
	physical := customresources.PhysicalResourceId_Of(jsii.String(o.SigningProfileName))
	cr := customresources.NewAwsCustomResource(o.Construct, jsii.String("SigningProfile"), &customresources.AwsCustomResourceProps{
		ResourceType: jsii.String(ResourceTypeSigningProfile),
		OnCreate: &customresources.AwsSdkCall{
			Service: jsii.String("Signer"), Action: jsii.String("PutSigningProfile"),
			Parameters: SigningProfileParameters(o.SigningProfileName, p.CodeSigningCertificateArn), PhysicalResourceId: physical,
		},
		OnUpdate: &customresources.AwsSdkCall{
			Service: jsii.String("Signer"), Action: jsii.String("PutSigningProfile"),
			Parameters: SigningProfileParameters(o.SigningProfileName, p.CodeSigningCertificateArn), PhysicalResourceId: physical,
		},
		OnDelete: &customresources.AwsSdkCall{
			Service: jsii.String("Signer"), Action: jsii.String("CancelSigningProfile"),
			Parameters: map[string]any{"profileName": o.SigningProfileName}, PhysicalResourceId: physical,
			// A profile already cancelled or never created is gone: success.
			IgnoreErrorCodesMatching: jsii.String("ResourceNotFoundException"),
		},
		Role: role, LogGroup: logs, MemorySize: jsii.Number(256),
		Timeout: awscdk.Duration_Minutes(jsii.Number(1)), InstallLatestAwsSdk: jsii.Bool(false),
	})
	o.SigningProfile = cr
	policy := role.Node().TryFindChild(jsii.String("DefaultPolicy"))
	if policy != nil {
		cr.Node().AddDependency(policy)
	}
	// AwsCustomResource exposes none of these; they are the platform's function defaults
	// (the lambda-hardening check), set on the provider's L1 so cdk-nag sees them too. The
	// provider is one per stack: this construct assumes it is the stack's only AwsCustomResource.
	fn, ok := stack.Node().TryFindChild(jsii.String(providerID)).(awslambda.Function)
	if !ok {
		return
	}
	if cfn, ok := fn.Node().DefaultChild().(awslambda.CfnFunction); ok {
		cfn.SetTracingConfig(&awslambda.CfnFunction_TracingConfigProperty{Mode: jsii.String("Active")})
		cfn.SetReservedConcurrentExecutions(jsii.Number(1))
		cfn.SetLoggingConfig(&awslambda.CfnFunction_LoggingConfigProperty{LogFormat: jsii.String("JSON"), LogGroup: logs.LogGroupName()})
	}
	if policy != nil {
		fn.Node().AddDependency(policy)
	}
}

// SigningProfileParameters are the PutSigningProfile parameters (AWS SDK for JavaScript v3
// member names, which are the API model's): the profile name, the platform and the ACM
// certificate. A test decodes them into the Go SDK's PutSigningProfileInput and validates them
// against the API model.
func SigningProfileParameters(name string, certificateArn *string) map[string]any {
	return map[string]any{
		"profileName":     name,
		"platformId":      SigningPlatform,
		"signingMaterial": map[string]any{"certificateArn": certificateArn},
	}
}

// templateSpec is everything a job template is made of; its hash is the template id's suffix,
// because every AWS::IoT::JobTemplate property is create-only: a change makes a new template
// (CloudFormation creates it, then deletes the old one) and never a failed update.
type templateSpec struct {
	Class    string  `json:"class"`
	Document string  `json:"document"`
	Rollout  Rollout `json:"rollout"`
	Role     string  `json:"role"`
}

// TemplateID derives a class's job template id: "<prefix>_<class>" (cut to fit) and the first
// 12 hex digits of the SHA-256 of the template's content, at most 64 of [a-zA-Z0-9_-].
func TemplateID(prefix, class string, content []byte) string {
	sum := sha256.Sum256(append([]byte(prefix+"\x00"+class+"\x00"), content...))
	head := prefix + "_" + class
	if len(head) > 51 {
		head = head[:51]
	}
	return head + "_" + hex.EncodeToString(sum[:])[:12]
}

// TemplateDocument is the document a class's template carries. Releases replace it with their
// own (image, version, signature); a device that ever received this one would refuse it (no
// version, no image).
func TemplateDocument(class string) string {
	b, _ := json.Marshal(map[string]string{"operation": document.Operation, "class": class,
		"note": "template placeholder: each release creates its job with its own document"})
	return string(b)
}

func (o *OTA) template(p Props, class string) {
	scope := constructs.NewConstruct(o.Construct, jsii.String("Class-"+class))
	stack := awscdk.Stack_Of(o.Construct)
	role := awsiam.NewRole(scope, jsii.String("PresignRole"), &awsiam.RoleProps{
		AssumedBy: awsiam.NewServicePrincipal(jsii.String("iot.amazonaws.com"), &awsiam.ServicePrincipalOpts{
			Conditions: &map[string]any{"StringEquals": map[string]any{"aws:SourceAccount": stack.Account()}},
		}),
		Description: jsii.String("AWS IoT Jobs presigns download URLs of " + class + " firmware with this role: GetObject on " +
			FirmwarePrefix + class + "/ only, and the key through S3 only"),
		MaxSessionDuration: awscdk.Duration_Hours(jsii.Number(1)),
	})
	role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid: jsii.String("ReadClassFirmware"), Actions: jsii.Strings("s3:GetObject"),
		Resources: jsii.Strings(*p.FirmwareBucket.ArnForObjects(jsii.String(FirmwarePrefix + class + "/*"))),
	}))
	role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid: jsii.String("DecryptThroughS3"), Actions: jsii.Strings("kms:Decrypt"),
		Resources: jsii.Strings(*p.FirmwareKey.KeyArn()),
		Conditions: &map[string]any{"StringEquals": map[string]any{
			"kms:ViaService": "s3." + *stack.Region() + ".amazonaws.com",
		}},
	}))
	o.PresignRoles[class] = role

	r := o.Rollout
	doc := TemplateDocument(class)
	content, _ := json.Marshal(templateSpec{Class: class, Document: doc, Rollout: r, Role: *role.Node().Path()})
	id := TemplateID(p.NamePrefix, class, content)
	// AbortConfig, JobExecutionsRolloutConfig, PresignedUrlConfig and TimeoutConfig are
	// untyped (JSON) in CDK's L1, which passes them through as given: they are written with
	// CloudFormation's property names (AWS::IoT::JobTemplate), not the L1 structs' JSON names.
	abort := func(failure string) map[string]any {
		return map[string]any{
			"Action": "CANCEL", "FailureType": failure,
			"MinNumberOfExecutedThings": r.AbortMinExecuted, "ThresholdPercentage": r.AbortPercent,
		}
	}
	var retries []*awsiot.CfnJobTemplate_RetryCriteriaProperty
	if r.RetriesOnFailure > 0 {
		retries = append(retries, &awsiot.CfnJobTemplate_RetryCriteriaProperty{FailureType: jsii.String("FAILED"), NumberOfRetries: jsii.Number(float64(r.RetriesOnFailure))})
	}
	if r.RetriesOnTimeout > 0 {
		retries = append(retries, &awsiot.CfnJobTemplate_RetryCriteriaProperty{FailureType: jsii.String("TIMED_OUT"), NumberOfRetries: jsii.Number(float64(r.RetriesOnTimeout))})
	}
	props := &awsiot.CfnJobTemplateProps{
		JobTemplateId: jsii.String(id),
		Description:   jsii.String("Firmware rollout for " + class + " devices (" + p.NamePrefix + ")"),
		Document:      jsii.String(doc),
		JobExecutionsRolloutConfig: map[string]any{
			"MaximumPerMinute": r.MaximumPerMinute,
			"ExponentialRolloutRate": map[string]any{
				"BaseRatePerMinute":    r.BaseRatePerMinute,
				"IncrementFactor":      r.IncrementFactor,
				"RateIncreaseCriteria": map[string]any{"NumberOfSucceededThings": r.SucceededToIncrease},
			},
		},
		AbortConfig:   map[string]any{"CriteriaList": []any{abort("FAILED"), abort("REJECTED"), abort("TIMED_OUT")}},
		TimeoutConfig: map[string]any{"InProgressTimeoutInMinutes": r.InProgressTimeoutMinutes},
		PresignedUrlConfig: map[string]any{
			"RoleArn": role.RoleArn(), "ExpiresInSec": r.PresignedURLSeconds,
		},
	}
	if len(retries) > 0 {
		props.JobExecutionsRetryConfig = &awsiot.CfnJobTemplate_JobExecutionsRetryConfigProperty{RetryCriteriaList: &retries}
	}
	t := awsiot.NewCfnJobTemplate(scope, jsii.String("Template"), props)
	// AWS IoT checks it may pass the role when the template is created.
	t.Node().AddDependency(role)
	o.Templates[class] = t
	o.TemplateIDs[class] = id
}
