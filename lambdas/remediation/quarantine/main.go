// Command quarantine is the Lambda subscribed to the security alarms' topic; it quarantines the
// devices whose authorization failures or duplicate client ids crossed the alarm's threshold
// (logic in package remediate).
package main

import (
	"context"
	"log/slog"
	"os"
	"strconv"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/iot"

	"github.com/secure-smart-city/platform/internal/registry"
	"github.com/secure-smart-city/platform/lambdas/remediation/remediate"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	fail := func(msg string, args ...any) {
		log.Error(msg, args...)
		os.Exit(1)
	}
	fleet, err := remediate.LoadFleet(os.Getenv("FLEET_FILE"))
	if err != nil {
		fail("load fleet", "error", err)
	}
	prefix := os.Getenv(remediate.EnvThingTypePrefix)
	if prefix == "" {
		fail(remediate.EnvThingTypePrefix + " is not set")
	}
	group := os.Getenv("QUARANTINE_GROUP")
	if group == "" {
		fail("QUARANTINE_GROUP is not set")
	}
	deactivate := false
	if v := os.Getenv("DEACTIVATE_CERTIFICATES"); v != "" {
		if deactivate, err = strconv.ParseBool(v); err != nil {
			fail("DEACTIVATE_CERTIFICATES is not a boolean", "value", v)
		}
	}
	var threshold float64
	if v := os.Getenv("DEVICE_THRESHOLD"); v != "" {
		if threshold, err = strconv.ParseFloat(v, 64); err != nil || threshold < 0 {
			fail("DEVICE_THRESHOLD is not a non-negative number", "value", v)
		}
	}
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		fail("load aws config", "error", err)
	}
	iotc := iot.NewFromConfig(cfg)
	h := &remediate.Quarantine{
		Group:                  group,
		DeactivateCertificates: deactivate,
		DeviceThreshold:        threshold,
		// Which things it may quarantine, from the registry; the cache lives as long as the
		// execution environment, its answers at most registry.DefaultTTL.
		Scope:        remediate.Scope{Fleet: fleet, ThingTypePrefix: prefix, Things: registry.NewCache(iotc, registry.Options{})},
		Metrics:      cloudwatch.NewFromConfig(cfg),
		Groups:       iotc,
		Principals:   iotc,
		Certificates: iotc,
		Log:          log,
	}
	lambda.Start(h.Handle)
}
