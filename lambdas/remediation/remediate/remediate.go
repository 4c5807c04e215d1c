// Package remediate turns Device Defender audit results and the security alarms into
// containment: audit findings start mitigation-action tasks, and the certificates whose
// authorization failures or duplicate client ids set off a confirmed alarm have their things
// quarantined (see Quarantine).
package remediate

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/aws/smithy-go"

	"github.com/secure-smart-city/platform/fleetspec"
	"github.com/secure-smart-city/platform/internal/registry"
	"github.com/secure-smart-city/platform/lambdas/remediation/contract"
)

// Names the detection path and the CDK's metric filters must agree on (see package contract).
const (
	Namespace                   = contract.MetricNamespace
	MetricAuthorizationFailures = contract.MetricAuthorizationFailures
	MetricDuplicateClientIDs    = contract.MetricDuplicateClientIDs
)

// Metric filter patterns over the AWS IoT v2 log group, one per metric (see package contract
// for why they have no dimension). Who caused the events is found at alarm time from the
// entries' principalId (InsightsQuery).
const (
	FilterPatternAuthorizationFailures = contract.FilterPatternAuthorizationFailures
	FilterPatternDuplicateClientIDs    = contract.FilterPatternDuplicateClientIDs
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

// Things looks a thing up in the AWS IoT registry (a *registry.Cache over an *iot.Client); it
// returns an error wrapping registry.ErrNotFound when there is no such thing.
type Things interface {
	Lookup(ctx context.Context, name string) (registry.Thing, error)
}

// Scope is which things the remediation functions act on: every thing the registry holds
// whose thing type is one of the fleet's classes (topics.RuleName(ThingTypePrefix, class)),
// declared in the fleet file or provisioned at run time. Another stage's or fleet's thing,
// one with no type, and a name the registry does not hold are out of scope: containing them
// is not this platform's call.
type Scope struct {
	// Fleet is the runtime fleet copy (env FLEET_FILE): its classes. Its things, if any, are
	// not consulted.
	Fleet *fleetspec.Fleet
	// ThingTypePrefix is the fleet's thing type prefix (env THING_TYPE_PREFIX).
	ThingTypePrefix string
	// Things is the registry.
	Things Things
}

// Member reports whether name is a thing of the fleet; when it is not, reason says why, for
// the log. err is a registry failure: the caller returns it so Lambda retries, because
// "unknown" must not turn into "no action". A zero Scope holds nothing.
func (s Scope) Member(ctx context.Context, name string) (ok bool, reason string, err error) {
	_, ok, reason, err = s.ClassOf(ctx, name)
	return ok, reason, err
}

// ClassOf is Member that also returns the thing's class (its remediation mode decides what
// the quarantine may do).
func (s Scope) ClassOf(ctx context.Context, name string) (class fleetspec.DeviceClass, ok bool, reason string, err error) {
	if s.Fleet == nil || s.Things == nil || s.ThingTypePrefix == "" {
		return class, false, "no fleet configured", nil
	}
	t, err := s.Things.Lookup(ctx, name)
	switch {
	case errors.Is(err, registry.ErrNotFound):
		return class, false, "no such thing in the registry", nil
	case err != nil:
		return class, false, "", err
	}
	if id, isOurs := t.Class(s.ThingTypePrefix); isOurs {
		if c, known := s.Fleet.Class(id); known {
			return c, true, "", nil
		}
	}
	return class, false, fmt.Sprintf("thing type %q is not one of the fleet's classes (%s_<class>)", truncate(t.Type, 128), s.ThingTypePrefix), nil
}

// EnvThingTypePrefix names the environment variable both remediation functions read the
// fleet's thing type prefix from.
const EnvThingTypePrefix = contract.EnvThingTypePrefix

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
