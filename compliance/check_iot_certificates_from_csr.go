package compliance

// checkIoTCertificatesFromCSR: a certificate issued from the device's CSR proves the key was
// made on the device; a registered PEM says nothing about where its key has been.
var checkIoTCertificatesFromCSR = Check{
	Name:    "iot-certificates-from-csr",
	Default: "device certificates are issued from CSRs made on the device",
	Run:     iotCertificatesFromCSR,
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
