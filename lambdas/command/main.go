// Command command is the command processor Lambda behind the operators' HTTPS API: it reads
// the environment, builds the AWS clients and serves api.Handler.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/aws/aws-sdk-go-v2/service/iotdataplane"

	"github.com/secure-smart-city/platform/internal/registry"
	"github.com/secure-smart-city/platform/lambdas/command/api"
)

func main() {
	logger := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	slog.SetDefault(logger)
	h, err := setup(context.Background(), logger)
	if err != nil {
		// Failing the init phase makes Lambda report it and retry on the next invocation.
		logger.Error("cold start failed", "error", err)
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}

func setup(ctx context.Context, logger *slog.Logger) (*api.Handler, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	env, err := api.ReadEnv(os.LookupEnv, exe)
	if err != nil {
		return nil, err
	}
	fleet, err := api.LoadFleet(env.FleetFile)
	if err != nil {
		return nil, err
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, err
	}
	control := iot.NewFromConfig(cfg)
	endpoint, err := api.DataEndpoint(ctx, env.DataEndpoint, control)
	if err != nil {
		return nil, err
	}
	data := iotdataplane.NewFromConfig(cfg, func(o *iotdataplane.Options) {
		o.BaseEndpoint = aws.String("https://" + endpoint)
	})
	db := dynamodb.NewFromConfig(cfg)
	logger.Info("cold start", "classes", len(fleet.Classes), "thingTypePrefix", env.ThingTypePrefix, "dataEndpoint", endpoint)
	return &api.Handler{
		Fleet:           fleet,
		ThingTypePrefix: env.ThingTypePrefix,
		// The cache lives as long as the execution environment: registry.DefaultTTL bounds
		// how stale an answer can be, registry.DefaultMaxEntries its memory.
		Things:     registry.NewCache(control, registry.Options{}),
		StateTable: env.StateTable,
		AuditTable: env.AuditTable,
		State:      db,
		Audit:      db,
		AuditReads: db,
		Publisher:  data,
		Shadow:     data,
		Logger:     logger,
	}, nil
}
