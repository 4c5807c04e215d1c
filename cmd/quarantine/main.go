// Command quarantine is the runbook for the quarantine group: it lists the things the platform
// quarantined (with their certificates' statuses) and releases them once an operator has
// looked. See the README's "Quarantine" section.
//
//	quarantine list    -fleet config/fleet.prod.json -stage prod
//	quarantine release -fleet config/fleet.prod.json -stage prod [-reactivate] THING...
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

	"github.com/secure-smart-city/platform/cmd/quarantine/runbook"
	"github.com/secure-smart-city/platform/fleetspec"
)

const usage = `usage: quarantine list|release [flags] [THING...]

list     prints the things in the stage's quarantine group and their certificates' statuses
release  removes the named things from the group (all names are checked first); with
         -reactivate also sets their INACTIVE certificates ACTIVE again

flags:
`

var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, func(ctx context.Context) (*iot.Client, error) {
		cfg, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			return nil, err
		}
		return iot.NewFromConfig(cfg), nil
	})
	stop()
	switch {
	case err == nil:
	case errors.Is(err, errUsage):
		os.Exit(2)
	default:
		os.Exit(1)
	}
}

// client is the iot.Client as the runbook uses it.
type client interface {
	runbook.GroupLister
	runbook.GroupRemover
	runbook.PrincipalLister
	runbook.CertificateDescriber
	runbook.CertificateUpdater
}

func run[C client](ctx context.Context, args []string, stdout, stderr io.Writer, connect func(context.Context) (C, error)) error {
	if len(args) < 1 || (args[0] != "list" && args[0] != "release") {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	cmd := args[0]
	fs := flag.NewFlagSet("quarantine "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fleetFile := fs.String("fleet", "", "the stage's fleet file (names the group <fleet>_<stage>_quarantine)")
	stage := fs.String("stage", "", "the stage: dev or prod")
	group := fs.String("group", "", "the quarantine group's name, instead of -fleet and -stage")
	reactivate := fs.Bool("reactivate", false, "release: also reactivate the things' INACTIVE certificates")
	if err := fs.Parse(args[1:]); err != nil {
		return errUsage
	}
	name := *group
	if name == "" {
		if *fleetFile == "" || *stage == "" {
			fmt.Fprintln(stderr, "quarantine: give -group, or -fleet and -stage")
			return errUsage
		}
		f, err := fleetspec.Load(*fleetFile)
		if err != nil {
			fmt.Fprintln(stderr, "quarantine:", err)
			return err
		}
		name = runbook.GroupName(f.RulePrefix(*stage))
	}
	if cmd == "list" && fs.NArg() > 0 {
		fmt.Fprintln(stderr, "quarantine list takes no arguments")
		return errUsage
	}
	c, err := connect(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "quarantine: aws config:", err)
		return err
	}
	r := &runbook.Runbook{Group: name, Members: c, Remover: c, Principals: c, Describe: c, Certificates: c}
	if cmd == "list" {
		entries, err := r.List(ctx)
		if err != nil {
			fmt.Fprintln(stderr, "quarantine:", err)
			return err
		}
		runbook.Print(stdout, name, entries)
		return nil
	}
	if err := r.Release(ctx, stdout, fs.Args(), *reactivate); err != nil {
		fmt.Fprintln(stderr, "quarantine:", err)
		return err
	}
	return nil
}
