// Command provisioninghook is the Lambda behind the fleet-provisioning template's
// pre-provisioning hook; the decision logic lives in package hook.
package main

import (
	"context"
	"log/slog"
	"os"
	"strconv"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/iot"

	"github.com/secure-smart-city/platform/lambdas/provisioninghook/contract"
	"github.com/secure-smart-city/platform/lambdas/provisioninghook/hook"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	table := os.Getenv(contract.EnvAllowlistTable)
	if table == "" {
		log.Error(contract.EnvAllowlistTable + " is not set")
		os.Exit(1)
	}
	// Unset means false; a value that is not a boolean stops the function rather than
	// guessing which way a typo was meant.
	unbound := false
	if v := os.Getenv(contract.EnvAllowUnboundClaims); v != "" {
		var err error
		if unbound, err = strconv.ParseBool(v); err != nil {
			log.Error(contract.EnvAllowUnboundClaims+" is not true or false", "value", v)
			os.Exit(1)
		}
	}
	if unbound {
		log.Warn("trial setting: allowlist entries without a key fingerprint are admitted without device-unique proof")
	}
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		log.Error("load aws config", "error", err)
		os.Exit(1)
	}
	db := dynamodb.NewFromConfig(cfg)
	registry := iot.NewFromConfig(cfg)
	lambda.Start(hook.New(table, db, db, log, hook.WithRegistry(registry, registry), hook.WithUnboundClaims(unbound)).Handle)
}
