// Package local runs the smart-city platform on one machine, on 127.0.0.1 only: a local PKI,
// mosquitto with mutual TLS and the ACL derived from the device policies, a bridge playing the
// topic rules and the stream into the real telemetry processor (dynalite and s3rver as its
// stores), the real command handler behind a local HTTPS API, simulated devices and the web
// Control Center.
package local

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/secure-smart-city/platform/internal/fakekms"

	"github.com/secure-smart-city/platform/cmd/city/control"
	"github.com/secure-smart-city/platform/cmd/devicesim/sim"
	"github.com/secure-smart-city/platform/fleetspec"
	"github.com/secure-smart-city/platform/internal/registry"
	"github.com/secure-smart-city/platform/lambdas/command/api"
	"github.com/secure-smart-city/platform/lambdas/telemetry/pipeline"
)

// localKeyID is the key id the local KMS reports in envelopes.
const localKeyID = "local:kms/telemetry-fields"

// Config configures a city.
type Config struct {
	// Root is the module root: node_modules (dynalite, s3rver) is found there. Required.
	Root string
	// FleetFile is the fleet. Default: config/fleet.dev.json under Root.
	FleetFile string
	// Stage names the rule prefix (<fleet>_<stage>). Default: "dev".
	Stage string
	// StateDir holds the PKI (reused across runs) and the run's files. Default: .city under
	// Root, which .gitignore excludes.
	StateDir string
	// Devices is the number of simulated devices. Default: 24.
	Devices int
	// Rate is each device's telemetry messages per second. Default: 0.2.
	Rate float64
	// Idle are extra things registered (certificate, ACL, registry) but not simulated, for
	// tests that play a device themselves.
	Idle []Thing
	// Quarantine names things put in the quarantine group at start.
	Quarantine []string
	// Addr is the Control Center's listen address. Default: 127.0.0.1:8443; ":0" ports pick
	// a free one. Only loopback addresses are accepted.
	Addr string
	// Operators may sign in to the Control Center. Required.
	Operators []control.Operator
	// Progress receives one line per start step. Default: discarded.
	Progress io.Writer
	// Logger receives the components' logs. Default: discarded.
	Logger *slog.Logger
}

// City is a running local city.
type City struct {
	// URL is the Control Center's page.
	URL string
	// CommandURL is the command API (mutual TLS with a certificate of PKI).
	CommandURL string
	// BrokerHost and BrokerPort are mosquitto's mutual-TLS listener.
	BrokerHost string
	BrokerPort int
	// Prefix is the topic rule prefix.
	Prefix   string
	PKI      *PKI
	Registry *Registry
	Fleet    *fleetspec.Fleet
	Stats    *Stats
	// ServerCert is the certificate of every local server (broker, command API, Control
	// Center), issued by PKI for 127.0.0.1 and localhost.
	ServerCert KeyPair
	Stores     *stores

	broker  *broker
	bridge  *bridge
	api     *commandAPI
	web     *http.Server
	devices *fleetRunner
	cancel  context.CancelFunc
}

func (cfg *Config) defaults() error {
	if cfg.Root == "" {
		return errors.New("city: no module root")
	}
	if cfg.FleetFile == "" {
		cfg.FleetFile = filepath.Join(cfg.Root, "config", "fleet.dev.json")
	}
	if cfg.Stage == "" {
		cfg.Stage = "dev"
	}
	if cfg.StateDir == "" {
		cfg.StateDir = filepath.Join(cfg.Root, ".city")
	}
	if cfg.Devices == 0 {
		cfg.Devices = 24
	}
	if cfg.Rate == 0 {
		cfg.Rate = 0.2
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:8443"
	}
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return fmt.Errorf("city: address %q: %w", cfg.Addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("city: address %q is not a loopback IP: the local city serves 127.0.0.1 only", cfg.Addr)
	}
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return nil
}

