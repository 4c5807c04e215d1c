package fleet

import (
	"fmt"
	"sort"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiot"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/secure-smart-city/platform/constructs/golambda"
	"github.com/secure-smart-city/platform/fleetspec"
	"github.com/secure-smart-city/platform/internal/propcheck"
	"github.com/secure-smart-city/platform/policies"
)

// Props configures a Fleet.
type Props struct {
	// Fleet is the stage's validated fleet file. Required.
	Fleet *fleetspec.Fleet
	// Prefix names every resource ("<fleet>_<stage>", the stage's topic rule prefix), so a
	// class's telemetry rule is Names.Class(id). Required.
	Prefix string
	// EncryptionKey encrypts the log groups of the deploy-time registry function and of the
	// pre-provisioning hook, and the hook's environment. Required.
	EncryptionKey awskms.IKey
	// Allowlist is the fleet provisioning allowlist table (partition key "serial"). Required
	// when the fleet enables claim provisioning; ignored otherwise.
	Allowlist awsdynamodb.ITable
	// AllowUnboundClaims lets the pre-provisioning hook admit allowlist entries that carry no
	// key fingerprint, without any device-unique proof: anyone with the claim certificate and
	// a listed serial becomes that device. For trials with devices whose keys were never
	// recorded; never in production. Default: false (such entries are refused).
	AllowUnboundClaims bool
	// LogRetention of the functions' log groups. Default: one year.
	LogRetention awslogs.RetentionDays
	// RemovalPolicy of the functions' log groups. Default: RETAIN.
	RemovalPolicy awscdk.RemovalPolicy
}

// Fleet is the device registry and identity of one stage: thing types, groups, the device
// and quarantine policies, things with their certificates and memberships, and the two
// provisioning paths for devices without a CSR in the fleet file.
type Fleet struct {
	constructs.Construct
	// Names derives every resource name.
	Names Names
	// ThingTypes, ClassGroups and ClassPolicies are keyed by class id; DistrictGroups by
	// district id.
	ThingTypes     map[string]awsiot.CfnThingType
	ClassGroups    map[string]awsiot.CfnThingGroup
	DistrictGroups map[string]awsiot.CfnThingGroup
	ClassPolicies  map[string]awsiot.CfnPolicy
	// QuarantineGroup isolates devices: its policy (QuarantinePolicy) denies every IoT action,
	// which overrides whatever a device's own policy allows.
	QuarantineGroup  awsiot.CfnThingGroup
	QuarantinePolicy awsiot.CfnPolicy
	// Things are keyed by thing name; Certificates by the name of the thing whose CSR they
	// were issued from.
	Things       map[string]awsiot.CfnThing
	Certificates map[string]awsiot.CfnCertificate
	// Registry is the deploy-time writer for what CloudFormation cannot declare (group
	// membership, thing types of things, the quarantine group's policy).
	Registry *Registry
	// ProvisioningRole is assumed by AWS IoT to run the JITP and claim templates; nil when the
	// fleet uses neither.
	ProvisioningRole awsiam.Role
	// CACertificate is the city CA registered for Just-in-Time Provisioning; nil without one.
	CACertificate awsiot.CfnCACertificate
	// ClaimTemplate, ClaimPolicy and ProvisioningHook make up fleet provisioning by claim;
	// nil unless the fleet enables it.
	ClaimTemplate    awsiot.CfnProvisioningTemplate
	ClaimPolicy      awsiot.CfnPolicy
	ProvisioningHook *golambda.Function

	props Props
}

