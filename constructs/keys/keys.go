// Package keys provides the platform's customer-managed KMS keys: rotation on, an alias, a key
// policy that names exactly the AWS service principals that must use the key, and a RETAIN
// removal policy, so no stack deletion can make encrypted data unreadable. FromAttributes and
// FromKeyArn import a key created elsewhere into the same Key type.
package keys

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/secure-smart-city/platform/internal/propcheck"
)

// Service is an AWS service that uses the key through its own service principal (rather than
// through an IAM role, which IAM grants cover). Each one adds one key policy statement, scoped
// to this account.
type Service string

const (
	// ServiceLogs lets CloudWatch Logs encrypt this account's log groups in this region, scoped
	// by the kms:EncryptionContext:aws:logs:arn condition.
	ServiceLogs Service = "logs"
	// ServiceCloudWatchAlarms lets CloudWatch alarms of this account publish to SNS topics
	// encrypted with the key.
	ServiceCloudWatchAlarms Service = "cloudwatch-alarms"
	// ServiceSNS lets SNS topics of this account deliver to SQS queues encrypted with the key.
	ServiceSNS Service = "sns"
	// ServiceEvents lets EventBridge deliver to SNS topics or SQS queues encrypted with the key.
	// EventBridge sends no aws:SourceAccount to KMS, so this statement carries no condition:
	// add it only to a key that protects nothing but event targets.
	ServiceEvents Service = "events"
)

// Services lists every Service, in key-policy order.
var Services = []Service{ServiceLogs, ServiceCloudWatchAlarms, ServiceSNS, ServiceEvents}

// Props configures a Key. Nil props are invalid: a key needs at least an alias.
type Props struct {
	// Alias names the key, for example "alias/smartcity/dev/platform". Required when Key is nil.
	Alias *string
	// Description of what the key protects.
	// Default: - "Smart city platform key" and the alias.
	Description *string
	// Services that must use the key through their own service principal.
	// Default: - none; IAM principals get access through grants only.
	Services []Service
	// Key brings an existing key: no key is created and Alias, Description and Services must
	// be unset, since an imported key's policy cannot be changed from here.
	// Default: - a key is created.
	Key awskms.IKey
}

// Key is a customer-managed KMS key with rotation, an alias and a least-privilege key policy.
type Key struct {
	constructs.Construct
	// Resource is the key: the created one (child id "Resource"), the one brought in Props.Key or
	// the one imported by FromAttributes. Never nil.
	Resource awskms.IKey
	// Alias is the created alias, the imported one (FromAttributes with AliasName), or nil for
	// a brought key, whose aliases are managed where it was created.
	Alias awskms.IAlias
}

var aliasPattern = regexp.MustCompile(`^alias/[a-zA-Z0-9/_-]{1,250}$`)

// New creates a key, or wraps a brought one. Props errors are reported at synth time with the
// construct's path (see Node().Validate()).
func New(scope constructs.Construct, id string, props *Props) *Key {
	this := constructs.NewConstruct(scope, jsii.String(id))
	if props == nil {
		props = &Props{}
	}
	k := &Key{Construct: this}
	var errs propcheck.Errors
	defer func() { errs.Attach(this) }()

	if props.Key != nil {
		if props.Alias != nil || props.Description != nil || len(props.Services) > 0 {
			errs.Addf("keys: a brought key (Props.Key) cannot also take Alias, Description or Services: its policy is managed where it was created")
		}
		k.Resource = props.Key
		return k
	}

	// An invalid alias is replaced by one derived from the construct's address: CDK would
	// throw on the invalid one before synth could report every error at once, and the caller
	// still gets a Key whose Alias is set.
	var alias string
	if msg := aliasError(props.Alias); msg != "" {
		errs.Addf("%s", msg)
		alias = "alias/smartcity/invalid-" + *this.Node().Addr()
	} else {
		alias = *props.Alias
	}
	for _, s := range props.Services {
		if !known(s) {
			errs.Addf("keys: Services has unknown service %q (known: logs, cloudwatch-alarms, sns, events)", string(s))
		}
	}

	key := awskms.NewKey(this, jsii.String("Resource"), &awskms.KeyProps{
		Description:       description(props),
		EnableKeyRotation: jsii.Bool(true),
		PendingWindow:     awscdk.Duration_Days(jsii.Number(30)),
		RemovalPolicy:     awscdk.RemovalPolicy_RETAIN,
	})
	k.Alias = key.AddAlias(jsii.String(alias))
	key.AddToResourcePolicy(GrantGuardStatement(), jsii.Bool(false))
	for _, s := range props.Services {
		if st := serviceStatement(this, s); st != nil {
			key.AddToResourcePolicy(st, jsii.Bool(false))
		}
	}
	k.Resource = key
	return k
}

// aliasError is the props error for an alias, or "" when it is valid or a token.
func aliasError(alias *string) string {
	switch {
	case alias == nil:
		return "keys: Alias is required when no Key is brought"
	case propcheck.IsUnresolved(*alias):
		return ""
	case strings.HasPrefix(*alias, "alias/aws/"):
		return fmt.Sprintf("keys: Alias %q uses the reserved alias/aws/ prefix", *alias)
	case !aliasPattern.MatchString(*alias):
		return fmt.Sprintf("keys: Alias %q must match alias/[a-zA-Z0-9/_-]+ (KMS alias naming)", *alias)
	}
	return ""
}

// KeyArn is the key's ARN.
func (k *Key) KeyArn() *string { return k.Resource.KeyArn() }

// KeyID is the key's id (the last part of its ARN).
func (k *Key) KeyID() *string { return k.Resource.KeyId() }

// GrantEncrypt lets grantee encrypt with the key.
func (k *Key) GrantEncrypt(grantee awsiam.IGrantable) awsiam.Grant {
	return k.Resource.GrantEncrypt(grantee)
}

// GrantEncryptDecrypt lets grantee encrypt and decrypt with the key.
func (k *Key) GrantEncryptDecrypt(grantee awsiam.IGrantable) awsiam.Grant {
	return k.Resource.GrantEncryptDecrypt(grantee)
}

// GrantDecrypt lets grantee decrypt with the key.
func (k *Key) GrantDecrypt(grantee awsiam.IGrantable) awsiam.Grant {
	return k.Resource.GrantDecrypt(grantee)
}

// GrantGenerateDataKey lets grantee create data keys (envelope encryption) and decrypt them.
func (k *Key) GrantGenerateDataKey(grantee awsiam.IGrantable) awsiam.Grant {
	return k.Resource.Grant(grantee, jsii.String("kms:GenerateDataKey"), jsii.String("kms:Decrypt"))
}

func description(p *Props) *string {
	if p.Description != nil {
		return p.Description
	}
	return jsii.String("Smart city platform key " + aliasOrEmpty(p.Alias))
}

func aliasOrEmpty(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func known(s Service) bool {
	for _, k := range Services {
		if s == k {
			return true
		}
	}
	return false
}
