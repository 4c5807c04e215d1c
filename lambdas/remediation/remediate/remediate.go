// Package remediate turns Device Defender audit results and per-device security alarms into
// containment: audit findings start mitigation-action tasks, and devices whose authorization
// failures or duplicate client ids cross an alarm's threshold are quarantined.
package remediate

import (
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
// Failed broker operations (Connect, Publish-In, Subscribe, ...) are logged with status
// "Failure", a reason and details, so one pattern covers every authorization failure. For a
// duplicate client id two spellings are in circulation: reason "DUPLICATE_CLIENT_ID" and the
// Disconnect entry's disconnectReason "DUPLICATE_CLIENTID" (the lifecycle events' value). No
// AWS sample of the log line was at hand, so the pattern accepts either rather than bet on one.
const (
	FilterPatternAuthorizationFailures = `{ $.status = "Failure" && $.reason = "AUTHORIZATION_FAILURE" }`
	FilterPatternDuplicateClientIDs    = `{ $.reason = "DUPLICATE_CLIENT_ID" || $.disconnectReason = "DUPLICATE_CLIENTID" }`
)

// LoadFleet reads and validates the runtime fleet copy the CDK ships with the function (env
// FLEET_FILE, written by (*fleetspec.Fleet).RuntimeJSON).
func LoadFleet(path string) (*fleetspec.Fleet, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read fleet: %w", err)
	}
	f, err := fleetspec.ParseRuntime(data)
	if err != nil {
		return nil, fmt.Errorf("parse fleet %s: %w", path, err)
	}
	return f, nil
}

// knownThing reports whether name is one of the fleet's things. A nil fleet knows none, so a
// handler built without one acts on nothing.
func knownThing(f *fleetspec.Fleet, name string) bool {
	if f == nil || name == "" {
		return false
	}
	_, ok := f.Thing(name)
	return ok
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
