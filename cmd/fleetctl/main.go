// Command fleetctl is the operator's tool for the fleet's run-time inventory. Today it has one
// command, `fleetctl allowlist import`, which loads a manufacturer's device CSV into the fleet
// provisioning allowlist (see README.md).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/secure-smart-city/platform/cmd/fleetctl/inventory"
	"github.com/secure-smart-city/platform/fleetspec"
)

const usage = `usage: fleetctl allowlist import [flags] devices.csv

Loads a device inventory (CSV with the header row serial,thingName,class,district,keyFingerprint)
into the fleet provisioning allowlist table. Every line is checked against the fleet file first;
nothing is written if any line is bad or conflicts with the table. Re-running is safe: entries
already present are left untouched.

flags:
`

// errUsage marks a command-line mistake (exit status 2).
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, errUsage):
		os.Exit(2)
	default:
		os.Exit(1)
	}
}

// run executes one command. It prints every problem itself (one per line on stderr) and
// returns a non-nil error exactly when the exit status must be non-zero.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) < 2 || args[0] != "allowlist" || args[1] != "import" {
		fs, _ := importFlags(stderr)
		fs.Usage()
		return errUsage
	}
	fs, opt := importFlags(stderr)
	file, err := parseInterspersed(fs, args[2:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		fmt.Fprintln(stderr, "fleetctl:", err)
		return errUsage
	}
	return importCmd(ctx, file, *opt, stdout, stderr)
}

type importOptions struct {
	dryRun                    bool
	table, outputs, fleetFile string
	endpoint, region          string
	workers                   int
	timeout                   time.Duration
}

func importFlags(stderr io.Writer) (*flag.FlagSet, *importOptions) {
	o := &importOptions{}
	fs := flag.NewFlagSet("fleetctl allowlist import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	fs.BoolVar(&o.dryRun, "dry-run", false, "validate, and with a table also compare with it; write nothing")
	fs.StringVar(&o.table, "table", "", "allowlist table name (default: from --outputs)")
	fs.StringVar(&o.outputs, "outputs", "", "stack outputs `file` (JSON from cdk deploy --outputs-file, or aws cloudformation describe-stacks) to find the table name in")
	fs.StringVar(&o.fleetFile, "fleet", "config/fleet.dev.json", "fleet file the lines are checked against")
	fs.StringVar(&o.endpoint, "endpoint", "", "DynamoDB endpoint URL, for an emulator (e.g. http://127.0.0.1:8000); uses static dummy credentials")
	fs.StringVar(&o.region, "region", "", "AWS region (default: from the AWS configuration; us-east-1 with --endpoint)")
	fs.IntVar(&o.workers, "workers", inventory.DefaultWorkers, "concurrent DynamoDB calls")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Minute, "bound on the whole import")
	return fs, o
}

