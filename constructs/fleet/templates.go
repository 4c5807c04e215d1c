package fleet

import (
	"encoding/json"

	"github.com/secure-smart-city/platform/lambdas/provisioninghook/contract"
	"github.com/secure-smart-city/platform/topics"
)

// ProvisioningTemplate is an AWS IoT provisioning template body (JITP registration config or
// fleet provisioning template), built as typed Go and rendered with JSON.
type ProvisioningTemplate struct {
	Parameters map[string]TemplateParameter `json:"Parameters"`
	Resources  map[string]TemplateResource  `json:"Resources"`
}

// TemplateParameter declares one template parameter.
type TemplateParameter struct {
	Type string `json:"Type"`
}

// TemplateResource is one resource of a provisioning template: a thing, a certificate or a
// policy.
type TemplateResource struct {
	Type             string            `json:"Type"`
	Properties       map[string]any    `json:"Properties"`
	OverrideSettings map[string]string `json:"OverrideSettings,omitempty"`
}

// JSON renders the template body (keys sorted, so the same template always renders the same).
func (t ProvisioningTemplate) JSON() (string, error) {
	b, err := json.Marshal(t)
	return string(b), err
}

// Parameters AWS IoT extracts from the device certificate's subject for JITP ("Just-in-time
// provisioning" in the AWS IoT Developer Guide lists them; a JITP template may use only these).
const (
	CertCommonName            = "AWS::IoT::Certificate::CommonName"
	CertSerialNumber          = "AWS::IoT::Certificate::SerialNumber"
	CertOrganizationalUnit    = "AWS::IoT::Certificate::OrganizationalUnit"
	CertDistinguishedNameQual = "AWS::IoT::Certificate::DistinguishedNameQualifier"
	CertStateName             = "AWS::IoT::Certificate::StateName"
	CertID                    = "AWS::IoT::Certificate::Id"
)

// Thing attributes. Every path (declared things, JITP, claim) writes exactly these two, in the
// same format: AttrDistrict is the fleet file's district id ("old_town"), which the device
// policy reads as ${iot:Connection.Thing.Attributes[district]}; AttrSerial the device serial.
// The class is the thing type, not an attribute.
const (
	AttrDistrict = topics.DistrictAttribute
	AttrSerial   = "serial"
	// AttrClass is searchable on the thing types (below) but no path writes it any more: the
	// thing type is the class. It stays searchable because a thing type's properties cannot
	// change without replacing it, and a thing type with things cannot be deleted.
	AttrClass = "class"
)

// SearchableAttributes are the thing types' searchable attributes (AWS allows three).
var SearchableAttributes = []string{AttrDistrict, AttrClass, AttrSerial}

func ref(name string) map[string]any { return map[string]any{"Ref": name} }

func join(parts ...any) map[string]any { return map[string]any{"Fn::Join": []any{"", parts}} }

func stringParams(names ...string) map[string]TemplateParameter {
	out := make(map[string]TemplateParameter, len(names))
	for _, n := range names {
		out[n] = TemplateParameter{Type: "String"}
	}
	return out
}

// thingOverrides: a template never changes a thing that already exists. "Provisioning
// templates" in the AWS IoT Developer Guide (Override settings) defines DO_NOTHING as "leave
// the resource as is" for a thing's AttributePayload, ThingTypeName and ThingGroups; REPLACE
// and MERGE would let whoever provisions a certificate for an existing thing name rewrite
// its class, district or groups (or, for groups, take it out of quarantine). DO_NOTHING
// rather than FAIL because a RegisterThing retried after a lost response finds the thing it
// created and must still succeed. Whether the request may bind a certificate to an existing
// thing at all is the pre-provisioning hook's decision (claim); JITP has no hook, so there the
// CA's discipline and these settings are all there is (README, "Adding a device").
var thingOverrides = map[string]string{"AttributePayload": "DO_NOTHING", "ThingTypeName": "DO_NOTHING", "ThingGroups": "DO_NOTHING"}

