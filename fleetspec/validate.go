package fleetspec

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/secure-smart-city/platform/topics"
)

var (
	fleetNameRe = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)
	idRe        = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)
	fieldNameRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,63}$`)
	commandRe   = regexp.MustCompile(`^[a-z][a-z0-9-]{0,63}$`)
	// AWS IoT thing names; the thing name is also the MQTT client id.
	thingNameRe = regexp.MustCompile(`^[a-zA-Z0-9:_-]{1,128}$`)
	// Serials become thing attributes; CloudFormation's attribute value pattern is
	// [a-zA-Z0-9_.,@/:#-]+ (the IoT API also allows =[], CloudFormation does not).
	serialRe   = regexp.MustCompile(`^[a-zA-Z0-9_.,@/:#-]{1,800}$`)
	ruleNameRe = regexp.MustCompile(`^[a-zA-Z0-9_]+$`)
	stageRe    = regexp.MustCompile(`^[a-z][a-z0-9]{0,` + strconv.Itoa(MaxStageLength-1) + `}$`)
)

const maxRuleName = 128

// fileMode says what validation does with file references (a thing's csr, the CA).
type fileMode int

const (
	checkFiles  fileMode = iota // read and verify every referenced file
	forbidFiles                 // the runtime copy: any reference is an error
)

// Validate reports every problem with the fleet at once (errors.Join of *Problem), including
// the contents of referenced CSR and CA files, which resolve from the directory of f.Path. A
// fleet declaring more things than the Fleet stack can hold (see ThingResourceBudget) gets
// that one problem only.
func (f *Fleet) Validate() error {
	return f.validate(f.label(), checkFiles)
}

// ValidID reports whether s is a valid class or district id: 1-40 lowercase letters, digits
// and underscores, starting with a letter. The pre-provisioning hook checks the allowlist's
// class and district with it, so every path writes the district attribute in one format.
func ValidID(s string) bool { return idRe.MatchString(s) }

// ValidateStage checks a stage name ("dev", "prod") that goes into resource and topic rule
// names: lowercase letters and digits, starting with a letter, at most MaxStageLength.
func ValidateStage(stage string) error {
	if !stageRe.MatchString(stage) {
		return fmt.Errorf("invalid stage %q: want 1-%d lowercase letters and digits, starting with a letter", stage, MaxStageLength)
	}
	return nil
}

// RulePrefix is the prefix of the stage's topic rule names: topics.RuleName(f.RulePrefix(stage),
// classID) names a class's rule.
func (f *Fleet) RulePrefix(stage string) string {
	return f.Name + "_" + stage
}

func (f *Fleet) label() string {
	if f.Path != "" {
		return f.Path
	}
	return "fleet"
}

type checker struct {
	file  string
	probs []error
}

func (c *checker) add(path, format string, args ...any) {
	c.probs = append(c.probs, &Problem{File: c.file, Path: path, Message: fmt.Sprintf(format, args...)})
}

// required reports an empty value and says whether the value is present.
// unique records value as list[i] in seen, or reports it as a duplicate of the first entry
// that had it.
func (c *checker) unique(seen map[string]int, path, what, value, list string, i int) {
	if j, dup := seen[value]; dup {
		c.add(path, "duplicate %s %q (also %s[%d])", what, value, list, j)
		return
	}
	seen[value] = i
}

func (c *checker) required(path, value string) bool {
	if strings.TrimSpace(value) == "" {
		c.add(path, "is required")
		return false
	}
	return true
}

