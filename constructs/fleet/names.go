package fleet

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/secure-smart-city/platform/topics"
)

// Names derives every fleet resource name from one prefix (the stage's topic rule prefix,
// "<fleet>_<stage>", for example "smartcity_dev"). Names are plain strings, known at synth
// time, so IAM statements, provisioning templates and other stacks can name resources exactly.
//
// A device class has one qualified name, Class(id) == topics.RuleName(prefix, id), used for its
// topic rule, thing type, thing group and IoT policy alike (four separate AWS namespaces). The
// JITP template relies on that: it takes one certificate field and uses it as the thing type,
// the group and the policy name, so only a name that is all three (a class of this stage)
// provisions anything.
type Names struct {
	Prefix string
}

// Class is the qualified name of a device class: its thing type, thing group, IoT policy and
// topic rule, for example "smartcity_dev_street_light".
func (n Names) Class(classID string) string { return topics.RuleName(n.Prefix, classID) }

// District is the thing group of a district, for example "smartcity_dev_district_old_town".
func (n Names) District(districtID string) string { return n.Prefix + districtInfix + districtID }

// Quarantine names both the quarantine thing group and its deny-all policy.
func (n Names) Quarantine() string { return n.Prefix + "_" + reservedQuarantine }

// ClaimPolicy is the IoT policy of fleet provisioning claim certificates.
func (n Names) ClaimPolicy() string { return n.Prefix + "_" + reservedClaim }

// ClaimTemplate is the fleet provisioning template devices with a claim certificate call.
func (n Names) ClaimTemplate() string { return n.Prefix + "_" + reservedClaim }

// DomainConfiguration names the devices' endpoint.
func (n Names) DomainConfiguration() string { return n.Prefix + "_devices" }

const (
	districtInfix      = "_district_"
	reservedQuarantine = "quarantine"
	reservedClaim      = "claim"
)

// AWS limits on the names (thing types and groups share the thing-name alphabet; provisioning
// template names are the shortest).
var (
	thingishName = regexp.MustCompile(`^[a-zA-Z0-9:_-]{1,128}$`)
	policyName   = regexp.MustCompile(`^[\w+=,.@-]{1,128}$`)
	templateName = regexp.MustCompile(`^[0-9A-Za-z_-]{1,36}$`)
	domainConfig = regexp.MustCompile(`^[\w.-]{1,128}$`)
)

// check returns what is wrong with the names a fleet of these classes and districts would
// use: invalid or too long names, and collisions between a class and the names reserved for
// districts, the quarantine and the claim path (a class "quarantine" would share the deny-all
// policy's name).
func (n Names) check(classIDs, districtIDs []string) []string {
	var errs []string
	if !thingishName.MatchString(n.Prefix) {
		errs = append(errs, fmt.Sprintf("fleet: Prefix %q must be 1-128 of [a-zA-Z0-9:_-]", n.Prefix))
		return errs
	}
	for _, c := range classIDs {
		switch {
		case c == reservedQuarantine || c == reservedClaim:
			errs = append(errs, fmt.Sprintf("fleet: class id %q is reserved: %q would also name the %s policy", c, n.Class(c), c))
		case strings.HasPrefix(c, strings.TrimPrefix(districtInfix, "_")):
			errs = append(errs, fmt.Sprintf("fleet: class id %q must not start with %q: its group would collide with district groups", c, strings.TrimPrefix(districtInfix, "_")))
		case !thingishName.MatchString(n.Class(c)) || !policyName.MatchString(n.Class(c)):
			errs = append(errs, fmt.Sprintf("fleet: class %q: thing type, group and policy name %q is not a valid AWS IoT name (1-128 of [a-zA-Z0-9:_-])", c, n.Class(c)))
		}
	}
	for _, d := range districtIDs {
		if !thingishName.MatchString(n.District(d)) {
			errs = append(errs, fmt.Sprintf("fleet: district %q: group name %q is not a valid AWS IoT name (1-128 of [a-zA-Z0-9:_-])", d, n.District(d)))
		}
	}
	if !templateName.MatchString(n.ClaimTemplate()) {
		errs = append(errs, fmt.Sprintf("fleet: provisioning template name %q must be 1-36 of [0-9A-Za-z_-]: shorten the fleet name", n.ClaimTemplate()))
	}
	return errs
}
