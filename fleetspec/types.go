// Package fleetspec reads and validates the fleet file: the city's districts, device classes
// (with their telemetry fields and allowed commands) and optional declared things. The CDK app,
// the processors and the device simulator all read device classes from here, so validation
// lives in one place. Declared things are for the CDK side only (pilots, devices with a CSR):
// the runtime copy Lambdas read has none, because at run time a device is known from what AWS
// IoT authenticated (see package constructs/fleet).
package fleetspec

// Fleet is one stage's fleet file.
type Fleet struct {
	// Name prefixes resource names (rule names, thing types, groups): lowercase letters,
	// digits and underscores, starting with a letter, for example "smartcity".
	Name      string        `json:"name"`
	Districts []District    `json:"districts"`
	Classes   []DeviceClass `json:"classes"`
	// Things are the optional declared things (pilots, devices with a CSR); the rest of the
	// city is provisioned at run time. At most MaxThings (fewer with CSRs, see
	// ThingResourceBudget). Default: none.
	Things []Thing `json:"things,omitempty"`
	// Provisioning configures the optional Just-in-Time and fleet (claim) provisioning paths.
	Provisioning Provisioning `json:"provisioning"`
	// Operators are the IAM roles that may call the command API, each with what it may send.
	// The API's resource policy denies every other principal, and the command function
	// enforces each role's scope. Default: none, and the command API refuses to build (nobody
	// could use it).
	Operators []Operator `json:"operators,omitempty"`

	// Path is the file the fleet was loaded from; relative paths inside it resolve from its
	// directory. Empty for a fleet built in code.
	Path string `json:"-"`

	// idx is built by Load, Parse and ParseRuntime and never changed afterwards, so Lambdas
	// may look things up concurrently. A Fleet built in code has none and lookups scan.
	idx *index
}

// District is an area of the city; every thing belongs to one.
type District struct {
	// ID: lowercase letters, digits and underscores, for example "old_town".
	ID   string `json:"id"`
	Name string `json:"name"`
}

// DeviceClass is a kind of device, for example a street light.
type DeviceClass struct {
	// ID: lowercase letters, digits and underscores, for example "street_light". Topic rule,
	// thing type and thing group names derive from it.
	ID   string `json:"id"`
	Name string `json:"name"`
	// Fields are the telemetry fields a message of this class may carry.
	Fields []Field `json:"fields"`
	// Commands are the commands operators may send to devices of this class.
	Commands []Command `json:"commands"`
	// MaxMessageBytes bounds one telemetry message. Default: 4096.
	MaxMessageBytes int `json:"maxMessageBytes,omitempty"`
	// MaxFirmwareBytes bounds a firmware image released to the class (cmd/ota refuses a bigger
	// file before uploading it). Default: 16 MiB (DefaultFirmwareLimit).
	MaxFirmwareBytes int64 `json:"maxFirmwareBytes,omitempty"`
	// StateInterval is how often at most the telemetry processor replaces a device's latest
	// state (a Go duration, whole seconds, 0s to 1h): while the device keeps sending, the state
	// lags its newest accepted message by less than this. Every message is archived and
	// deduplicated exactly once whatever it is; it does not save writes (one per device per
	// batch carries the claims either way).
	// Default: "0s" - every batch that brings a device a newer message writes its state.
	StateInterval string `json:"stateInterval,omitempty"`
	// Remediation is what the quarantine function may do on its own to a misbehaving device
	// of this class: RemediationAuto (quarantine it, within the hourly cap) or
	// RemediationNotifyOnly (tell a person, change nothing). Default: notify-only for the
	// class "traffic_signal" (cutting a signal controller off the city is an operator's call),
	// auto for every other class; see (DeviceClass).RemediationMode.
	Remediation Remediation `json:"remediation,omitempty"`
}

// Remediation is a class's automated containment mode.
type Remediation string

// Remediation modes.
const (
	RemediationAuto       Remediation = "auto"
	RemediationNotifyOnly Remediation = "notify-only"
)

// FieldType is the JSON type of a telemetry field or command parameter.
type FieldType string

// Field types.
const (
	TypeNumber  FieldType = "number"
	TypeInteger FieldType = "integer"
	TypeString  FieldType = "string"
	TypeBoolean FieldType = "boolean"
)