func (f *Fleet) validate(file string, mode fileMode) error {
	c := &checker{file: file}
	// Over the cap, stop with this one problem: a file listing a city's inventory would
	// otherwise bury it under a problem per thing (and read every CSR first).
	if cost := f.ThingCost(); cost > ThingResourceBudget {
		csrs := (cost - len(f.Things)*ThingResources) / CSRResources
		c.add("things", "%d declared things (%d with a csr) exceed the limit of %d (the Fleet stack holds %d resources for declared things: %d per thing, %d more per csr; these need %d); declare only pilots and csr devices and provision the rest by JITP or claim",
			len(f.Things), csrs, MaxThings, ThingResourceBudget, ThingResources, CSRResources, cost)
		return errors.Join(c.probs...)
	}
	if c.required("name", f.Name) && !fleetNameRe.MatchString(f.Name) {
		c.add("name", "invalid fleet name %q: want 1-32 lowercase letters, digits and underscores, starting with a letter", f.Name)
	}

	districts := map[string]int{}
	for i, d := range f.Districts {
		p := fmt.Sprintf("districts[%d]", i)
		if c.required(p+".id", d.ID) {
			if !idRe.MatchString(d.ID) {
				c.add(p+".id", "invalid district id %q: want 1-40 lowercase letters, digits and underscores, starting with a letter", d.ID)
			}
			c.unique(districts, p+".id", "district id", d.ID, "districts", i)
		}
		c.required(p+".name", d.Name)
	}

	classes := map[string]int{}
	if len(f.Classes) == 0 {
		c.add("classes", "at least one device class is required")
	}
	for i, dc := range f.Classes {
		p := fmt.Sprintf("classes[%d]", i)
		if c.required(p+".id", dc.ID) {
			if !idRe.MatchString(dc.ID) {
				c.add(p+".id", "invalid class id %q: want 1-40 lowercase letters, digits and underscores, starting with a letter", dc.ID)
			} else if fleetNameRe.MatchString(f.Name) {
				c.checkRuleName(p+".id", f.Name, dc.ID)
			}
			c.unique(classes, p+".id", "class id", dc.ID, "classes", i)
		}
		c.required(p+".name", dc.Name)
		if dc.MaxMessageBytes != 0 && (dc.MaxMessageBytes < MinMessageLimit || dc.MaxMessageBytes > MaxMessageLimit) {
			c.add(p+".maxMessageBytes", "%d is outside %d..%d (IoT Core's message limit is 128 KiB)", dc.MaxMessageBytes, MinMessageLimit, MaxMessageLimit)
		}
		if dc.Remediation != "" && dc.Remediation != RemediationAuto && dc.Remediation != RemediationNotifyOnly {
			c.add(p+".remediation", "%q is not %q or %q", dc.Remediation, RemediationAuto, RemediationNotifyOnly)
		}
		c.checkFields(p+".fields", "field", dc.Fields)
		commands := map[string]int{}
		for j, cmd := range dc.Commands {
			cp := fmt.Sprintf("%s.commands[%d]", p, j)
			if c.required(cp+".name", cmd.Name) {
				if !commandRe.MatchString(cmd.Name) {
					c.add(cp+".name", "invalid command name %q: want 1-64 lowercase letters, digits and hyphens, starting with a letter", cmd.Name)
				}
				c.unique(commands, cp+".name", "command name", cmd.Name, p+".commands", j)
			}
			c.checkFields(cp+".params", "param", cmd.Params)
		}
	}

	if mode == forbidFiles && len(f.Things) > 0 {
		c.add("things", "the runtime copy must not list things (got %d): functions know a device from its AWS IoT identity", len(f.Things))
	}
	names := map[string]int{}
	serials := map[string]int{}
	for i, t := range f.Things {
		p := fmt.Sprintf("things[%d]", i)
		if c.required(p+".name", t.Name) {
			if !thingNameRe.MatchString(t.Name) {
				c.add(p+".name", "invalid thing name %q: want 1-128 of a-z A-Z 0-9 : _ -", t.Name)
			}
			c.unique(names, p+".name", "thing name", t.Name, "things", i)
		}
		if c.required(p+".class", t.Class) {
			if _, ok := classes[t.Class]; !ok {
				c.add(p+".class", "unknown device class %q", t.Class)
			}
		}
		if c.required(p+".district", t.District) {
			if _, ok := districts[t.District]; !ok {
				c.add(p+".district", "unknown district %q", t.District)
			}
		}
		if c.required(p+".serial", t.Serial) {
			if !serialRe.MatchString(t.Serial) {
				c.add(p+".serial", "invalid serial %q: want 1-800 of a-z A-Z 0-9 _ . , @ / : # - (it becomes a thing attribute)", t.Serial)
			}
			c.unique(serials, p+".serial", "serial", t.Serial, "things", i)
		}
		if t.CSR != "" {
			switch mode {
			case forbidFiles:
				c.add(p+".csr", "the runtime copy must not reference files, got %q", t.CSR)
			case checkFiles:
				for _, msg := range checkCSRFile(f.resolve(t.CSR), t.Name) {
					c.add(p+".csr", "%q: %s", t.CSR, msg)
				}
			}
		}
	}

	if ca := f.Provisioning.CACertificate; ca != "" {
		switch mode {
		case forbidFiles:
			c.add("provisioning.caCertificate", "the runtime copy must not reference files, got %q", ca)
		case checkFiles:
			for _, msg := range checkCAFile(f.resolve(ca)) {
				c.add("provisioning.caCertificate", "%q: %s", ca, msg)
			}
		}
	}
	return errors.Join(c.probs...)
}

