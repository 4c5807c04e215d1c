// Command telemetry is the Kinesis-triggered telemetry processor; the logic lives in package
// pipeline. Environment:
//
//	STATE_TABLE      DynamoDB table for each thing's latest state and dedup window (required)
//	ARCHIVE_BUCKET   S3 bucket for accepted/ and rejected/ (required)
//	FIELD_KEY_ID     KMS key (ARN or alias) for sensitive fields (required)
//	FLEET_FILE       runtime fleet JSON (default: fleet.json in $LAMBDA_TASK_ROOT, else
//	                 beside the binary)
//	MAX_FUTURE_SKEW  how far ts may be ahead of receivedAt, a Go duration (default 5m)
//	MAX_PAST_SKEW    how far ts may be behind receivedAt (default 24h)
//	ARRIVAL_TOLERANCE how far receivedAt may be from the record's stream arrival (default 1m)
//	RULE_PREFIX      prefix of the classes' topic rule names, to check a Basic Ingest topic's
//	                 rule against the record's class (default: the rule must end in _<class>)
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/secure-smart-city/platform/fleetspec"
	"github.com/secure-smart-city/platform/lambdas/telemetry/contract"
	"github.com/secure-smart-city/platform/lambdas/telemetry/pipeline"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if err := run(log); err != nil {
		log.Error("telemetry processor cannot start", "error", err.Error())
		os.Exit(1)
	}
}

func run(log *slog.Logger) error {
	env, err := readEnv(os.Getenv)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(env.fleetFile)
	if err != nil {
		return fmt.Errorf("read fleet: %w", err)
	}
	fleet, err := fleetspec.ParseRuntime(data)
	if err != nil {
		return err
	}
	awsCfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		return fmt.Errorf("load aws config: %w", err)
	}
	db := dynamodb.NewFromConfig(awsCfg)
	objects := s3.NewFromConfig(awsCfg)
	p, err := pipeline.New(pipeline.Config{
		Fleet: fleet, Table: env.table, Bucket: env.bucket, KeyID: env.keyID,
		StateReader: db, StateWriter: db, Objects: objects, Heads: objects,
		DataKeys:      kms.NewFromConfig(awsCfg),
		MaxFutureSkew: env.maxFuture, MaxPastSkew: env.maxPast,
		ArrivalTolerance: env.arrivalTol, RulePrefix: env.rulePrefix,
		Logger: log,
	})
	if err != nil {
		return err
	}
	if env.direct {
		lambda.Start(p.HandleMessage)
	} else {
		lambda.Start(p.Handler)
	}
	return nil
}

type settings struct {
	// direct: a topic rule invokes the function with one message (TELEMETRY_MODE=direct);
	// otherwise a Kinesis event source mapping delivers batches.
	direct                                      bool
	table, bucket, keyID, fleetFile, rulePrefix string
	maxFuture, maxPast, arrivalTol              time.Duration
}

// readEnv reads the settings; durations left unset stay zero, which means the default.
func readEnv(getenv func(string) string) (settings, error) {
	s := settings{table: getenv(contract.EnvStateTable), bucket: getenv(contract.EnvArchiveBucket), keyID: getenv(contract.EnvFieldKeyID), fleetFile: getenv(contract.EnvFleetFile), rulePrefix: getenv(contract.EnvRulePrefix)}
	for name, v := range map[string]string{contract.EnvStateTable: s.table, contract.EnvArchiveBucket: s.bucket, contract.EnvFieldKeyID: s.keyID} {
		if v == "" {
			return s, fmt.Errorf("%s is not set", name)
		}
	}
	switch mode := getenv(contract.EnvMode); mode {
	case "", contract.ModeStream:
	case contract.ModeDirect:
		s.direct = true
	default:
		return s, fmt.Errorf("TELEMETRY_MODE=%q: want stream or direct", mode)
	}
	if s.fleetFile == "" {
		dir := getenv("LAMBDA_TASK_ROOT")
		if dir == "" {
			exe, err := os.Executable()
			if err != nil {
				return s, fmt.Errorf("locate fleet.json: %w", err)
			}
			dir = filepath.Dir(exe)
		}
		s.fleetFile = filepath.Join(dir, contract.FleetFile)
	}
	for name, dst := range map[string]*time.Duration{contract.EnvMaxFutureSkew: &s.maxFuture, contract.EnvMaxPastSkew: &s.maxPast, contract.EnvArrivalTolerance: &s.arrivalTol} {
		v := getenv(name)
		if v == "" {
			continue
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return s, fmt.Errorf("%s=%q is not a positive duration", name, v)
		}
		*dst = d
	}
	return s, nil
}