// parseInterspersed accepts flags before and after the one file argument.
func parseInterspersed(fs *flag.FlagSet, args []string) (string, error) {
	var files []string
	for {
		if err := fs.Parse(args); err != nil {
			return "", err
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(files) != 1 {
		return "", fmt.Errorf("want exactly one CSV file, got %d (%q)", len(files), files)
	}
	return files[0], nil
}

func importCmd(ctx context.Context, file string, o importOptions, stdout, stderr io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	fail := func(format string, args ...any) error {
		err := fmt.Errorf(format, args...)
		fmt.Fprintln(stderr, "fleetctl:", err)
		return err
	}
	if o.workers < 1 || o.workers > 256 {
		fmt.Fprintf(stderr, "fleetctl: --workers %d: want 1..256\n", o.workers)
		return errUsage
	}
	if o.table != "" && o.outputs != "" {
		fmt.Fprintln(stderr, "fleetctl: give --table or --outputs, not both")
		return errUsage
	}
	fleet, err := fleetspec.Load(o.fleetFile)
	if err != nil {
		return fail("fleet file %s: %w", o.fleetFile, err)
	}
	f, err := os.Open(file)
	if err != nil {
		return fail("%w", err)
	}
	defer func() { _ = f.Close() }()
	start := time.Now()
	rows, err := inventory.Parse(f, file, fleet)
	if err != nil {
		return report(stderr, err, "nothing written")
	}
	fmt.Fprintf(stderr, "fleetctl: %s: %d devices valid against %s\n", file, len(rows), o.fleetFile)

	table := o.table
	if o.outputs != "" {
		if table, err = tableFromOutputs(o.outputs); err != nil {
			return fail("%w", err)
		}
	}
	if table == "" {
		if o.dryRun {
			fmt.Fprintf(stdout, "dry run: would insert up to %d entries (no --table: the table was not read, so entries already present are not counted)\n", len(rows))
			return nil
		}
		fmt.Fprintln(stderr, "fleetctl: --table or --outputs is required to write (the Foundation stack's ProvisioningAllowlist table; see cmd/fleetctl/README.md)")
		return errUsage
	}

	db, err := client(ctx, o)
	if err != nil {
		return fail("%w", err)
	}
	res, err := inventory.Load(ctx, inventory.Config{
		DB: db, Table: table, File: file, DryRun: o.dryRun, Workers: o.workers,
		Progress: prefixed{w: stderr, prefix: "fleetctl: "},
	}, rows)
	if res.Checked {
		summary(stdout, table, o.dryRun, res, time.Since(start))
	}
	if err != nil {
		what := "nothing written"
		if res.Inserted > 0 && !o.dryRun {
			what = fmt.Sprintf("%d entries were written before this; re-running is safe", res.Inserted)
		}
		return report(stderr, err, what)
	}
	return nil
}

// report prints an error one problem per line, with a closing count.
func report(stderr io.Writer, err error, what string) error {
	var probs inventory.Problems
	if !errors.As(err, &probs) {
		fmt.Fprintf(stderr, "fleetctl: %v; %s\n", err, what)
		return err
	}
	for _, p := range probs {
		fmt.Fprintln(stderr, "fleetctl:", p)
	}
	noun := "problems"
	if len(probs) == 1 {
		noun = "problem"
	}
	fmt.Fprintf(stderr, "fleetctl: %d %s; %s\n", len(probs), noun, what)
	return err
}

func summary(w io.Writer, table string, dryRun bool, r inventory.Result, took time.Duration) {
	verb := "inserted"
	if dryRun {
		verb = "dry run: would insert"
	}
	fmt.Fprintf(w, "%s %d, already present %d (%d provisioned), conflicts %d; %d rows, table %s held %d entries; %s\n",
		verb, r.Inserted, r.Present, r.PresentProvisioned, len(r.Conflicts), r.Rows, table, r.Existing, took.Round(time.Millisecond))
}

// client builds the DynamoDB client: the default AWS configuration, or an emulator endpoint
// with static dummy credentials so a test never reads (or needs) real ones.
func client(ctx context.Context, o importOptions) (*dynamodb.Client, error) {
	var opts []func(*config.LoadOptions) error
	if o.region != "" {
		opts = append(opts, config.WithRegion(o.region))
	}
	if o.endpoint != "" {
		if o.region == "" {
			opts = append(opts, config.WithRegion("us-east-1"))
		}
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("fleetctl", "emulator", "")))
	}
	// Throttling is retried by the SDK; a large import against a cold on-demand table can meet
	// more of it than the default three attempts absorb.
	opts = append(opts, config.WithRetryMaxAttempts(10))
	// One kept-alive connection per worker: the SDK's default keeps 10 idle per host, so more
	// workers than that would open a new TLS connection for many calls.
	opts = append(opts, config.WithHTTPClient(awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		tr.MaxIdleConnsPerHost = o.workers
	})))
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("aws configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, errors.New("no AWS region: set AWS_REGION or pass --region")
	}
	return dynamodb.NewFromConfig(cfg, func(do *dynamodb.Options) {
		if o.endpoint != "" {
			do.BaseEndpoint = aws.String(o.endpoint)
		}
	}), nil
}

// allowlistOutputPrefix begins the name of the output by which the Foundation stack publishes
// the ProvisioningAllowlist table's name to the stacks that reference it (a CDK weak
// reference: "PublishOutputRef" + the table's logical id + a hash). The logical id never
// changes (the table is stateful); TestAllowlistOutputInFoundationTemplate checks the prefix
// against the synthesized template.
const allowlistOutputPrefix = "PublishOutputRefProvisioningAllowlist"

// tableFromOutputs finds the allowlist table's name in stack outputs, as `cdk deploy
// --outputs-file` writes them ({"<stack>": {"<key>": "<value>"}}) or as `aws cloudformation
// describe-stacks --query 'Stacks[].Outputs[]'` prints them ([{"OutputKey", "OutputValue"}]).
func tableFromOutputs(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("stack outputs: %w", err)
	}
	found := map[string]string{} // where -> table
	var byStack map[string]map[string]string
	var list []struct{ OutputKey, OutputValue string }
	switch {
	case json.Unmarshal(data, &byStack) == nil:
		for stack, outs := range byStack {
			for k, v := range outs {
				if strings.HasPrefix(k, allowlistOutputPrefix) {
					found[stack+"."+k] = v
				}
			}
		}
	case json.Unmarshal(data, &list) == nil:
		for _, o := range list {
			if strings.HasPrefix(o.OutputKey, allowlistOutputPrefix) {
				found[o.OutputKey] = o.OutputValue
			}
		}
	default:
		return "", fmt.Errorf("stack outputs %s: neither `cdk deploy --outputs-file` nor describe-stacks Outputs JSON", path)
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("stack outputs %s: no output %s* (the Foundation stack's allowlist table); pass --table", path, allowlistOutputPrefix)
	case 1:
		for _, v := range found {
			return v, nil
		}
	}
	keys := make([]string, 0, len(found))
	for k, v := range found {
		keys = append(keys, k+"="+v)
	}
	sort.Strings(keys)
	return "", fmt.Errorf("stack outputs %s: several allowlist tables (%s); pass --table", path, strings.Join(keys, ", "))
}

// prefixed writes each line with a prefix, so progress reads like the tool's other messages.
type prefixed struct {
	w      io.Writer
	prefix string
}

func (p prefixed) Write(b []byte) (int, error) {
	if _, err := io.WriteString(p.w, p.prefix+string(b)); err != nil {
		return 0, err
	}
	return len(b), nil
}
