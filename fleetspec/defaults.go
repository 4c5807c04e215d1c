package fleetspec

import (
	"fmt"
	"time"
)

// Limits and defaults of the fleet file. IoT Core refuses messages above 128 KiB, so no
// class may allow more.
const (
	DefaultMessageLimit = 4096
	MinMessageLimit     = 64
	MaxMessageLimit     = 128 * 1024
	DefaultStringLimit  = 256
	// MaxStageLength bounds the stage name that goes into topic rule names
	// (<fleet>_<stage>_<class>); validation keeps every rule name within AWS's limit for any
	// stage up to this length.
	MaxStageLength = 8
	// Firmware image limits per class (maxFirmwareBytes): 1 KiB to 2 GiB, default 16 MiB.
	DefaultFirmwareLimit int64 = 16 << 20
	MinFirmwareLimit     int64 = 1 << 10
	MaxFirmwareLimit     int64 = 2 << 30
	// DefaultStateInterval: every batch that brings a device a newer message replaces its
	// state, so the state is as fresh as the stream. Message ids reach the processor's durable
	// deduplication window on every batch whatever the interval (see lambdas/telemetry/pipeline).
	DefaultStateInterval = time.Duration(0)
	// MaxStateInterval bounds StateInterval: a state older than an hour is not "latest".
	MaxStateInterval = time.Hour
)

// FirmwareLimit is the largest firmware image in bytes the class may be released.
func (c DeviceClass) FirmwareLimit() int64 {
	if c.MaxFirmwareBytes > 0 {
		return c.MaxFirmwareBytes
	}
	return DefaultFirmwareLimit
}

// MessageLimit is the largest telemetry message in bytes a device of this class may send.
func (c DeviceClass) MessageLimit() int {
	if c.MaxMessageBytes > 0 {
		return c.MaxMessageBytes
	}
	return DefaultMessageLimit
}

// StateEvery is the class's StateInterval as a duration (DefaultStateInterval when unset).
// It fails on a value Validate refuses.
func (c DeviceClass) StateEvery() (time.Duration, error) {
	if c.StateInterval == "" {
		return DefaultStateInterval, nil
	}
	d, err := time.ParseDuration(c.StateInterval)
	if err != nil {
		return 0, fmt.Errorf("stateInterval %q is not a Go duration such as \"30s\" or \"1m\"", c.StateInterval)
	}
	if d < 0 || d > MaxStateInterval || d%time.Second != 0 {
		return 0, fmt.Errorf("stateInterval %q must be whole seconds between 0s and %s", c.StateInterval, MaxStateInterval)
	}
	return d, nil
}

// StringLimit is the longest value in bytes a string field accepts.
func (f Field) StringLimit() int {
	if f.MaxLength > 0 {
		return f.MaxLength
	}
	return DefaultStringLimit
}

// The cap on declared things. Each declared thing costs the Fleet stack ThingResources
// resources (the thing, its thing-type association and its class and district memberships)
// and CSRResources more when the file gives it a CSR (the certificate and its thing and
// policy attachments). ThingResourceBudget is what the stack sets aside for them out of
// CloudFormation's 500 resources per stack; the rest (roles, functions, provisioning,
// logging, the endpoint, three resources per class, one per district) stays below 100 for
// any fleet of up to 20 classes and 30 districts (measured in test/fleet_test.go). A city's
// other devices are provisioned at run time and cost the stack nothing.
const (
	ThingResources      = 4
	CSRResources        = 3
	ThingResourceBudget = 400
	// MaxThings is the most things a fleet file may declare (none with a CSR).
	MaxThings = ThingResourceBudget / ThingResources
)

// ThingCost is what the declared things cost the Fleet stack, in resources.
func (f *Fleet) ThingCost() int {
	n := len(f.Things) * ThingResources
	for _, t := range f.Things {
		if t.CSR != "" {
			n += CSRResources
		}
	}
	return n
}

// NotifyOnlyByDefault are the classes whose devices the platform never quarantines on its own
// unless the fleet file says "remediation": "auto": a quarantined traffic signal controller
// loses its commands and reports, which is a decision for the traffic operator.
var NotifyOnlyByDefault = map[string]bool{"traffic_signal": true}

// RemediationMode is the class's Remediation, or its default when unset.
func (c DeviceClass) RemediationMode() Remediation {
	if c.Remediation != "" {
		return c.Remediation
	}
	if NotifyOnlyByDefault[c.ID] {
		return RemediationNotifyOnly
	}
	return RemediationAuto
}
