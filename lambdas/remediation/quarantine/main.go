// Command quarantine is the Lambda subscribed to the security alarms and Detect violations on
// the alert topic; it confirms the alarm with CloudWatch, finds the offending certificates in
// the IoT logs and quarantines their things (logic in package remediate).
package main

import (
	"context"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/secure-smart-city/platform/internal/registry"
	"github.com/secure-smart-city/platform/lambdas/remediation/contract"
	"github.com/secure-smart-city/platform/lambdas/remediation/remediate"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	fail := func(msg string, args ...any) {
		log.Error(msg, args...)
		os.Exit(1)
	}
	required := func(name string) string {
		v := os.Getenv(name)
		if v == "" {
			fail(name + " is not set")
		}
		return v
	}
	list := func(name string) []string {
		var out []string
		for _, v := range strings.Split(os.Getenv(name), ",") {
			if v = strings.TrimSpace(v); v != "" {
				out = append(out, v)
			}
		}
		return out
	}
	fleet, err := remediate.LoadFleet(os.Getenv(contract.EnvFleetFile))
	if err != nil {
		fail("load fleet", "error", err)
	}
	deactivate := false
	if v := os.Getenv(contract.EnvDeactivateCertificates); v != "" {
		if deactivate, err = strconv.ParseBool(v); err != nil {
			fail(contract.EnvDeactivateCertificates+" is not a boolean", "value", v)
		}
	}
	var threshold float64
	if v := os.Getenv(contract.EnvDeviceThreshold); v != "" {
		if threshold, err = strconv.ParseFloat(v, 64); err != nil || threshold < 0 {
			fail(contract.EnvDeviceThreshold+" is not a non-negative number", "value", v)
		}
	}
	quarantineCap := contract.DefaultQuarantineCap
	if v := os.Getenv(contract.EnvQuarantineCap); v != "" {
		if quarantineCap, err = strconv.Atoi(v); err != nil || quarantineCap < 0 {
			fail(contract.EnvQuarantineCap+" is not a non-negative integer", "value", v)
		}
	}
	alarms := list(contract.EnvSecurityAlarms)
	if len(alarms) == 0 {
		fail(contract.EnvSecurityAlarms + " is not set")
	}
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		fail("load aws config", "error", err)
	}
	iotc := iot.NewFromConfig(cfg)
	cw := cloudwatch.NewFromConfig(cfg)
	logs := cloudwatchlogs.NewFromConfig(cfg)
	var budget remediate.Budget
	if quarantineCap > 0 {
		budget = &remediate.TableBudget{Client: dynamodb.NewFromConfig(cfg), Table: required(contract.EnvBudgetTable), Cap: quarantineCap}
	}
	h := &remediate.Quarantine{
		Group:                  required(contract.EnvQuarantineGroup),
		DeactivateCertificates: deactivate,
		DeviceThreshold:        threshold,
		Alarms:                 alarms,
		LogGroup:               required(contract.EnvIoTLogGroup),
		CertificateARNPrefix:   required(contract.EnvCertificateARNPrefix),
		ClaimCertificates:      list(contract.EnvClaimCertificateIDs),
		ClaimPolicy:            os.Getenv(contract.EnvClaimPolicy),
		AlertTopic:             required(contract.EnvAlertTopicARN),
		// Which things it may quarantine, from the registry; the cache lives as long as the
		// execution environment, its answers at most registry.DefaultTTL.
		Scope: remediate.Scope{Fleet: fleet, ThingTypePrefix: required(contract.EnvThingTypePrefix),
			Things: registry.NewCache(iotc, registry.Options{})},
		// QUARANTINE_CAP=0 leaves Budget nil: nothing is acted on automatically, all is reported.
		Budget:        budget,
		Alarm:         cw,
		Metrics:       cw,
		Queries:       logs,
		QueryResults:  logs,
		PrincipalOf:   iotc,
		PolicyTargets: iotc,
		Violations:    iotc,
		Groups:        iotc,
		Certificates:  iotc,
		Notify:        sns.NewFromConfig(cfg),
		Log:           log,
	}
	lambda.Start(h.Handle)
}