// New builds the fleet. Props errors are reported at synth time with the construct's path,
// all at once; the fleet is then built from safe stand-ins for the faulty props (an empty
// fleet, an imported placeholder key or table, no declared things when they are over the
// limit), so Registry, QuarantineGroup, QuarantinePolicy and the maps are never nil.
func New(scope constructs.Construct, id string, props *Props) *Fleet {
	this := constructs.NewConstruct(scope, jsii.String(id))
	p := Props{}
	if props != nil {
		p = *props
	}
	if p.LogRetention == "" {
		p.LogRetention = awslogs.RetentionDays_ONE_YEAR
	}
	if p.RemovalPolicy == "" {
		p.RemovalPolicy = awscdk.RemovalPolicy_RETAIN
	}
	errs := validate(p)
	p = sanitize(this, p, len(errs) > 0)
	f := &Fleet{
		Construct: this, Names: Names{Prefix: p.Prefix}, props: p,
		ThingTypes: map[string]awsiot.CfnThingType{}, ClassGroups: map[string]awsiot.CfnThingGroup{},
		DistrictGroups: map[string]awsiot.CfnThingGroup{}, ClassPolicies: map[string]awsiot.CfnPolicy{},
		Things: map[string]awsiot.CfnThing{}, Certificates: map[string]awsiot.CfnCertificate{},
	}
	defer func() { errs.Attach(this) }()

	f.Registry = newRegistry(f.Construct, "Registry", p.EncryptionKey, p.LogRetention, p.RemovalPolicy)
	f.classes(p.Fleet)
	f.quarantine()
	districts := constructs.NewConstruct(f.Construct, jsii.String("DistrictGroups"))
	for _, d := range p.Fleet.Districts {
		f.DistrictGroups[d.ID] = f.group(districts, d.ID, f.Names.District(d.ID),
			"District "+d.Name+": every device installed there")
	}
	things := constructs.NewConstruct(f.Construct, jsii.String("Things"))
	for _, t := range p.Fleet.Things {
		if err := f.thing(things, p.Fleet, t); err != nil {
			errs.Addf("%v", err)
		}
	}
	if p.Fleet.Provisioning.CACertificate != "" || p.Fleet.Provisioning.Claim {
		f.ProvisioningRole = f.provisioningRole()
	}
	if p.Fleet.Provisioning.CACertificate != "" {
		if err := f.jitp(p.Fleet); err != nil {
			errs.Addf("%v", err)
		}
	}
	if p.Fleet.Provisioning.Claim {
		f.claim(p.Allowlist)
	}
	f.Registry.finish()
	return f
}

// validate checks props and reports every problem; it changes nothing.
func validate(p Props) propcheck.Errors {
	var errs propcheck.Errors
	if p.Fleet == nil {
		errs.Addf("fleet: Fleet (the stage's fleet file) is required")
	}
	if p.EncryptionKey == nil {
		errs.Addf("fleet: EncryptionKey is required: function logs and environments are encrypted with the platform key")
	}
	if p.Fleet != nil && p.Fleet.Provisioning.Claim && p.Allowlist == nil {
		errs.Addf("fleet: Allowlist is required when the fleet enables claim provisioning (provisioning.claim true)")
	}
	if p.Fleet == nil {
		for _, e := range (Names{Prefix: p.Prefix}).check(nil, nil) {
			errs.Addf("%s", e)
		}
		return errs
	}
	var classIDs, districtIDs []string
	for _, c := range p.Fleet.Classes {
		classIDs = append(classIDs, c.ID)
	}
	for _, d := range p.Fleet.Districts {
		districtIDs = append(districtIDs, d.ID)
	}
	for _, e := range (Names{Prefix: p.Prefix}).check(classIDs, districtIDs) {
		errs.Addf("%s", e)
	}
	// fleetspec.Validate refuses a file over the budget for declared things; a fleet built in
	// code, or one with very many classes and districts, is caught here, before CloudFormation
	// would refuse the stack at deploy time.
	if overBudget(p.Fleet) {
		n, csrs := len(p.Fleet.Things), countCSRs(p.Fleet)
		errs.Addf("fleet: %s declares %d things (%d with a csr), above the limit of %d things (%d resources, %d more per csr): the Fleet stack would hold about %d resources, CloudFormation allows %d; provision the rest by JITP or claim",
			fleetFile(p.Fleet), n, csrs, fleetspec.MaxThings, fleetspec.ThingResources, fleetspec.CSRResources,
			estimateResources(len(classIDs), len(districtIDs), n, csrs), MaxStackResources)
	}
	return errs
}

func overBudget(fl *fleetspec.Fleet) bool {
	return fl.ThingCost() > fleetspec.ThingResourceBudget ||
		estimateResources(len(fl.Classes), len(fl.Districts), len(fl.Things), countCSRs(fl)) > MaxStackResources
}

