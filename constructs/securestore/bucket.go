package securestore

import (
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/secure-smart-city/platform/constructs/keys"
	"github.com/secure-smart-city/platform/internal/propcheck"
)

// MinimumTLSVersion is the lowest TLS version any bucket accepts; props may raise it only.
const MinimumTLSVersion = 1.2

// BucketProps configures a Bucket. Nil props take every default.
type BucketProps struct {
	// EncryptionKey encrypts objects (SSE-KMS with an S3 bucket key).
	// Default: - a key is created for this bucket.
	EncryptionKey awskms.IKey
	// AccessLogs receives the bucket's server access logs.
	// Default: - a dedicated access-log bucket is created (see NewAccessLogBucket).
	AccessLogs awss3.IBucket
	// RemovalPolicy applies to the bucket (and to the access-log bucket it creates).
	// Default: RETAIN.
	RemovalPolicy awscdk.RemovalPolicy
	// MinimumTLSVersion the bucket policy requires; lower values are refused.
	// Default: 1.2.
	MinimumTLSVersion *float64
	// Lifecycle of current and noncurrent object versions.
	// Default: - see DefaultLifecycle.
	Lifecycle *Lifecycle
}

// Lifecycle moves current versions through cheaper storage classes and expires noncurrent
// versions. A nil day count leaves that step out.
type Lifecycle struct {
	// InfrequentAccessAfterDays moves objects to S3 Standard-IA (S3 requires >= 30).
	InfrequentAccessAfterDays *int
	// GlacierInstantRetrievalAfterDays moves objects to S3 Glacier Instant Retrieval.
	GlacierInstantRetrievalAfterDays *int
	// DeepArchiveAfterDays moves objects to S3 Glacier Deep Archive.
	DeepArchiveAfterDays *int
	// ExpireAfterDays deletes current versions (they become noncurrent in a versioned bucket).
	ExpireAfterDays *int
	// NoncurrentExpireAfterDays deletes noncurrent versions; required, since a versioned
	// bucket otherwise grows forever.
	NoncurrentExpireAfterDays *int
	// PrefixExpiry deletes current versions under a key prefix after a number of days, for
	// data whose life is shorter than the bucket's (rejected records, personal data). Each
	// becomes its own rule beside the bucket-wide one; where both apply, S3 applies the
	// expiration rather than a transition. Noncurrent versions then expire as above.
	// Default: - none.
	PrefixExpiry []PrefixExpiry
}

// PrefixExpiry expires the objects under Prefix ExpireAfterDays after their creation.
type PrefixExpiry struct {
	// Prefix is the key prefix, for example "rejected/". Required; prefixes may not overlap.
	Prefix string
	// ExpireAfterDays is at least 1.
	ExpireAfterDays int
}

// DefaultLifecycle is the archive lifecycle: Standard-IA at 30 days, Glacier Instant Retrieval
// at 90, Deep Archive at 365, no expiry of current data, noncurrent versions deleted after 90
// days.
func DefaultLifecycle() Lifecycle {
	return Lifecycle{
		InfrequentAccessAfterDays:        intPtr(30),
		GlacierInstantRetrievalAfterDays: intPtr(90),
		DeepArchiveAfterDays:             intPtr(365),
		NoncurrentExpireAfterDays:        intPtr(90),
	}
}

// Bucket is an S3 bucket with SSE-KMS and a bucket key, versioning, all public access blocked,
// bucket-owner-enforced ownership, a TLS-only bucket policy with a minimum TLS version, server
// access logs and a lifecycle.
type Bucket struct {
	constructs.Construct
	// Resource is the bucket (child id "Resource").
	Resource awss3.Bucket
	// Key encrypts the bucket's objects.
	Key awskms.IKey
	// AccessLogs receives the bucket's server access logs.
	AccessLogs awss3.IBucket
}

// NewBucket creates an encrypted bucket. Props errors are reported at synth time with the
// construct's path (see Node().Validate()).
func NewBucket(scope constructs.Construct, id string, props *BucketProps) *Bucket {
	this := constructs.NewConstruct(scope, jsii.String(id))
	p := bucketDefaults(props)
	var errs propcheck.Errors
	defer func() { errs.Attach(this) }()

	if *p.MinimumTLSVersion < MinimumTLSVersion {
		errs.Addf("securestore: MinimumTLSVersion %v is below %v, the platform's floor", *p.MinimumTLSVersion, MinimumTLSVersion)
	}
	rules := lifecycleRules(*p.Lifecycle, &errs)

	key := keyOrNew(this, p.EncryptionKey)
	logs := p.AccessLogs
	if logs == nil {
		logs = NewAccessLogBucket(this, "AccessLogs", &AccessLogBucketProps{RemovalPolicy: p.RemovalPolicy}).Resource
	}

	b := awss3.NewBucket(this, jsii.String("Resource"), &awss3.BucketProps{
		Encryption:        awss3.BucketEncryption_KMS,
		EncryptionKey:     key,
		BucketKeyEnabled:  jsii.Bool(true),
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		ObjectOwnership:   awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		EnforceSSL:        jsii.Bool(true),
		MinimumTLSVersion: p.MinimumTLSVersion,
		Versioned:         jsii.Bool(true),
		LifecycleRules:    &rules,
		RemovalPolicy:     p.RemovalPolicy,
	})
	enableAccessLogs(b, logs, accessLogPrefix(this))
	return &Bucket{Construct: this, Resource: b, Key: key, AccessLogs: logs}
}