// Start brings the city up, step by step, and stops what it started if a step fails. ctx
// bounds the start only; the city runs until Close.
func Start(ctx context.Context, cfg Config) (_ *City, err error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	c := &City{cancel: cancel, Stats: &Stats{rejectedByReason: map[string]int{}}}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	step := 0
	const steps = 8
	progress := func(format string, args ...any) {
		step++
		fmt.Fprintf(cfg.Progress, "[%d/%d] %s\n", step, steps, fmt.Sprintf(format, args...))
	}

	f, err := fleetspec.Load(cfg.FleetFile)
	if err != nil {
		return nil, err
	}
	c.Fleet = f
	c.Prefix = f.RulePrefix(cfg.Stage)
	reg, err := Simulate(f, cfg.Devices)
	if err != nil {
		return nil, err
	}
	reg.Prefix = c.Prefix
	for _, t := range cfg.Idle {
		if _, dup := reg.things[t.Name]; dup {
			return nil, fmt.Errorf("idle thing %s is also simulated", t.Name)
		}
		if _, ok := f.Class(t.Class); !ok {
			return nil, fmt.Errorf("idle thing %s: unknown class %q", t.Name, t.Class)
		}
		reg.things[t.Name] = t
		reg.order = append(reg.order, t.Name)
	}
	for _, q := range cfg.Quarantine {
		if err := reg.Quarantine(q); err != nil {
			return nil, err
		}
	}
	c.Registry = reg
	progress("fleet %s: %d classes, %d districts, %d devices (%d declared in the fleet file)", filepath.Base(cfg.FleetFile), len(f.Classes), len(f.Districts), len(reg.order), countDeclared(reg))

	start := time.Now()
	c.PKI, err = OpenPKI(filepath.Join(cfg.StateDir, "pki"))
	if err != nil {
		return nil, err
	}
	if c.ServerCert, err = c.PKI.Server("localhost"); err != nil {
		return nil, err
	}
	for _, cn := range append([]string{RulesClient, CommandsClient, ControlCenterClient}, thingNames(reg)...) {
		if _, err := c.PKI.Client(cn); err != nil {
			return nil, err
		}
	}
	progress("local PKI in %s: CA, server and %d client certificates (%v)", c.PKI.Dir, len(reg.order)+3, time.Since(start).Round(time.Millisecond))

	acl, err := BrokerACL(f, reg.Policies(c.Prefix))
	if err != nil {
		return nil, err
	}
	// Quarantine as Device Defender's mitigation does it: the certificate is deactivated
	// (revoked here) besides the deny-all group policy (no per-thing ACL lines here).
	var revoked []*x509.Certificate
	for _, q := range reg.Quarantined() {
		kp, err := c.PKI.Client(q)
		if err != nil {
			return nil, err
		}
		revoked = append(revoked, kp.Cert)
	}
	crl, err := c.PKI.WriteCRL(revoked)
	if err != nil {
		return nil, err
	}
	runDir := filepath.Join(cfg.StateDir, "run")
	c.broker, err = startBroker(filepath.Join(runDir, "broker"), 0, c.PKI.CAFile, crl, c.ServerCert, acl)
	if err != nil {
		return nil, err
	}
	c.BrokerHost, c.BrokerPort = "127.0.0.1", c.broker.Port
	progress("mosquitto on 127.0.0.1:%d (mutual TLS, ACL from the device policies)", c.broker.Port)

	c.Stores, err = startStores(ctx, cfg.Root, filepath.Join(runDir, "s3"))
	if err != nil {
		return nil, err
	}
	progress("dynalite on %s and s3rver on %s (tables %s, %s; bucket %s)", c.Stores.DBURL, c.Stores.S3URL, StateTable, AuditTable, ArchiveBucket)

	// The master key lives in memory for one run, like the stores, which start empty each run:
	// nothing it sealed outlives it.
	keys := fakekms.NewKey(localKeyID)
	p, err := pipeline.New(pipeline.Config{
		Fleet: f, RulePrefix: c.Prefix, Table: StateTable, Bucket: ArchiveBucket, KeyID: localKeyID,
		StateReader: c.Stores.DB, StateWriter: c.Stores.DB, Objects: c.Stores.S3, Heads: c.Stores.S3, DataKeys: keys,
		Logger: cfg.Logger.With("component", "processor"), Metrics: &metricsWriter{stats: c.Stats},
		Concurrency: 2,
	})
	if err != nil {
		return nil, err
	}
	rulesTLS, err := c.ClientTLS(RulesClient)
	if err != nil {
		return nil, err
	}
	c.bridge, err = startBridge(runCtx, c.BrokerAddr(), rulesTLS, f, c.Prefix, p, c.Stats, cfg.Logger.With("component", "rules"))
	if err != nil {
		return nil, err
	}
	progress("topic rules bridge: $aws/rules/# -> batches -> telemetry processor")

	cmdTLS, err := c.ClientTLS(CommandsClient)
	if err != nil {
		return nil, err
	}
	pubClient, err := sim.Dial(ctx, sim.DialOptions{Addr: c.BrokerAddr(), TLS: cmdTLS, ClientID: CommandsClient, Timeout: 10 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("commands client: %w", err)
	}
	plane := &dataPlane{client: pubClient}
	h := &api.Handler{
		// The handler finds things in the registry through the same cache as in Lambda; the
		// local registry answers DescribeThing as the IoT control plane does.
		Fleet: f, ThingTypePrefix: c.Prefix, Things: registry.NewCache(reg, registry.Options{}),
		StateTable: StateTable, AuditTable: AuditTable,
		State: c.Stores.DB, Audit: c.Stores.DB, Publisher: plane, Shadow: plane,
		Logger: cfg.Logger.With("component", "command-api"),
	}
	roles, err := operatorRoles(f, cfg.Operators)
	if err != nil {
		return nil, err
	}
	c.api, err = startCommandAPI(h, roles, c.ServerCert, c.PKI, cfg.Logger)
	if err != nil {
		return nil, err
	}
	c.CommandURL = c.api.URL
	progress("command API on %s (mutual TLS; routes GET /devices/{thing}, POST /devices/{thing}/commands)", c.CommandURL)

	var simulated []Thing
	for _, t := range reg.Things() {
		if !isIdle(cfg.Idle, t.Name) && !reg.isQuarantined(t.Name) {
			simulated = append(simulated, t)
		}
	}
	c.devices, err = startDevices(runCtx, simulated, f, c.Prefix, c.BrokerHost, c.BrokerPort, cfg.Rate, c.ClientTLS, cfg.Logger.With("component", "device"))
	if err != nil {
		return nil, err
	}
	progress("%d simulated devices connected, %.2g messages/s each", len(simulated), cfg.Rate)

	ccTLS, err := c.ClientTLS(ControlCenterClient)
	if err != nil {
		return nil, err
	}
	backend := &Console{
		Fleet: f, Registry: reg, Stats: c.Stats, DB: c.Stores.DB,
		Commands: &CommandClient{BaseURL: c.CommandURL, HTTP: &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{TLSClientConfig: ccTLS}}},
	}
	web, err := control.New(control.Config{Backend: backend, Operators: cfg.Operators, Logger: cfg.Logger.With("component", "control-center")})
	if err != nil {
		return nil, err
	}
	serverCert, err := c.ServerCert.TLS()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("control center: %w", err)
	}
	c.web = &http.Server{
		Handler: web, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second,
		ErrorLog:  slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
		TLSConfig: &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{serverCert}},
	}
	go func() { _ = c.web.ServeTLS(ln, "", "") }()
	port := ln.Addr().(*net.TCPAddr).Port
	// The certificate names localhost and 127.0.0.1; localhost reads better in a browser.
	c.URL = fmt.Sprintf("https://localhost:%d/", port)
	progress("Control Center on %s", c.URL)
	return c, nil
}

