// Command cost prices the synthesized platform for a fleet: it reads what the templates in
// cdk.out/ deploy and the telemetry processor's measured store operations
// (bench/telemetry.json), prints a monthly cost table for the platform and for the
// per-message pattern, computed by the same code, and ends with "ratio <platform/per-message>".
//
//	go run ./cmd/cost -devices 100000 -rate 1/min -bytes 1024 -stage prod
//
// With -plot it also writes cost against fleet size (1k to 1M devices) for both paths; with
// -readme it rewrites the README's generated cost section. `make bench` runs it with
// -update-figures to rewrite the figures file from benchmark output on stdin.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/secure-smart-city/platform/cmd/cost/estimate"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "cost:", err)
		os.Exit(1)
	}
}

var ratePattern = regexp.MustCompile(`^([0-9]*\.?[0-9]+)/(s|sec|min|h|hour|day)$`)

// parseRate reads "<n>/<unit>" as messages per minute.
func parseRate(s string) (float64, error) {
	m := ratePattern.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("-rate %q: want <number>/<s|min|h|day>, e.g. 1/min", s)
	}
	n, err := strconv.ParseFloat(m[1], 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("-rate %q: want a positive number", s)
	}
	switch m[2] {
	case "s", "sec":
		return n * 60, nil
	case "h", "hour":
		return n / 60, nil
	case "day":
		return n / 1440, nil
	}
	return n, nil
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cost", flag.ContinueOnError)
	fs.SetOutput(stderr)
	devices := fs.Float64("devices", 100000, "devices in the fleet")
	rate := fs.String("rate", "1/min", "messages per device: <n>/<s|min|h|day>")
	bytes := fs.Float64("bytes", 1024, "message payload bytes")
	stage := fs.String("stage", "prod", "stage whose templates to read (SmartCity-<stage>-*)")
	dir := fs.String("cdk-out", "cdk.out", "cloud assembly directory")
	region := fs.String("region", "", "price list region (default: the templates' region, else us-east-1)")
	figuresPath := fs.String("figures", "bench/telemetry.json", "the processor's per-message store operations")
	apiRequests := fs.Float64("api-requests", 0, "command API requests per month")
	plotPath := fs.String("plot", "", "write cost against fleet size (1k to 1M devices) to this .svg or .png")
	readme := fs.String("readme", "", "rewrite this README's generated cost section")
	updateFigures := fs.String("update-figures", "", "rewrite this figures file from `go test -bench` output on stdin, then exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *updateFigures != "" {
		return rewriteFigures(*updateFigures, stdin, stdout)
	}
	perMinute, err := parseRate(*rate)
	if err != nil {
		return err
	}
	fig, err := estimate.LoadFigures(*figuresPath)
	if err != nil {
		return err
	}
	templates, err := estimate.ReadDir(*dir, *stage)
	if err != nil {
		return err
	}
	inv, err := estimate.Read(templates)
	if err != nil {
		return err
	}
	reg := *region
	if reg == "" {
		reg = inv.Region
	}
	if reg == "" {
		reg = "us-east-1" // environment-agnostic templates carry no region
	}
	prices, err := estimate.Prices(reg)
	if err != nil {
		return err
	}
	p := estimate.Params{Devices: *devices, PerMinute: perMinute, Bytes: *bytes, APIRequests: *apiRequests}
	res, err := estimate.Estimate(inv, fig, prices, p)
	if err != nil {
		return err
	}
	for _, w := range res.Warnings {
		fmt.Fprintln(stderr, "cost: warning:", w)
	}
	if *plotPath != "" {
		curve, err := estimate.Sweep(inv, fig, prices, p)
		if err != nil {
			return err
		}
		for _, w := range curve.Warnings {
			fmt.Fprintln(stderr, "cost: plot: warning:", w)
		}
		title := fmt.Sprintf("Monthly cost, %s, %g B messages at %s, %s list prices", *stage, *bytes, *rate, reg)
		if err := curve.Plot(*plotPath, title); err != nil {
			return err
		}
	}
	if *readme != "" {
		if err := rewriteReadme(*readme, res, prices, *plotPath); err != nil {
			return err
		}
	}
	return estimate.WriteTable(stdout, res)
}

func rewriteReadme(path string, res estimate.Result, prices estimate.PriceTable, plotPath string) error {
	if plotPath == "" {
		return errors.New("-readme needs -plot (the section shows the plot)")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out, err := estimate.ReplaceSection(string(data), estimate.Markdown(res, prices, strings.TrimPrefix(plotPath, "./")))
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.WriteFile(path, []byte(out), 0o644)
}

func rewriteFigures(path string, stdin io.Reader, stdout io.Writer) error {
	fig, err := estimate.LoadFigures(path)
	if err != nil {
		return err
	}
	if err := fig.UpdateFromBench(stdin); err != nil {
		return err
	}
	data, err := fig.Marshal()
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %.0f ns/msg, %.3g KMS requests per 10k messages, %.3g S3 PUTs per batch, %.3g DynamoDB writes and %.3g reads per message\n",
		path, fig.NsPerMessage, fig.KMSRequestsPer10k, fig.S3PutsPerBatch, fig.WritesPerMessage(), fig.ReadsPerMessage())
	return nil
}