// enableAccessLogs delivers b's server access logs to logs under prefix through a bucket
// policy grant to the S3 logging service, scoped to b and this account. It is set here rather
// than through BucketProps.ServerAccessLogsBucket because without the app-level feature flag
// @aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy CDK would fall back to ACL delivery, which
// needs ObjectWriter ownership: the construct must be as strict in other teams' apps as in ours.
// A brought log bucket from another stack or account must grant the same statement itself.
func enableAccessLogs(b awss3.Bucket, logs awss3.IBucket, prefix string) {
	b.Node().DefaultChild().(awss3.CfnBucket).SetLoggingConfiguration(&awss3.CfnBucket_LoggingConfigurationProperty{
		DestinationBucketName: logs.BucketName(),
		LogFilePrefix:         jsii.String(prefix),
	})
	logs.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("S3ServerAccessLogsFrom" + sidSafe(prefix)),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("logging.s3.amazonaws.com"), nil)},
		Actions:    jsii.Strings("s3:PutObject"),
		Resources:  jsii.Strings(*logs.ArnForObjects(jsii.String(prefix + "*"))),
		Conditions: &map[string]any{
			"ArnLike":      map[string]any{"aws:SourceArn": b.BucketArn()},
			"StringEquals": map[string]any{"aws:SourceAccount": awscdk.Stack_Of(b).Account()},
		},
	}))
}

// sidSafe keeps the letters and digits of s: statement ids allow nothing else.
func sidSafe(s string) string {
	out := make([]rune, 0, len(s))
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			out = append(out, r)
		}
	}
	return string(out)
}

// GrantRead lets grantee read objects (matching keyPattern, "*" for all) and decrypt them.
func (b *Bucket) GrantRead(grantee awsiam.IGrantable, keyPattern string) awsiam.Grant {
	return b.Resource.GrantRead(grantee, jsii.String(keyPattern))
}

// GrantPut lets grantee write objects (matching keyPattern) and encrypt them.
func (b *Bucket) GrantPut(grantee awsiam.IGrantable, keyPattern string) awsiam.Grant {
	return b.Resource.GrantPut(grantee, jsii.String(keyPattern))
}

// GrantReadWrite lets grantee read and write objects (matching keyPattern) and use the key.
func (b *Bucket) GrantReadWrite(grantee awsiam.IGrantable, keyPattern string) awsiam.Grant {
	return b.Resource.GrantReadWrite(grantee, jsii.String(keyPattern))
}

// GrantWrite lets grantee write and delete objects (matching keyPattern) and encrypt them.
func (b *Bucket) GrantWrite(grantee awsiam.IGrantable, keyPattern string) awsiam.Grant {
	return b.Resource.GrantWrite(grantee, jsii.String(keyPattern), nil)
}

// BucketName is the bucket's name.
func (b *Bucket) BucketName() *string { return b.Resource.BucketName() }

// BucketArn is the bucket's ARN.
func (b *Bucket) BucketArn() *string { return b.Resource.BucketArn() }

// ArnForObjects is the ARN of the objects matching keyPattern, for policy statements.
func (b *Bucket) ArnForObjects(keyPattern string) *string {
	return b.Resource.ArnForObjects(jsii.String(keyPattern))
}

// S3 publishes no per-bucket request metrics unless a metrics configuration is paid for, and
// its storage metrics are daily: Bucket has no Metric methods, and the platform watches the
// writers (processors, rules) instead.

// BucketAttributes name a securestore bucket created elsewhere (another stack or app).
type BucketAttributes struct {
	// BucketName is the bucket's name. Either BucketName or BucketArn is required.
	BucketName *string
	// BucketArn is the bucket's ARN.
	BucketArn *string
	// EncryptionKey is the customer-managed key the bucket's objects are encrypted with:
	// grants on the imported bucket chain this key's grant, as they do on a Bucket. Required.
	EncryptionKey awskms.IKey
}