// BrokerAddr is host:port of the broker.
func (c *City) BrokerAddr() string { return net.JoinHostPort(c.BrokerHost, fmt.Sprint(c.BrokerPort)) }

// ClientTLS is the mutual-TLS configuration of a client certificate of the local PKI (a
// thing or a service), trusting only the local CA.
func (c *City) ClientTLS(cn string) (*tls.Config, error) {
	kp, err := c.PKI.Client(cn)
	if err != nil {
		return nil, err
	}
	return sim.TLSConfig(kp.CertFile, kp.KeyFile, c.PKI.CAFile, "127.0.0.1", false)
}

// Close stops everything the city started, in reverse order; it is safe to call twice.
func (c *City) Close() {
	if c.web != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = c.web.Shutdown(ctx)
		cancel()
		c.web = nil
	}
	c.devices.stop()
	c.devices = nil
	c.api.close()
	c.api = nil
	if c.cancel != nil {
		c.cancel()
	}
	c.bridge.close()
	c.bridge = nil
	c.Stores.stop()
	if c.broker != nil {
		c.broker.stop()
		c.broker = nil
	}
}

func countDeclared(r *Registry) int {
	n := 0
	for _, t := range r.Things() {
		if t.Declared {
			n++
		}
	}
	return n
}

func thingNames(r *Registry) []string {
	var out []string
	for _, t := range r.Things() {
		out = append(out, t.Name)
	}
	return out
}

func isIdle(idle []Thing, name string) bool {
	for _, t := range idle {
		if t.Name == name {
			return true
		}
	}
	return false
}

// ModuleRoot finds the directory holding go.mod at or above dir.
func ModuleRoot(dir string) (string, error) {
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found: run from the repository")
		}
		dir = parent
	}
}
