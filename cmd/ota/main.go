// Command ota releases firmware to a device class over the air, and watches and cancels the
// rollouts:
//
//	go run ./cmd/ota release -class street_light -version 1.4.0 -file fw.bin [-district old_town] -bucket <FirmwareBucketName>
//	go run ./cmd/ota status -job <job id>
//	go run ./cmd/ota cancel -job <job id> [-force]
//
// A release is checked before anything is uploaded (class and district of the fleet file,
// semantic version, the class's maxFirmwareBytes), then uploaded, signed with the stage's AWS
// Signer profile (the command waits and shows progress) and started as an AWS IoT job from the
// class's job template, with its own document. Credentials and region come from the usual AWS
// SDK sources (AWS_PROFILE, AWS_REGION, ...).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/signer"

	"github.com/secure-smart-city/platform/cmd/ota/release"
	"github.com/secure-smart-city/platform/fleetspec"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "ota:", err)
		os.Exit(1)
	}
}

const usage = `usage:
  ota release -class <id> -version <semver> -file <image> [-district <id>] -bucket <firmware bucket> [-fleet F] [-stage S]
  ota status  -job <job id>
  ota cancel  -job <job id> [-force] [-comment text]`

func run(ctx context.Context, args []string, out, errOut io.Writer) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	fs := flag.NewFlagSet("ota "+args[0], flag.ContinueOnError)
	fs.SetOutput(errOut)
	var (
		class     = fs.String("class", "", "device class id (release)")
		version   = fs.String("version", "", "semantic version of the image, above what devices run (release)")
		file      = fs.String("file", "", "firmware image (release)")
		district  = fs.String("district", "", "release only to the class's devices in this district (release)")
		bucket    = fs.String("bucket", "", "firmware bucket, the Foundation stack output FirmwareBucketName (release)")
		fleetFile = fs.String("fleet", "", "fleet file (default config/fleet.<stage>.json)")
		stage     = fs.String("stage", "dev", "stage")
		profile   = fs.String("profile", "", "signing profile (default <fleet>_<stage>_firmware)")
		job       = fs.String("job", "", "job id (status, cancel)")
		force     = fs.Bool("force", false, "also cancel executions in progress (cancel)")
		comment   = fs.String("comment", "", "why (cancel)")
	)
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	switch args[0] {
	case "release":
		if err := fleetspec.ValidateStage(*stage); err != nil {
			return err
		}
		if *fleetFile == "" {
			*fleetFile = "config/fleet." + *stage + ".json"
		}
		fleet, err := fleetspec.Load(*fleetFile)
		if err != nil {
			return fmt.Errorf("fleet file %s: %w", *fleetFile, err)
		}
		env := &release.Env{Fleet: fleet, Prefix: fleet.RulePrefix(*stage), Bucket: *bucket, Profile: *profile, Out: out}
		req := release.Request{Class: *class, Version: *version, File: *file, District: *district}
		// Bad input is refused before any AWS client is even configured.
		if _, _, err := env.Check(req); err != nil {
			return err
		}
		if *bucket == "" {
			return errors.New("-bucket is required (the Foundation stack output FirmwareBucketName)")
		}
		cfg, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			return err
		}
		env.Region = cfg.Region
		s3c, sc, ic := s3.NewFromConfig(cfg), signer.NewFromConfig(cfg), iot.NewFromConfig(cfg)
		_, err = env.Release(ctx, release.Clients{
			PutObject: s3c, HeadObject: s3c, StartSigningJob: sc, DescribeSigningJob: sc,
			ListJobTemplates: ic, DescribeJobTemplate: ic, CreateDynamicThingGroup: ic, DescribeThingGroup: ic,
			CreateJob: ic, DescribeJob: ic, CancelJob: ic,
		}, req)
		return err
	case "status", "cancel":
		if *job == "" {
			return errors.New("-job is required")
		}
		cfg, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			return err
		}
		ic := iot.NewFromConfig(cfg)
		if args[0] == "status" {
			return release.Status(ctx, ic, out, *job)
		}
		return release.Cancel(ctx, ic, out, *job, *comment, *force)
	default:
		return fmt.Errorf("unknown subcommand %q\n%s", args[0], usage)
	}
}
