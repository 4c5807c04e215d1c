package keys

import (
	"regexp"

	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/secure-smart-city/platform/internal/propcheck"
)

// Attributes name a key created elsewhere (another stack, another app, the console), so that
// a stack can encrypt with it and grant it like a key it created.
type Attributes struct {
	// KeyArn is the key's ARN (arn:<partition>:kms:<region>:<account>:key/<id>), or a token
	// such as another stack's output. Required.
	KeyArn *string
	// AliasName is an alias that points at the key, for example "alias/smartcity/dev/platform".
	// Default: - Key.Alias stays nil.
	AliasName *string
}

var keyArnPattern = regexp.MustCompile(`^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[a-zA-Z0-9-]+$`)

// placeholderKeyArn stands in for an invalid KeyArn so that the returned Key is usable while
// synth reports the error (CDK itself would throw on an unparsable ARN).
const placeholderKeyArn = "arn:aws:kms:us-east-1:000000000000:key/00000000-0000-0000-0000-000000000000"

// FromAttributes imports an existing key: the construct id wraps the imported key (child id
// "Resource", as for a created key) and, with AliasName, the imported alias (child id
// "Alias"). No resource is created and the key policy is not changed, so grants on the
// returned Key add IAM policy statements only: the key's own policy must let the account's IAM
// policies in (the KMS default key policy does). Props errors are reported at synth time.
func FromAttributes(scope constructs.Construct, id string, attrs *Attributes) *Key {
	this := constructs.NewConstruct(scope, jsii.String(id))
	var errs propcheck.Errors
	defer func() { errs.Attach(this) }()
	a := Attributes{}
	if attrs != nil {
		a = *attrs
	}
	arn := placeholderKeyArn
	switch {
	case a.KeyArn == nil:
		errs.Addf("keys: KeyArn is required to import a key")
	case propcheck.IsUnresolved(*a.KeyArn):
		arn = *a.KeyArn
	case !keyArnPattern.MatchString(*a.KeyArn):
		errs.Addf("keys: KeyArn %q is not a KMS key ARN (arn:<partition>:kms:<region>:<account>:key/<id>)", *a.KeyArn)
	default:
		arn = *a.KeyArn
	}
	key := awskms.Key_FromKeyArn(this, jsii.String("Resource"), jsii.String(arn))
	k := &Key{Construct: this, Resource: key}
	if a.AliasName != nil {
		name := *a.AliasName
		if msg := aliasError(a.AliasName); msg != "" {
			errs.Addf("%s", msg)
			name = "alias/smartcity/invalid-" + *this.Node().Addr()
		}
		k.Alias = awskms.Alias_FromAliasAttributes(this, jsii.String("Alias"), &awskms.AliasAttributes{
			AliasName: jsii.String(name), AliasTargetKey: key,
		})
	}
	return k
}

// FromKeyArn imports an existing key by its ARN; see FromAttributes.
func FromKeyArn(scope constructs.Construct, id string, keyArn string) *Key {
	return FromAttributes(scope, id, &Attributes{KeyArn: jsii.String(keyArn)})
}
