package stacks

import (
	"fmt"
	"strconv"

	telcontract "github.com/secure-smart-city/platform/lambdas/telemetry/contract"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/secure-smart-city/platform/constructs/securestore"
)

// Retention of the telemetry archive (context keys ContextAcceptedRetentionDays and
// ContextRejectedRetentionDays).
const (
	// DefaultAcceptedRetentionDays keeps accepted telemetry a year: enough to compare a season
	// with the last one, and no longer, since device data about a street (camera counts, plate
	// reads, parking) says something about the people in it. A city that needs more sets it.
	DefaultAcceptedRetentionDays = 365
	// DefaultRejectedRetentionDays keeps rejected records a month: long enough to find and fix
	// the firmware or fleet file that caused them. They are unvalidated device data, already
	// cut to the class's size limit.
	DefaultRejectedRetentionDays = 30
	// maxRetentionDays bounds both settings (ten years).
	maxRetentionDays = 3650
)

// minStorageDays are the minimum storage durations S3 charges for when an object leaves a
// storage class early (S3 pricing: Standard-IA 30 days, Glacier Instant Retrieval 90, Glacier
// Deep Archive 180). A transition whose object would expire before its minimum only adds cost.
const (
	minDaysInfrequentAccess = 30
	minDaysGlacierInstant   = 90
	minDaysDeepArchive      = 180
)

// retentionFromContext reads a retention in days: a whole number (cdk.json) or its string
// (-c key=N). ok is false when the key is absent.
func retentionFromContext(scope constructs.Construct, key string) (days int, ok bool, err error) {
	switch v := scope.Node().TryGetContext(jsii.String(key)).(type) {
	case nil:
		return 0, false, nil
	case float64:
		if v != float64(int(v)) {
			return 0, false, fmt.Errorf("context %q: want a whole number of days, got %v", key, v)
		}
		return int(v), true, nil
	case string:
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, false, fmt.Errorf("context %q: want a whole number of days, got %q", key, v)
		}
		return n, true, nil
	default:
		return 0, false, fmt.Errorf("context %q: want a whole number of days, got %v", key, v)
	}
}

// retentionConfig fills the archive retention of cfg from context.
func retentionConfig(scope constructs.Construct, cfg *Config) error {
	if d, ok, err := retentionFromContext(scope, ContextAcceptedRetentionDays); err != nil {
		return err
	} else if ok {
		cfg.AcceptedRetentionDays = &d
	}
	if d, ok, err := retentionFromContext(scope, ContextRejectedRetentionDays); err != nil {
		return err
	} else if ok {
		cfg.RejectedRetentionDays = &d
	}
	return cfg.validateRetention()
}

func (c Config) validateRetention() error {
	if d := c.AcceptedRetentionDays; d != nil && (*d < 0 || *d > maxRetentionDays) {
		return fmt.Errorf("context %q: %d must be between 1 and %d days, or 0 to keep accepted telemetry forever", ContextAcceptedRetentionDays, *d, maxRetentionDays)
	}
	if d := c.RejectedRetentionDays; d != nil && (*d < 1 || *d > maxRetentionDays) {
		return fmt.Errorf("context %q: %d must be between 1 and %d days", ContextRejectedRetentionDays, *d, maxRetentionDays)
	}
	return nil
}

// acceptedRetention is the accepted/ retention in days; 0 keeps it forever.
func (c Config) acceptedRetention() int {
	if c.AcceptedRetentionDays != nil {
		return *c.AcceptedRetentionDays
	}
	return DefaultAcceptedRetentionDays
}

func (c Config) rejectedRetention() int {
	if c.RejectedRetentionDays != nil {
		return *c.RejectedRetentionDays
	}
	return DefaultRejectedRetentionDays
}

// ArchiveLifecycle is the telemetry archive's lifecycle: securestore.DefaultLifecycle's
// transitions, less those an accepted object would leave before S3's minimum storage
// duration, with accepted/ expiring after the accepted retention (unless 0) and rejected/
// after the rejected retention. Expired objects become noncurrent versions, deleted
// NoncurrentExpireAfterDays (90) later.
func (c Config) ArchiveLifecycle() *securestore.Lifecycle {
	l := securestore.DefaultLifecycle()
	if days := c.acceptedRetention(); days > 0 {
		drop := func(step **int, minDays int) {
			if *step != nil && **step+minDays > days {
				*step = nil
			}
		}
		drop(&l.InfrequentAccessAfterDays, minDaysInfrequentAccess)
		drop(&l.GlacierInstantRetrievalAfterDays, minDaysGlacierInstant)
		drop(&l.DeepArchiveAfterDays, minDaysDeepArchive)
		l.PrefixExpiry = append(l.PrefixExpiry, securestore.PrefixExpiry{Prefix: telcontract.AcceptedPrefix, ExpireAfterDays: days})
	}
	l.PrefixExpiry = append(l.PrefixExpiry, securestore.PrefixExpiry{Prefix: telcontract.RejectedPrefix, ExpireAfterDays: c.rejectedRetention()})
	return &l
}

// RetainQueuesInProd keeps every SQS queue under scope (the app) when its stack is deleted or
// the queue replaced, in prod: every queue of the platform is a dead-letter or failure queue
// (rule error actions, the processor's stream on-failure queue, asynchronous functions'
// on-failure destinations, SNS subscription dead letters), and what it holds failed and
// exists nowhere else. SQS's own default deletes a queue with its stack. It is an aspect, so
// queues any construct adds later are covered too; dev keeps each construct's choice.
func RetainQueuesInProd(scope constructs.Construct, cfg Config) {
	if !cfg.Prod() {
		return
	}
	awscdk.RemovalPolicies_Of(scope).Retain(&awscdk.RemovalPolicyProps{ApplyToResourceTypes: jsii.Strings("AWS::SQS::Queue")})
}