// checkRuleName makes sure the class's topic rule name is valid for any stage up to
// MaxStageLength, so a fleet file that validates never fails at deploy time.
func (c *checker) checkRuleName(path, fleet, class string) {
	rule := topics.RuleName(fleet+"_"+strings.Repeat("x", MaxStageLength), class)
	if len(rule) > maxRuleName || !ruleNameRe.MatchString(rule) {
		c.add(path, "class id %q makes topic rule name %q invalid (want at most %d letters, digits and underscores with a %d-character stage)", class, rule, maxRuleName, MaxStageLength)
	}
}

// ReservedFieldNames may not name a telemetry field: devices send msgId, seq and ts beside the
// fields, topic rules add topic, clientId and receivedAt, and the telemetry processor stores
// thing, class, streamSeq, pk, sk, obj and expiresAt with them (a test keeps this list equal to
// the processor's).
var ReservedFieldNames = map[string]bool{
	"msgId": true, "seq": true, "ts": true, "topic": true, "clientId": true, "receivedAt": true,
	"thing": true, "class": true, "streamSeq": true, "pk": true, "sk": true, "obj": true, "expiresAt": true,
}

var fieldTypes = map[FieldType]bool{TypeNumber: true, TypeInteger: true, TypeString: true, TypeBoolean: true}

// checkFields applies the field rules to telemetry fields and command parameters alike.
func (c *checker) checkFields(path, kind string, fields []Field) {
	seen := map[string]int{}
	for i, fd := range fields {
		p := fmt.Sprintf("%s[%d]", path, i)
		if c.required(p+".name", fd.Name) {
			if !fieldNameRe.MatchString(fd.Name) {
				c.add(p+".name", "invalid %s name %q: want 1-64 letters, digits and underscores, starting with a letter", kind, fd.Name)
			}
			if kind == "field" && ReservedFieldNames[fd.Name] {
				c.add(p+".name", "field name %q is reserved: the platform adds it to every message or stored record", fd.Name)
			}
			c.unique(seen, p+".name", kind+" name", fd.Name, path, i)
		}
		if fd.Type == "" {
			c.add(p+".type", "is required")
		} else if !fieldTypes[fd.Type] {
			c.add(p+".type", "unknown type %q: want number, integer, string or boolean", fd.Type)
		}
		numeric := fd.Type == TypeNumber || fd.Type == TypeInteger
		for _, b := range []struct {
			key string
			v   *float64
		}{{"min", fd.Min}, {"max", fd.Max}} {
			switch {
			case b.v == nil:
			case !numeric:
				c.add(p+"."+b.key, "%s %s is only allowed on number and integer fields, not on type %q", b.key, num(*b.v), fd.Type)
			case math.IsNaN(*b.v) || math.IsInf(*b.v, 0):
				c.add(p+"."+b.key, "%s %s is not a finite number", b.key, num(*b.v))
			case fd.Type == TypeInteger && *b.v != math.Trunc(*b.v):
				c.add(p+"."+b.key, "%s %s of an integer field must be a whole number", b.key, num(*b.v))
			}
		}
		if fd.Min != nil && fd.Max != nil && *fd.Min > *fd.Max {
			c.add(p+".min", "min %s is greater than max %s", num(*fd.Min), num(*fd.Max))
		}
		if fd.Type != TypeString && fd.Type != "" {
			if fd.MaxLength != 0 {
				c.add(p+".maxLength", "maxLength %d is only allowed on string fields, not on type %q", fd.MaxLength, fd.Type)
			}
			if len(fd.Enum) > 0 {
				c.add(p+".enum", "enum %q is only allowed on string fields, not on type %q", fd.Enum, fd.Type)
			}
		}
		if fd.MaxLength < 0 || fd.MaxLength > MaxMessageLimit {
			c.add(p+".maxLength", "maxLength %d is outside 1..%d", fd.MaxLength, MaxMessageLimit)
		}
		values := map[string]bool{}
		for j, v := range fd.Enum {
			ep := fmt.Sprintf("%s.enum[%d]", p, j)
			switch {
			case v == "":
				c.add(ep, "enum values must not be empty")
			case values[v]:
				c.add(ep, "duplicate enum value %q", v)
			case len(v) > fd.StringLimit():
				c.add(ep, "enum value %q is longer than the field's maxLength %d", v, fd.StringLimit())
			}
			values[v] = true
		}
	}
}

func num(v float64) string {
	return strconv.FormatFloat(v, 'g', -1, 64)
}