// sanitize replaces faulty props with safe stand-ins so New can build after an error: an empty
// fleet for a missing one, imported placeholders for a missing key or allowlist, and no
// declared things when they are over the limit. Synth still fails on the reported errors.
func sanitize(scope constructs.Construct, p Props, failed bool) Props {
	if p.Fleet == nil {
		p.Fleet = &fleetspec.Fleet{}
	}
	if p.EncryptionKey == nil {
		p.EncryptionKey = awskms.Key_FromKeyArn(scope, jsii.String("MissingEncryptionKey"), awscdk.Stack_Of(scope).FormatArn(&awscdk.ArnComponents{
			Service: jsii.String("kms"), Resource: jsii.String("key"), ResourceName: jsii.String("00000000-0000-0000-0000-000000000000"),
		}))
	}
	if p.Fleet.Provisioning.Claim && p.Allowlist == nil {
		p.Allowlist = awsdynamodb.Table_FromTableName(scope, jsii.String("MissingAllowlist"), jsii.String("missing-allowlist"))
	}
	if failed && overBudget(p.Fleet) {
		fl := *p.Fleet
		fl.Things = nil
		p.Fleet = &fl
	}
	return p
}

// classes builds, per device class, its thing type, group and device policy.
func (f *Fleet) classes(fl *fleetspec.Fleet) {
	types := constructs.NewConstruct(f.Construct, jsii.String("ThingTypes"))
	groups := constructs.NewConstruct(f.Construct, jsii.String("ClassGroups"))
	pols := constructs.NewConstruct(f.Construct, jsii.String("ClassPolicies"))
	for _, c := range fl.Classes {
		name := f.Names.Class(c.ID)
		f.ThingTypes[c.ID] = awsiot.NewCfnThingType(types, jsii.String(c.ID), &awsiot.CfnThingTypeProps{
			ThingTypeName: jsii.String(name),
			ThingTypeProperties: &awsiot.CfnThingType_ThingTypePropertiesProperty{
				ThingTypeDescription: jsii.String(c.Name + " (" + c.ID + ")"),
				SearchableAttributes: jsii.Strings(SearchableAttributes...),
			},
		})
		f.ClassGroups[c.ID] = f.group(groups, c.ID, name, "Device class "+c.Name+": every device of the class")
		f.ClassPolicies[c.ID] = awsiot.NewCfnPolicy(pols, jsii.String(c.ID), &awsiot.CfnPolicyProps{
			PolicyName:     jsii.String(name),
			PolicyDocument: policies.Device(c).CloudFormation(),
		})
	}
}

func (f *Fleet) group(scope constructs.Construct, id, name, description string) awsiot.CfnThingGroup {
	return awsiot.NewCfnThingGroup(scope, jsii.String(id), &awsiot.CfnThingGroupProps{
		ThingGroupName: jsii.String(name),
		ThingGroupProperties: &awsiot.CfnThingGroup_ThingGroupPropertiesProperty{
			ThingGroupDescription: jsii.String(description),
		},
	})
}

// quarantine builds the quarantine group and attaches the deny-all policy to it. A policy on
// a thing group applies to every certificate of every thing in it, so moving a device into
// the group (what the remediation path does) cuts it off without touching its certificate.
func (f *Fleet) quarantine() {
	f.QuarantineGroup = f.group(f.Construct, "QuarantineGroup", f.Names.Quarantine(),
		"Devices isolated after misbehaving; the group's policy denies every IoT action")
	f.QuarantinePolicy = awsiot.NewCfnPolicy(f.Construct, jsii.String("QuarantinePolicy"), &awsiot.CfnPolicyProps{
		PolicyName:     jsii.String(f.Names.Quarantine()),
		PolicyDocument: policies.Quarantine().CloudFormation(),
	})
	f.Registry.attachPolicyToGroup("QuarantinePolicyAttachment", f.QuarantinePolicy, f.QuarantineGroup)
}

