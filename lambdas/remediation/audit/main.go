// Command audit is the Lambda subscribed to the Device Defender audit notification topic; it
// starts mitigation-action tasks for non-compliant findings (logic in package remediate).
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/iot"

	"github.com/secure-smart-city/platform/internal/registry"
	"github.com/secure-smart-city/platform/lambdas/remediation/contract"
	"github.com/secure-smart-city/platform/lambdas/remediation/remediate"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	fleet, err := remediate.LoadFleet(os.Getenv(contract.EnvFleetFile))
	if err != nil {
		log.Error("load fleet", "error", err)
		os.Exit(1)
	}
	prefix := os.Getenv(contract.EnvThingTypePrefix)
	if prefix == "" {
		log.Error(contract.EnvThingTypePrefix + " is not set")
		os.Exit(1)
	}
	actions := remediate.ActionNames{
		DeactivateCertificate: os.Getenv(contract.EnvActionDeactivateCertificate),
		Quarantine:            os.Getenv(contract.EnvActionQuarantine),
		EnableLogging:         os.Getenv(contract.EnvActionEnableLogging),
		PublishFinding:        os.Getenv(contract.EnvActionPublishFinding),
	}
	if actions == (remediate.ActionNames{}) {
		log.Error("no ACTION_* mitigation action names are set")
		os.Exit(1)
	}
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		log.Error("load aws config", "error", err)
		os.Exit(1)
	}
	client := iot.NewFromConfig(cfg)
	h := &remediate.Audit{
		Actions: actions,
		// Findings name things by client id; the registry says which are the fleet's.
		Scope:    remediate.Scope{Fleet: fleet, ThingTypePrefix: prefix, Things: registry.NewCache(client, registry.Options{})},
		Findings: client, Tasks: client, Log: log,
	}
	lambda.Start(h.Handle)
}
