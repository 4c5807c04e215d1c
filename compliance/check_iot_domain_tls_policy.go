package compliance

import (
	"fmt"
	"strings"
)

// checkIoTDomainTLSPolicy: the fleet's device endpoint pins a TLS policy; the default
// endpoint's policy still accepts TLS 1.0 and 1.1.
var checkIoTDomainTLSPolicy = Check{
	Name:    "iot-domain-tls-policy",
	Default: "device endpoints (domain configurations) pin a 2022 TLS 1.2+ security policy, X.509 client certificates and secure MQTT",
	Run:     iotDomainTLSPolicy,
}

// IoTSecurityPolicies are the TLS security policies a device endpoint may use; the 2015-2018
// ones allow TLS 1.0 and 1.1.
var IoTSecurityPolicies = map[string]bool{
	"IoTSecurityPolicy_TLS13_1_3_2022_10": true,
	"IoTSecurityPolicy_TLS13_1_2_2022_10": true,
	"IoTSecurityPolicy_TLS12_1_2_2022_10": true,
}

func iotDomainTLSPolicy(t Template) (int, []string) {
	return each(t, "AWS::IoT::DomainConfiguration", func(r Resource) string {
		var bad []string
		if p, _ := Get(r.Properties, "TlsConfig", "SecurityPolicy").(string); !IoTSecurityPolicies[p] {
			bad = append(bad, fmt.Sprintf("TLS security policy %q is not a 2022 TLS 1.2+ policy", p))
		}
		if a := Get(r.Properties, "AuthenticationType"); a != "AWS_X509" {
			bad = append(bad, fmt.Sprintf("AuthenticationType %v, want AWS_X509", a))
		}
		if a := Get(r.Properties, "ApplicationProtocol"); a != "SECURE_MQTT" {
			bad = append(bad, fmt.Sprintf("ApplicationProtocol %v, want SECURE_MQTT", a))
		}
		return strings.Join(bad, "; ")
	})
}