// activeCertificate activates the certificate AWS IoT registered for the request; its private
// key never left the device (JITP: the device's own key under the city's CA; claim:
// CreateCertificateFromCsr).
func activeCertificate() TemplateResource {
	return TemplateResource{Type: "AWS::IoT::Certificate", Properties: map[string]any{
		"CertificateId": ref(CertID), "Status": "ACTIVE",
	}}
}

// JITPTemplate is the template AWS IoT runs when a device first connects with a certificate
// signed by the registered city CA. A JITP template may use only Ref to the certificate's
// subject fields (no Fn::Join, no Mappings: those are for fleet provisioning templates), so
// the certificate carries every name in the form AWS needs it:
//
//	CN            thing name (also the MQTT client id)
//	serialNumber  device serial (attribute "serial")
//	OU            the class's qualified name, Names.Class: thing type, class group and policy
//	dnQualifier   the district's group name, Names.District
//	ST            the district id as in the fleet file (attribute "district")
//
// Provisioning fails unless OU names a thing type, a thing group and a policy at once, and
// dnQualifier a thing group, that the provisioning role may use: only this stage's classes
// and districts (the role names their exact ARNs), so the CA cannot hand out the quarantine,
// claim or another stage's policy. AWS has no way to check ST against anything; the CA must
// write the same district in dnQualifier and ST (config/README.md), and a district the fleet
// file does not know gets the device's telemetry rejected, not accepted elsewhere.
func JITPTemplate() ProvisioningTemplate {
	class := ref(CertOrganizationalUnit)
	return ProvisioningTemplate{
		Parameters: stringParams(CertCommonName, CertSerialNumber, CertOrganizationalUnit, CertDistinguishedNameQual, CertStateName, CertID),
		Resources: map[string]TemplateResource{
			"thing": {
				Type: "AWS::IoT::Thing",
				Properties: map[string]any{
					"ThingName":        ref(CertCommonName),
					"ThingTypeName":    class,
					"AttributePayload": map[string]any{AttrSerial: ref(CertSerialNumber), AttrDistrict: ref(CertStateName)},
					"ThingGroups":      []any{class, ref(CertDistinguishedNameQual)},
				},
				OverrideSettings: thingOverrides,
			},
			"certificate": activeCertificate(),
			"policy":      {Type: "AWS::IoT::Policy", Properties: map[string]any{"PolicyName": class}},
		},
	}
}

// ClaimTemplate is the fleet provisioning template behind the claim certificate. The
// pre-provisioning hook admits only allowlisted serials and overrides ThingName, Class and
// District from the allowlist, so the device chooses none of them; a missing Class or
// District fails the request (no defaults). Class and District are the fleet file's ids: the
// district attribute takes District as it is (the format of every path) and the thing type,
// groups and policy are qualified with Fn::Join, which fleet provisioning templates support
// ("Provisioning templates" in the AWS IoT Developer Guide). As in the JITP template, a class
// or district not of this stage names nothing the provisioning role may use.
func ClaimTemplate(n Names) ProvisioningTemplate {
	class := join(n.Prefix+"_", ref(contract.ParamClass))
	return ProvisioningTemplate{
		Parameters: stringParams(contract.ParamSerialNumber, contract.ParamThingName, contract.ParamClass, contract.ParamDistrict, CertID),
		Resources: map[string]TemplateResource{
			"thing": {
				Type: "AWS::IoT::Thing",
				Properties: map[string]any{
					"ThingName":        ref(contract.ParamThingName),
					"ThingTypeName":    class,
					"AttributePayload": map[string]any{AttrSerial: ref(contract.ParamSerialNumber), AttrDistrict: ref(contract.ParamDistrict)},
					"ThingGroups":      []any{class, join(n.Prefix+districtInfix, ref(contract.ParamDistrict))},
				},
				OverrideSettings: thingOverrides,
			},
			"certificate": activeCertificate(),
			"policy":      {Type: "AWS::IoT::Policy", Properties: map[string]any{"PolicyName": class}},
		},
	}
}
