// Package remediate turns Device Defender audit results and per-device security alarms into
// containment: audit findings start mitigation-action tasks, and devices whose authorization
// failures or duplicate client ids cross an alarm's threshold are quarantined.
package remediate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/aws/smithy-go"

	"github.com/secure-smart-city/platform/fleetspec"
)

// Names the detection path and the CDK's metric filters must agree on.
const (
	Namespace                   = "SmartCity/Security"
	DimensionThingName          = "ThingName"
	MetricAuthorizationFailures = "AuthorizationFailures"
	MetricDuplicateClientIDs    = "DuplicateClientIds"
)

// Metric filter patterns over the AWS IoT v2 log group (AWSIotLogsV2), one per metric, each
// with metric value "1" and dimension ThingName = "$.clientId" (the client id is the thing
// name, which the fleet's IoT policies enforce).
//
// Failed operations carry status "Failure" and a reason; authorization failures are logged for
// Connect, Publish-In, Subscribe and the other broker events alike. A duplicate client id shows
// as reason "DUPLICATE_CLIENT_ID" in the log entry and as disconnectReason
// "DUPLICATE_CLIENTID" (the lifecycle-event spelling) on the Disconnect entry; the pattern
// accepts either spelling.
const (
	FilterPatternAuthorizationFailures = `{ $.status = "Failure" && $.reason = "AUTHORIZATION_FAILURE" }`
	FilterPatternDuplicateClientIDs    = `{ $.reason = "DUPLICATE_CLIENT_ID" || $.disconnectReason = "DUPLICATE_CLIENTID" }`
)

// LoadFleet reads the runtime fleet copy the CDK ships with the function (env FLEET_FILE).
func LoadFleet(path string) (*fleetspec.Fleet, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read fleet: %w", err)
	}
	return ParseFleet(data)
}

// ParseFleet decodes a runtime fleet copy, rejecting unknown fields so a copy written by a
// newer schema fails at cold start rather than being half-read.
//
// It stands in for fleetspec.ParseRuntime, which also validates; switch to it once it lands.
func ParseFleet(data []byte) (*fleetspec.Fleet, error) {
	var f fleetspec.Fleet
	if err := decodeStrict(data, &f); err != nil {
		return nil, fmt.Errorf("decode fleet: %w", err)
	}
	if len(f.Things) == 0 {
		return nil, errors.New("decode fleet: no things")
	}
	return &f, nil
}

func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// knownThing reports whether name is one of the fleet's things. It scans rather than using an
// index so that a fleet built in code (tests) and a decoded one behave the same.
func knownThing(f *fleetspec.Fleet, name string) bool {
	if f == nil || name == "" {
		return false
	}
	for _, t := range f.Things {
		if t.Name == name {
			return true
		}
	}
	return false
}

// apiErrorCode returns the AWS error code of err, or "" for errors that did not come from a
// service response (network errors, cancelled contexts).
func apiErrorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// truncate bounds attacker-influenced strings (client ids, labels, messages) in logs.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
