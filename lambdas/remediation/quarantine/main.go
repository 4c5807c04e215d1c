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
	fleet, err := remediate.LoadFleet(os.Getenv("FLEET_FILE"))
	if err != nil {
		fail("load fleet", "error", err)
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
	quarantineCap := remediate.DefaultQuarantineCap
	if v := os.Getenv("QUARANTINE_CAP"); v != "" {
		if quarantineCap, err = strconv.Atoi(v); err != nil || quarantineCap < 0 {
			fail("QUARANTINE_CAP is not a non-negative integer", "value", v)
		}
	}
	alarms := list("SECURITY_ALARMS")
	if len(alarms) == 0 {
		fail("SECURITY_ALARMS is not set")
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
		budget = &remediate.TableBudget{Client: dynamodb.NewFromConfig(cfg), Table: required("BUDGET_TABLE"), Cap: quarantineCap}
	}
	h := &remediate.Quarantine{
		Group:                  required("QUARANTINE_GROUP"),
		DeactivateCertificates: deactivate,
		DeviceThreshold:        threshold,
		Alarms:                 alarms,
		LogGroup:               required("IOT_LOG_GROUP"),
		CertificateARNPrefix:   required("CERTIFICATE_ARN_PREFIX"),
		ClaimCertificates:      list("CLAIM_CERTIFICATE_IDS"),
		ClaimPolicy:            os.Getenv("CLAIM_POLICY"),
		AlertTopic:             required("ALERT_TOPIC_ARN"),
		// Which things it may quarantine, from the registry; the cache lives as long as the
		// execution environment, its answers at most registry.DefaultTTL.
		Scope: remediate.Scope{Fleet: fleet, ThingTypePrefix: required(remediate.EnvThingTypePrefix),
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
