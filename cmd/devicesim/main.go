// Command devicesim simulates one device of the smart-city fleet against an MQTT endpoint (AWS IoT
// Core, or mosquitto in tests): it connects over mutual TLS as its thing, publishes its class's
// telemetry to its Basic Ingest topic and applies operator commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/secure-smart-city/platform/cmd/devicesim/sim"
	"github.com/secure-smart-city/platform/fleetspec"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "devicesim:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("devicesim", flag.ContinueOnError)
	var (
		endpoint   = fs.String("endpoint", "", "MQTT endpoint host (required); for AWS IoT the domain name of the Fleet stack's domain configuration <fleet>_<stage>_devices: aws iot describe-domain-configuration --domain-configuration-name smartcity_dev_devices --query domainName --output text")
		port       = fs.Int("port", 0, "TLS port (default 8883, or 443 with --alpn)")
		alpn       = fs.Bool("alpn", false, "offer ALPN x-amzn-mqtt-ca, for MQTT over port 443")
		certFile   = fs.String("cert", "", "device certificate, PEM (required)")
		keyFile    = fs.String("key", "", "device private key, PEM (required)")
		caFile     = fs.String("ca", "", "the endpoint's CA certificate, PEM, the only trusted root (required; Amazon Root CA 1 for AWS IoT)")
		thing      = fs.String("thing", "", "thing name, also the MQTT client id (required)")
		class      = fs.String("class", "", "device class id, the thing's registered thing type without the rule prefix (default: the thing's class in the fleet file; required for a thing not in it)")
		district   = fs.String("district", "", "district id, the thing's registered district attribute (default: the thing's district in the fleet file; required for a thing not in it)")
		rulePrefix = fs.String("rule-prefix", "", "topic rule prefix <fleet>_<stage>, e.g. smartcity_dev (default: the fleet's name and --stage)")
		stage      = fs.String("stage", "dev", "stage whose topic rules receive the telemetry, when --rule-prefix is not given")
		fleetFile  = fs.String("fleet", "config/fleet.dev.json", "fleet file to read the device class from")
		rate       = fs.Float64("rate", sim.DefaultRate, "telemetry messages per second")
		count      = fs.Int("count", 0, "telemetry messages to send, 0 = until interrupted")
		timeout    = fs.Duration("timeout", sim.DefaultTimeout, "bound on connecting and on each acknowledgement")
		noDelta    = fs.Bool("no-shadow-delta", false, "do not subscribe to the shadow's delta topic")
		verbose    = fs.Bool("v", false, "log every telemetry message")
		// OTA (sim/jobs.go): firmware updates over AWS IoT Jobs, off unless a certificate is pinned.
		otaCert  = fs.String("ota-cert", "", "pinned code-signing certificate, PEM: take firmware updates over AWS IoT Jobs and apply only images it signed")
		firmware = fs.String("firmware-version", "1.0.0", "firmware version the device runs (with --ota-cert); lower or equal releases are refused")
	)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	if *thing == "" {
		return errors.New("--thing is required")
	}
	fleet, err := fleetspec.Load(*fleetFile)
	if err != nil {
		return fmt.Errorf("fleet file %s: %w", *fleetFile, err)
	}
	dc, dist, err := identityOf(fleet, *thing, *class, *district)
	if err != nil {
		return err
	}
	if *rulePrefix == "" {
		if err := fleetspec.ValidateStage(*stage); err != nil {
			return err
		}
		*rulePrefix = fleet.RulePrefix(*stage)
	}
	var jobs *sim.Jobs // OTA hook
	if *otaCert != "" {
		if jobs, err = sim.NewJobs(sim.JobsConfig{Thing: *thing, Class: dc.ID, FirmwareVersion: *firmware,
			CodeSigningCertFile: *otaCert, Logger: logger}); err != nil {
			return err
		}
	}
	d, err := sim.New(sim.Config{
		Endpoint: *endpoint, Port: *port, ALPN: *alpn,
		CertFile: *certFile, KeyFile: *keyFile, CAFile: *caFile,
		Thing: *thing, Class: dc, District: dist, RulePrefix: *rulePrefix,
		Rate: *rate, Count: *count, Timeout: *timeout,
		SkipShadowDelta: *noDelta, Logger: logger, Jobs: jobs,
	})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := d.Connect(ctx); err != nil {
		return err
	}
	return d.Run(ctx)
}

// identityOf returns the device class and district the simulated thing publishes as. A thing
// declared in the fleet file takes its class and district from there, and a flag that
// contradicts them is an error (its registry entry says otherwise, so its policy would refuse
// the telemetry). Any other thing, one provisioned at run time, needs both flags. Either way
// the class and district must be the fleet file's.
func identityOf(fleet *fleetspec.Fleet, thing, classID, district string) (fleetspec.DeviceClass, string, error) {
	if t, ok := fleet.Thing(thing); ok {
		if classID != "" && classID != t.Class {
			return fleetspec.DeviceClass{}, "", fmt.Errorf("thing %q is declared in fleet file %s with class %q; --class %q contradicts it", thing, fleet.Path, t.Class, classID)
		}
		if district != "" && district != t.District {
			return fleetspec.DeviceClass{}, "", fmt.Errorf("thing %q is declared in fleet file %s in district %q; --district %q contradicts it", thing, fleet.Path, t.District, district)
		}
		classID, district = t.Class, t.District
	} else if classID == "" || district == "" {
		return fleetspec.DeviceClass{}, "", fmt.Errorf("thing %q is not declared in fleet file %s; pass --class and --district as it is registered (its thing type and district attribute)", thing, fleet.Path)
	}
	dc, ok := fleet.Class(classID)
	if !ok {
		return fleetspec.DeviceClass{}, "", fmt.Errorf("device class %q is not in fleet file %s", classID, fleet.Path)
	}
	if _, ok := fleet.District(district); !ok {
		return fleetspec.DeviceClass{}, "", fmt.Errorf("district %q is not in fleet file %s", district, fleet.Path)
	}
	return dc, district, nil
}