// BucketFromAttributes imports a bucket, as awss3.Bucket_FromBucketAttributes does (the
// construct id is the import's), and returns CDK's own IBucket: GrantRead, GrantPut and
// GrantReadWrite on it also grant the key, and it can be passed wherever a construct takes an
// awss3.IBucket. Props errors are reported at synth time; the returned bucket is usable either
// way.
func BucketFromAttributes(scope constructs.Construct, id string, attrs *BucketAttributes) awss3.IBucket {
	a := BucketAttributes{}
	if attrs != nil {
		a = *attrs
	}
	var errs propcheck.Errors
	if a.BucketName == nil && a.BucketArn == nil {
		errs.Addf("securestore: BucketFromAttributes needs BucketName or BucketArn")
		a.BucketName = jsii.String("invalid-bucket")
	}
	if a.EncryptionKey == nil {
		errs.Addf("securestore: BucketFromAttributes needs EncryptionKey: securestore buckets use SSE-KMS with a customer-managed key, and grants must chain it")
	}
	b := awss3.Bucket_FromBucketAttributes(scope, jsii.String(id), &awss3.BucketAttributes{
		BucketName: a.BucketName, BucketArn: a.BucketArn, EncryptionKey: a.EncryptionKey,
	})
	errs.Attach(b)
	return b
}

// AccessLogBucketProps configures an access-log bucket.
type AccessLogBucketProps struct {
	// RemovalPolicy of the log bucket. Default: RETAIN.
	RemovalPolicy awscdk.RemovalPolicy
	// RetentionDays before log objects expire. Default: 365.
	RetentionDays *int
}

// AccessLogBucket receives S3 server access logs. It uses SSE-S3 (AES-256), not SSE-KMS: S3
// log delivery does not write to SSE-KMS buckets, so this is the one bucket kind without the
// platform key. Everything else (public access block, TLS-only policy, versioning, lifecycle)
// matches Bucket.
type AccessLogBucket struct {
	constructs.Construct
	// Resource is the log bucket (child id "Resource").
	Resource awss3.Bucket
}

// NewAccessLogBucket creates a bucket for server access logs.
func NewAccessLogBucket(scope constructs.Construct, id string, props *AccessLogBucketProps) *AccessLogBucket {
	this := constructs.NewConstruct(scope, jsii.String(id))
	if props == nil {
		props = &AccessLogBucketProps{}
	}
	var errs propcheck.Errors
	defer func() { errs.Attach(this) }()
	retention := 365
	if props.RetentionDays != nil {
		retention = *props.RetentionDays
		if retention < 1 {
			errs.Addf("securestore: access-log RetentionDays %d must be at least 1", retention)
			retention = 1
		}
	}
	removal := props.RemovalPolicy
	if removal == "" {
		removal = awscdk.RemovalPolicy_RETAIN
	}
	b := awss3.NewBucket(this, jsii.String("Resource"), &awss3.BucketProps{
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		ObjectOwnership:   awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		EnforceSSL:        jsii.Bool(true),
		MinimumTLSVersion: jsii.Number(MinimumTLSVersion),
		Versioned:         jsii.Bool(true),
		LifecycleRules: &[]*awss3.LifecycleRule{{
			Id:                                  jsii.String("expire-access-logs"),
			Expiration:                          awscdk.Duration_Days(jsii.Number(float64(retention))),
			NoncurrentVersionExpiration:         awscdk.Duration_Days(jsii.Number(30)),
			AbortIncompleteMultipartUploadAfter: awscdk.Duration_Days(jsii.Number(7)),
		}},
		RemovalPolicy: removal,
	})
	return &AccessLogBucket{Construct: this, Resource: b}
}

func bucketDefaults(props *BucketProps) BucketProps {
	p := BucketProps{}
	if props != nil {
		p = *props
	}
	if p.RemovalPolicy == "" {
		p.RemovalPolicy = awscdk.RemovalPolicy_RETAIN
	}
	if p.MinimumTLSVersion == nil {
		p.MinimumTLSVersion = jsii.Number(MinimumTLSVersion)
	}
	if p.Lifecycle == nil {
		l := DefaultLifecycle()
		p.Lifecycle = &l
	}
	return p
}