// thing builds one declared thing: the thing with the attributes every provisioning path
// writes (district id and serial), its thing type (the class), its district and class groups
// and, when the file references a CSR, its certificate bound to the thing and the class
// policy. Four resources, seven with a CSR (fleetspec.ThingResources, CSRResources).
func (f *Fleet) thing(scope constructs.Construct, fl *fleetspec.Fleet, t fleetspec.Thing) error {
	th := awsiot.NewCfnThing(scope, jsii.String(t.Name), &awsiot.CfnThingProps{
		ThingName: jsii.String(t.Name),
		AttributePayload: &awsiot.CfnThing_AttributePayloadProperty{Attributes: &map[string]*string{
			AttrDistrict: jsii.String(t.District), AttrSerial: jsii.String(t.Serial),
		}},
	})
	f.Things[t.Name] = th
	class, district := f.ClassGroups[t.Class], f.DistrictGroups[t.District]
	if class == nil || district == nil || f.ThingTypes[t.Class] == nil {
		return fmt.Errorf("fleet: thing %q: unknown class %q or district %q (validate the fleet file first)", t.Name, t.Class, t.District)
	}
	f.Registry.setThingType(th, t.Name, f.ThingTypes[t.Class], f.Names.Class(t.Class))
	f.Registry.addToGroup(th, t.Name, class, f.Names.Class(t.Class))
	f.Registry.addToGroup(th, t.Name, district, f.Names.District(t.District))
	if t.CSR == "" {
		return nil
	}
	csr, err := fl.CSRPEM(t)
	if err != nil {
		return fmt.Errorf("fleet: %w", err)
	}
	cert := awsiot.NewCfnCertificate(scope, jsii.String(t.Name+"Certificate"), &awsiot.CfnCertificateProps{
		CertificateSigningRequest: jsii.String(string(csr)),
		Status:                    jsii.String("ACTIVE"),
	})
	f.Certificates[t.Name] = cert
	awsiot.NewCfnThingPrincipalAttachment(scope, jsii.String(t.Name+"CertificateThing"), &awsiot.CfnThingPrincipalAttachmentProps{
		ThingName:          th.Ref(),
		Principal:          cert.AttrArn(),
		ThingPrincipalType: jsii.String("EXCLUSIVE_THING"),
	})
	awsiot.NewCfnPolicyPrincipalAttachment(scope, jsii.String(t.Name+"CertificatePolicy"), &awsiot.CfnPolicyPrincipalAttachmentProps{
		PolicyName: f.ClassPolicies[t.Class].Ref(),
		Principal:  cert.AttrArn(),
	})
	return nil
}

// MaxStackResources is CloudFormation's limit of resources per stack.
const MaxStackResources = 500

// FixedResources bounds what New creates besides the declared things, classes and districts:
// the registry's role, log group and provider function, the quarantine group, policy and
// attachment, the provisioning role, the city CA, the claim template, policy and hook. The
// measured figure is lower (test/fleet_test.go records it); this is the upper estimate the
// cap uses.
const FixedResources = 30

// estimateResources is an upper estimate of the resources New creates: the fixed part, three
// per class (thing type, group, policy), one per district (group) and what the declared things
// cost (fleetspec.ThingResources each, fleetspec.CSRResources more per CSR).
func estimateResources(classes, districts, things, csrs int) int {
	return FixedResources + 3*classes + districts + fleetspec.ThingResources*things + fleetspec.CSRResources*csrs
}

func fleetFile(fl *fleetspec.Fleet) string {
	if fl.Path != "" {
		return fl.Path
	}
	return "the fleet"
}

func countCSRs(fl *fleetspec.Fleet) int {
	n := 0
	for _, t := range fl.Things {
		if t.CSR != "" {
			n++
		}
	}
	return n
}

// ClassPolicyNames maps each class id to its device policy's name.
func (f *Fleet) ClassPolicyNames() map[string]string {
	out := map[string]string{}
	for id := range f.ClassPolicies {
		out[id] = f.Names.Class(id)
	}
	return out
}

// QuarantineGroupArn is the quarantine group's ARN.
func (f *Fleet) QuarantineGroupArn() *string { return f.QuarantineGroup.AttrArn() }

// QuarantineGroupName is the quarantine group's name (Names.Quarantine).
func (f *Fleet) QuarantineGroupName() string { return f.Names.Quarantine() }

// ClassGroupArns maps each class id to its thing group's ARN.
func (f *Fleet) ClassGroupArns() map[string]*string {
	out := map[string]*string{}
	for id, g := range f.ClassGroups {
		out[id] = g.AttrArn()
	}
	return out
}

// GrantQuarantine lets grantee move any thing of this account into the quarantine group
// (iot:AddThingToThingGroup on the group and thing/*), which cuts the device off: the group's
// policy denies every IoT action. It grants nothing on any other group.
func (f *Fleet) GrantQuarantine(grantee awsiam.IGrantable) awsiam.Grant {
	return awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
		Grantee:      grantee,
		Actions:      jsii.Strings("iot:AddThingToThingGroup"),
		ResourceArns: &[]*string{f.QuarantineGroupArn(), arn(f.Construct, "thing", "*")},
	})
}

// arn formats an IoT ARN in this stack: arn(<partition>):iot:<region>:<account>:<type>/<name>.
func arn(scope constructs.Construct, typ, name string) *string {
	return awscdk.Stack_Of(scope).FormatArn(&awscdk.ArnComponents{
		Service: jsii.String("iot"), Resource: jsii.String(typ), ResourceName: jsii.String(name),
	})
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
