package fleetspec

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
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
	// IAM role names (the IAM API's RoleName pattern, 1-64 characters).
	roleNameRe = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
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
		if dc.MaxFirmwareBytes != 0 && (dc.MaxFirmwareBytes < MinFirmwareLimit || dc.MaxFirmwareBytes > MaxFirmwareLimit) {
			c.add(p+".maxFirmwareBytes", "%d is outside %d..%d", dc.MaxFirmwareBytes, MinFirmwareLimit, MaxFirmwareLimit)
		}
		if _, err := dc.StateEvery(); err != nil {
			c.add(p+".stateInterval", "%v", err)
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

	f.checkOperators(c, classes)

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
		c.checkCritical(p, kind, fd)
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

// checkCritical: critical values exist only on string command params, and each is a value the
// param can take.
func (c *checker) checkCritical(path, kind string, fd Field) {
	if len(fd.Critical) == 0 {
		return
	}
	if kind != "param" {
		c.add(path+".critical", "critical values are only allowed on command params, not on telemetry fields")
		return
	}
	if fd.Type != TypeString {
		c.add(path+".critical", "critical values %q are only allowed on string params, not on type %q", fd.Critical, fd.Type)
		return
	}
	seen := map[string]bool{}
	for j, v := range fd.Critical {
		cp := fmt.Sprintf("%s.critical[%d]", path, j)
		switch {
		case v == "":
			c.add(cp, "critical values must not be empty")
		case seen[v]:
			c.add(cp, "duplicate critical value %q", v)
		case len(fd.Enum) > 0 && !slices.Contains(fd.Enum, v):
			c.add(cp, "critical value %q is not one of the param's enum %q", v, fd.Enum)
		}
		seen[v] = true
	}
}

// checkOperators validates the operator roles and their scopes against the classes.
func (f *Fleet) checkOperators(c *checker, classes map[string]int) {
	roles := map[string]int{}
	for i, op := range f.Operators {
		p := fmt.Sprintf("operators[%d]", i)
		if c.required(p+".role", op.Role) {
			if !roleNameRe.MatchString(op.Role) {
				c.add(p+".role", "invalid IAM role name %q: want 1-64 letters, digits and +=,.@_- (the role's name, not its ARN or path)", op.Role)
			}
			// IAM role names are unique in an account without regard to case.
			c.unique(roles, p+".role", "operator role", strings.ToLower(op.Role), "operators", i)
		}
		perClass := map[string]int{}
		for j, perm := range op.Allow {
			pp := fmt.Sprintf("%s.allow[%d]", p, j)
			if !c.required(pp+".class", perm.Class) {
				continue
			}
			ci, ok := classes[perm.Class]
			if !ok {
				c.add(pp+".class", "unknown device class %q", perm.Class)
				continue
			}
			c.unique(perClass, pp+".class", "class", perm.Class, p+".allow", j)
			class := f.Classes[ci]
			if len(perm.Commands) == 0 {
				c.add(pp+".commands", "at least one command is required (omit the class to allow none)")
			}
			cmds := map[string]Command{}
			seen := map[string]int{}
			for k, name := range perm.Commands {
				kp := fmt.Sprintf("%s.commands[%d]", pp, k)
				cmd, ok := commandOf(class, name)
				if !ok {
					c.add(kp, "class %s has no command %q", class.ID, name)
					continue
				}
				c.unique(seen, kp, "command", name, pp+".commands", k)
				cmds[name] = cmd
			}
			pairs := map[string]int{}
			for k, pv := range perm.Values {
				vp := fmt.Sprintf("%s.values[%d]", pp, k)
				cmd, ok := cmds[pv.Command]
				if !ok {
					c.add(vp+".command", "command %q is not one of this permission's commands %q", pv.Command, perm.Commands)
					continue
				}
				var param *Field
				for n := range cmd.Params {
					if cmd.Params[n].Name == pv.Param {
						param = &cmd.Params[n]
					}
				}
				if param == nil {
					c.add(vp+".param", "command %s of class %s has no param %q", cmd.Name, class.ID, pv.Param)
					continue
				}
				if param.Type != TypeString {
					c.add(vp+".param", "param %q of command %s is of type %q; values can only narrow string params", pv.Param, cmd.Name, param.Type)
					continue
				}
				c.unique(pairs, vp, "values for command and param", pv.Command+" "+pv.Param, pp+".values", k)
				if len(pv.Values) == 0 {
					c.add(vp+".values", "at least one value is required")
				}
				for n, v := range pv.Values {
					if err := checkValue(*param, v); err != nil {
						c.add(fmt.Sprintf("%s.values[%d]", vp, n), "%v", err)
					}
				}
			}
		}
	}
}

func commandOf(class DeviceClass, name string) (Command, bool) {
	for _, cmd := range class.Commands {
		if cmd.Name == name {
			return cmd, true
		}
	}
	return Command{}, false
}
