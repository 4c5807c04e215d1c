package ota

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/secure-smart-city/platform/constructs/securestore"
	"github.com/secure-smart-city/platform/internal/propcheck"
)

// DefaultRetentionDays is the firmware bucket's default Object Lock retention, in governance
// mode. Thirty days covers a staged rollout (hours to days) and the weeks after it in which a
// failed update is investigated: for that long no one can overwrite or delete a released image
// or its signature, so what devices installed can always be re-read and re-verified. Governance
// mode (not compliance) lets a principal with s3:BypassGovernanceRetention remove an image
// released by mistake, for example one that must not stay downloadable.
const DefaultRetentionDays = 30

// Object key prefixes in the firmware bucket. Operators upload images under FirmwarePrefix;
// AWS Signer writes its signed objects under SignedPrefix.
const (
	FirmwarePrefix = "firmware/"
	SignedPrefix   = "signed/"
)

// FirmwareKey is the key of an image: firmware/<class>/<version>/<file>.
func FirmwareKey(class, version, file string) string {
	return FirmwarePrefix + class + "/" + version + "/" + file
}

// SignedKeyPrefix is where the signing job of a release writes: signed/<class>/<version>/.
func SignedKeyPrefix(class, version string) string {
	return SignedPrefix + class + "/" + version + "/"
}

// StoreProps configures a FirmwareStore. Nil props take every default.
type StoreProps struct {
	// EncryptionKey encrypts the images (SSE-KMS with a bucket key).
	// Default: - a key is created for the store.
	EncryptionKey awskms.IKey
	// RetentionDays is the Object Lock default retention (governance mode), 1 to 365.
	// Default: DefaultRetentionDays (30).
	RetentionDays *int
	// NoncurrentExpireDays deletes replaced object versions once their retention is over; at
	// least RetentionDays. Default: 365.
	NoncurrentExpireDays *int
	// RemovalPolicy of the bucket. Default: RETAIN.
	RemovalPolicy awscdk.RemovalPolicy
	// AccessLogs receives the bucket's server access logs; a bucket from another stack or
	// account must grant S3 log delivery itself (see securestore.BucketProps.AccessLogs).
	// Default: - a dedicated access-log bucket is created.
	AccessLogs awss3.IBucket
}

// FirmwareStore is the firmware bucket: a securestore bucket (customer-managed key with a
// bucket key, versioning, TLS-only policy, public access blocked, server access logs,
// lifecycle) with Object Lock on and a default retention in governance mode.
type FirmwareStore struct {
	constructs.Construct
	// Bucket holds firmware/ (uploaded images) and signed/ (AWS Signer's output).
	Bucket awss3.Bucket
	// Key encrypts the images.
	Key awskms.IKey
	// RetentionDays is the default Object Lock retention in effect.
	RetentionDays int
	store         *securestore.Bucket
}

// NewFirmwareStore creates the firmware bucket. Props errors are reported at synth time with
// the construct's path.
func NewFirmwareStore(scope constructs.Construct, id string, props *StoreProps) *FirmwareStore {
	this := constructs.NewConstruct(scope, jsii.String(id))
	p := StoreProps{}
	if props != nil {
		p = *props
	}
	var errs propcheck.Errors
	defer func() { errs.Attach(this) }()
	retention := DefaultRetentionDays
	if p.RetentionDays != nil {
		retention = *p.RetentionDays
		if retention < 1 || retention > 365 {
			errs.Addf("ota: RetentionDays %d must be 1 to 365", retention)
			retention = DefaultRetentionDays
		}
	}
	noncurrent := 365
	if p.NoncurrentExpireDays != nil {
		noncurrent = *p.NoncurrentExpireDays
		if noncurrent < retention {
			errs.Addf("ota: NoncurrentExpireDays %d must be at least RetentionDays %d: lifecycle cannot delete a locked version", noncurrent, retention)
			noncurrent = retention
		}
	}
	// No storage-class transitions: devices download an image whenever they come online, and
	// archive classes would need a restore first.
	store := securestore.NewBucket(this, "Bucket", &securestore.BucketProps{
		EncryptionKey: p.EncryptionKey,
		RemovalPolicy: p.RemovalPolicy,
		AccessLogs:    p.AccessLogs,
		Lifecycle:     &securestore.Lifecycle{NoncurrentExpireAfterDays: &noncurrent},
	})
	// securestore has no Object Lock prop; the bucket is new, so enabling it at creation is
	// allowed (S3 requires versioning, which securestore forces).
	cfn := store.Resource.Node().DefaultChild().(awss3.CfnBucket)
	cfn.SetObjectLockEnabled(jsii.Bool(true))
	cfn.SetObjectLockConfiguration(&awss3.CfnBucket_ObjectLockConfigurationProperty{
		ObjectLockEnabled: jsii.String("Enabled"),
		Rule: &awss3.CfnBucket_ObjectLockRuleProperty{
			DefaultRetention: &awss3.CfnBucket_DefaultRetentionProperty{
				Mode: jsii.String("GOVERNANCE"),
				Days: jsii.Number(float64(retention)),
			},
		},
	})
	return &FirmwareStore{Construct: this, Bucket: store.Resource, Key: store.Key, RetentionDays: retention, store: store}
}

// BucketName is the firmware bucket's name, which the release command uploads to.
func (s *FirmwareStore) BucketName() *string { return s.Bucket.BucketName() }

// BucketArn is the firmware bucket's ARN.
func (s *FirmwareStore) BucketArn() *string { return s.Bucket.BucketArn() }

// GrantRead lets grantee read the objects matching keyPattern (for a device class's images,
// FirmwarePrefix + class + "/*") and decrypt them.
func (s *FirmwareStore) GrantRead(grantee awsiam.IGrantable, keyPattern string) awsiam.Grant {
	return s.store.GrantRead(grantee, keyPattern)
}

// GrantPut lets grantee upload objects matching keyPattern (for the release command,
// FirmwarePrefix + "*" and SignedPrefix + "*") and encrypt them. Object Lock keeps what was
// uploaded: a put makes a new version and never replaces a locked one.
func (s *FirmwareStore) GrantPut(grantee awsiam.IGrantable, keyPattern string) awsiam.Grant {
	return s.store.GrantPut(grantee, keyPattern)
}