// lifecycleRules turns a Lifecycle into S3 rules, recording errors for orders S3 rejects.
func lifecycleRules(l Lifecycle, errs *propcheck.Errors) []*awss3.LifecycleRule {
	var transitions []*awss3.Transition
	last, lastName := 0, ""
	step := func(days *int, name string, class awss3.StorageClass, minDays int) {
		if days == nil {
			return
		}
		switch {
		case *days < minDays:
			errs.Addf("securestore: Lifecycle.%s %d must be at least %d days", name, *days, minDays)
		case lastName != "" && *days < last+30:
			errs.Addf("securestore: Lifecycle.%s %d must be at least 30 days after %s (%d)", name, *days, lastName, last)
		}
		transitions = append(transitions, &awss3.Transition{
			StorageClass:    class,
			TransitionAfter: awscdk.Duration_Days(jsii.Number(float64(*days))),
		})
		last, lastName = *days, name
	}
	step(l.InfrequentAccessAfterDays, "InfrequentAccessAfterDays", awss3.StorageClass_INFREQUENT_ACCESS(), 30)
	step(l.GlacierInstantRetrievalAfterDays, "GlacierInstantRetrievalAfterDays", awss3.StorageClass_GLACIER_INSTANT_RETRIEVAL(), 1)
	step(l.DeepArchiveAfterDays, "DeepArchiveAfterDays", awss3.StorageClass_DEEP_ARCHIVE(), 1)

	rule := &awss3.LifecycleRule{
		Id:                                  jsii.String("archive-and-expire-noncurrent"),
		AbortIncompleteMultipartUploadAfter: awscdk.Duration_Days(jsii.Number(7)),
	}
	if len(transitions) > 0 {
		rule.Transitions = &transitions
	}
	if l.ExpireAfterDays != nil {
		if *l.ExpireAfterDays <= last {
			errs.Addf("securestore: Lifecycle.ExpireAfterDays %d must come after the last transition (%d days)", *l.ExpireAfterDays, last)
		}
		rule.Expiration = awscdk.Duration_Days(jsii.Number(float64(*l.ExpireAfterDays)))
	}
	if l.NoncurrentExpireAfterDays == nil {
		errs.Addf("securestore: Lifecycle.NoncurrentExpireAfterDays is required: a versioned bucket would otherwise keep every old version forever")
	} else {
		if *l.NoncurrentExpireAfterDays < 1 {
			errs.Addf("securestore: Lifecycle.NoncurrentExpireAfterDays %d must be at least 1", *l.NoncurrentExpireAfterDays)
		}
		rule.NoncurrentVersionExpiration = awscdk.Duration_Days(jsii.Number(float64(max(*l.NoncurrentExpireAfterDays, 1))))
	}
	out := []*awss3.LifecycleRule{rule}
	for i, pe := range l.PrefixExpiry {
		if pe.Prefix == "" {
			errs.Addf("securestore: Lifecycle.PrefixExpiry[%d].Prefix is required (an empty prefix would expire the whole bucket: use ExpireAfterDays)", i)
		}
		if pe.ExpireAfterDays < 1 {
			errs.Addf("securestore: Lifecycle.PrefixExpiry[%d].ExpireAfterDays %d must be at least 1", i, pe.ExpireAfterDays)
		}
		for j, other := range l.PrefixExpiry[:i] {
			if pe.Prefix != "" && other.Prefix != "" && (strings.HasPrefix(pe.Prefix, other.Prefix) || strings.HasPrefix(other.Prefix, pe.Prefix)) {
				errs.Addf("securestore: Lifecycle.PrefixExpiry[%d].Prefix %q overlaps PrefixExpiry[%d].Prefix %q", i, pe.Prefix, j, other.Prefix)
			}
		}
		pr := &awss3.LifecycleRule{
			Id:                                  jsii.String("expire-" + sidSafe(pe.Prefix)),
			Prefix:                              jsii.String(pe.Prefix),
			Expiration:                          awscdk.Duration_Days(jsii.Number(float64(max(pe.ExpireAfterDays, 1)))),
			AbortIncompleteMultipartUploadAfter: awscdk.Duration_Days(jsii.Number(7)),
		}
		if l.NoncurrentExpireAfterDays != nil {
			pr.NoncurrentVersionExpiration = awscdk.Duration_Days(jsii.Number(float64(max(*l.NoncurrentExpireAfterDays, 1))))
		}
		out = append(out, pr)
	}
	return out
}

// accessLogPrefix keeps each bucket's logs apart in a shared log bucket.
func accessLogPrefix(c constructs.Construct) string {
	return *c.Node().Path() + "/"
}

// keyOrNew returns key, or when it is nil a new key (child id "Key") for this store alone,
// whose policy lets services use it: bring your own key or we build one, never an AWS-managed key.
func keyOrNew(store constructs.Construct, key awskms.IKey, services ...keys.Service) awskms.IKey {
	if key != nil {
		return key
	}
	return keys.New(store, "Key", &keys.Props{
		Alias:    jsii.String("alias/smartcity/" + *store.Node().Addr()),
		Services: services,
	}).Resource
}

func intPtr(v int) *int { return &v }
