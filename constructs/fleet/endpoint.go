package fleet

import (
	"fmt"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2/awsiot"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/secure-smart-city/platform/internal/propcheck"
)

// TLS security policies AWS IoT offers in every region. The 1.0 ones are legacy and refused.
const (
	TLS13Only        = "IoTSecurityPolicy_TLS13_1_3_2022_10"
	TLS12AndTLS13    = "IoTSecurityPolicy_TLS13_1_2_2022_10"
	TLS12Only        = "IoTSecurityPolicy_TLS12_1_2_2022_10"
	DefaultTLSPolicy = TLS12AndTLS13
)

var tlsPolicies = map[string]bool{TLS13Only: true, TLS12AndTLS13: true, TLS12Only: true}

// Endpoint settings pinned for devices.
const (
	AuthenticationX509 = "AWS_X509"
	ProtocolSecureMQTT = "SECURE_MQTT"
	ServiceTypeData    = "DATA"
)

// PlaceholderEndpointName stands in for an invalid EndpointProps.Name after the error is
// reported (synth fails, so it is never deployed).
const PlaceholderEndpointName = "invalid-endpoint-name"

// EndpointProps configures an Endpoint.
type EndpointProps struct {
	// Name of the domain configuration, unique in the account and region (the names of the
	// default endpoints start with "IoT:" and are reserved). Required.
	Name string
	// SecurityPolicy is the TLS security policy. Default: DefaultTLSPolicy (TLS 1.2 and 1.3).
	SecurityPolicy string
}

// Endpoint is the devices' data endpoint: a domain configuration on an AWS-managed domain
// (AWS IoT assigns its own host name, separate from the account's default iot:Data-ATS
// endpoint) that accepts only X.509 client certificates over MQTT with a pinned TLS policy.
type Endpoint struct {
	constructs.Construct
	// Resource is the domain configuration (child id "Resource").
	Resource awsiot.CfnDomainConfiguration
	// Name is the domain configuration's name; `aws iot describe-domain-configuration
	// --domain-configuration-name <Name>` returns the host name devices connect to.
	Name string
}

// NewEndpoint builds the domain configuration. Props errors are reported at synth time, all at
// once; the domain configuration is then built with PlaceholderEndpointName or the default
// policy in place of the faulty value, so Resource is never nil.
func NewEndpoint(scope constructs.Construct, id string, props *EndpointProps) *Endpoint {
	this := constructs.NewConstruct(scope, jsii.String(id))
	p := EndpointProps{}
	if props != nil {
		p = *props
	}
	if p.SecurityPolicy == "" {
		p.SecurityPolicy = DefaultTLSPolicy
	}
	nameOK := false
	var errs propcheck.Errors
	switch {
	case p.Name == "":
		errs.Addf("fleet: endpoint Name is required")
	case propcheck.IsUnresolved(p.Name):
		nameOK = true
	case strings.HasPrefix(strings.ToLower(p.Name), "iot:"):
		errs.Addf("fleet: endpoint Name %q starts with the reserved IoT: prefix of the default endpoints", p.Name)
	case !domainConfig.MatchString(p.Name):
		errs.Addf("fleet: endpoint Name %q must be 1-128 of [\\w.-]", p.Name)
	default:
		nameOK = true
	}
	if !tlsPolicies[p.SecurityPolicy] {
		errs.Addf("fleet: endpoint SecurityPolicy %q is not one of %s", p.SecurityPolicy,
			fmt.Sprintf("%s, %s, %s", TLS13Only, TLS12AndTLS13, TLS12Only))
		// A stand-in after the error, so Resource is never nil.
		p.SecurityPolicy = DefaultTLSPolicy
	}
	if !nameOK {
		p.Name = PlaceholderEndpointName
	}
	errs.Attach(this)
	e := &Endpoint{Construct: this, Name: p.Name}
	e.Resource = awsiot.NewCfnDomainConfiguration(this, jsii.String("Resource"), &awsiot.CfnDomainConfigurationProps{
		DomainConfigurationName:   jsii.String(p.Name),
		DomainConfigurationStatus: jsii.String("ENABLED"),
		ServiceType:               jsii.String(ServiceTypeData),
		AuthenticationType:        jsii.String(AuthenticationX509),
		ApplicationProtocol:       jsii.String(ProtocolSecureMQTT),
		TlsConfig:                 &awsiot.CfnDomainConfiguration_TlsConfigProperty{SecurityPolicy: jsii.String(p.SecurityPolicy)},
	})
	return e
}
