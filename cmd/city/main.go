// Command city runs the smart-city platform on one machine (`make city`): a local PKI,
// mosquitto with mutual TLS and the ACL from the device policies, the topic rules and stream
// played by a bridge into the real telemetry processor (dynalite, s3rver), the real command
// handler behind a local HTTPS API, simulated devices across the fleet's districts and
// classes, and the web Control Center. Everything listens on 127.0.0.1 only; Ctrl-C stops it.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/secure-smart-city/platform/cmd/city/control"
	"github.com/secure-smart-city/platform/cmd/city/local"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "city:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("city", flag.ContinueOnError)
	fs.SetOutput(stderr)
	devices := fs.Int("devices", 24, "number of simulated devices, spread over the fleet's classes and districts")
	rate := fs.Float64("rate", 0.2, "telemetry messages per second per device")
	addr := fs.String("addr", "127.0.0.1:8443", "Control Center listen address (loopback only)")
	fleetFile := fs.String("fleet", "", "fleet file (default config/fleet.dev.json)")
	stage := fs.String("stage", "dev", "stage, for the topic rule prefix")
	stateDir := fs.String("state", "", "state directory for the local PKI and run files (default .city at the repository root)")
	operators := fs.String("operators", "", `operators file {"operators":[{"name","passwordHash" (bcrypt),"role" (operator|viewer),"districts"}]} (default: one operator "operator" with a password generated and printed at start)`)
	quarantine := fs.String("quarantine", "", "comma-separated things to put in the quarantine group at start")
	verbose := fs.Bool("v", false, "log the components' activity to stderr")
	hashPassword := fs.Bool("hash-password", false, "read a password on stdin, print its bcrypt hash for an operators file, and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *hashPassword {
		pw, err := io.ReadAll(io.LimitReader(os.Stdin, 1024))
		if err != nil {
			return err
		}
		h, err := control.HashPassword(strings.TrimRight(string(pw), "\r\n"))
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, h)
		return nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	root, err := local.ModuleRoot(wd)
	if err != nil {
		return err
	}
	cfg := local.Config{
		Root: root, FleetFile: *fleetFile, Stage: *stage, StateDir: *stateDir, Devices: *devices, Rate: *rate,
		Addr: *addr, Progress: stdout,
	}
	if *quarantine != "" {
		cfg.Quarantine = strings.Split(*quarantine, ",")
	}
	if *verbose {
		cfg.Logger = slog.New(slog.NewTextHandler(stderr, nil))
	}
	var password string
	if *operators != "" {
		if cfg.Operators, err = control.LoadOperators(*operators); err != nil {
			return err
		}
	} else {
		op, pw, err := control.GenerateOperator("operator", control.RoleOperator)
		if err != nil {
			return err
		}
		cfg.Operators, password = []control.Operator{op}, pw
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Fprintf(stdout, "starting the local city (state in %s)\n", displayDir(root, cfg.StateDir))
	c, err := local.Start(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nControl Center: %s\n", c.URL)
	if password != "" {
		fmt.Fprintf(stdout, "sign in as %q with password %s (generated for this run)\n", "operator", password)
	}
	fmt.Fprintf(stdout, "the certificate is from the local CA %s: trust it in your browser, or accept the warning once\n", c.PKI.CAFile)
	fmt.Fprintln(stdout, "press Ctrl-C to stop")
	<-ctx.Done()
	fmt.Fprintln(stdout, "\nstopping...")
	c.Close()
	fmt.Fprintln(stdout, "stopped")
	return nil
}

func displayDir(root, dir string) string {
	if dir == "" {
		return filepath.Join(root, ".city")
	}
	return dir
}
