// Command provisioninghook is the Lambda behind the fleet-provisioning template's
// pre-provisioning hook; the decision logic lives in package hook.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/secure-smart-city/platform/lambdas/provisioninghook/hook"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	table := os.Getenv("ALLOWLIST_TABLE")
	if table == "" {
		log.Error("ALLOWLIST_TABLE is not set")
		os.Exit(1)
	}
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		log.Error("load aws config", "error", err)
		os.Exit(1)
	}
	db := dynamodb.NewFromConfig(cfg)
	lambda.Start(hook.New(table, db, db, log).Handle)
}