// Field is one telemetry field or command parameter.
type Field struct {
	// Name: a JSON key of letters, digits and underscores, starting with a letter.
	Name     string    `json:"name"`
	Type     FieldType `json:"type"`
	Required bool      `json:"required,omitempty"`
	// Unit documents the field's unit (for example "lux", "ug/m3"); informational.
	Unit string `json:"unit,omitempty"`
	// Min and Max bound numbers and integers (inclusive). Default: unbounded.
	Min *float64 `json:"min,omitempty"`
	Max *float64 `json:"max,omitempty"`
	// MaxLength bounds a string's length in bytes. Default: 256.
	MaxLength int `json:"maxLength,omitempty"`
	// Enum restricts a string to these values. Default: any string.
	Enum []string `json:"enum,omitempty"`
	// Sensitive fields (a camera's plate reads, say) are envelope-encrypted before storage.
	Sensitive bool `json:"sensitive,omitempty"`
	// Critical values of a string command parameter (a traffic signal's "flashing" and "off")
	// may be sent only by an operator role whose scope names them in its values for this
	// command and parameter; a role granted the command without naming them is refused.
	// Command params only; each must be one of Enum when Enum is set. Default: none.
	Critical []string `json:"critical,omitempty"`
}

// Command is an operator command a device class accepts, for example "set-light".
type Command struct {
	// Name: lowercase letters, digits and hyphens, for example "set-light".
	Name   string  `json:"name"`
	Params []Field `json:"params,omitempty"`
}

// Thing is one declared device: the Fleet stack creates it with its thing type and attributes.
type Thing struct {
	// Name follows AWS IoT thing naming: 1-128 of [a-zA-Z0-9:_-]. It is also the MQTT client
	// id the device must connect with.
	Name     string `json:"name"`
	Class    string `json:"class"`
	District string `json:"district"`
	Serial   string `json:"serial"`
	// CSR is the path (relative to the fleet file) of a PEM certificate signing request; when
	// set, the platform issues the thing's certificate from it. The private key never leaves
	// the device. Default: no per-device certificate (the device uses JITP or fleet
	// provisioning).
	CSR string `json:"csr,omitempty"`
}

// Provisioning configures the paths by which devices without a per-device CSR get their
// certificate.
type Provisioning struct {
	// CACertificate is the path (relative to the fleet file) of the city's CA certificate
	// (PEM, public part only) registered for Just-in-Time Provisioning. Default: no JITP.
	CACertificate string `json:"caCertificate,omitempty"`
	// Claim enables fleet provisioning by claim with a pre-provisioning hook. Default: off.
	Claim bool `json:"claim,omitempty"`
}

// Operator is an IAM role that may call the command API, and what it may send.
type Operator struct {
	// Role is the IAM role's name (1-64 of letters, digits and +=,.@_-), without its path:
	// role names are unique in an account whatever their path, and the command function sees
	// the caller as arn:<partition>:sts::<account>:assumed-role/<name>/<session>, which has
	// no path either. Unique (IAM names are not distinguished by case).
	Role string `json:"role"`
	// Description says whose role it is, for reviewers of the fleet file. Optional.
	Description string `json:"description,omitempty"`
	// Allow lists, per class, the commands the role may send. Default: none, so the role may
	// read device state (GET) but send nothing.
	Allow []Permission `json:"allow,omitempty"`
}

// Permission lets an operator send some commands to the devices of one class.
type Permission struct {
	// Class is a device class id of this fleet; at most one permission per class.
	Class string `json:"class"`
	// Commands are command names of the class; at least one.
	Commands []string `json:"commands"`
	// Values narrows string parameters of these commands to listed values, and is the only
	// way to allow a parameter's critical values. Default: any valid value that is not
	// critical.
	Values []ParamValues `json:"values,omitempty"`
}

// ParamValues is the set of values an operator may give one string parameter of one command.
type ParamValues struct {
	// Command is one of the permission's commands.
	Command string `json:"command"`
	// Param is a string parameter of that command.
	Param string `json:"param"`
	// Values are allowed values of the parameter (each one of its enum when it has one);
	// at least one.
	Values []string `json:"values"`
}
