// Package sim is the device simulator's logic: a device of one class that connects to the
// platform's MQTT endpoint over mutual TLS as its thing name, publishes telemetry to its Basic
// Ingest topic, applies operator commands and reports its state to its classic shadow.
package sim

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	mrand "math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"

	"github.com/secure-smart-city/platform/fleetspec"
	"github.com/secure-smart-city/platform/lambdas/command/message"
	"github.com/secure-smart-city/platform/topics"
)

// Defaults for Config fields left zero.
const (
	DefaultPort     = 8883
	DefaultALPNPort = 443
	DefaultRate     = 1.0
	DefaultTimeout  = 10 * time.Second
	// MaxRate is AWS IoT Core's limit of publishes per second per connection.
	MaxRate = 100.0
	// keepAlive is well under AWS IoT's 1200 s maximum and above its 30 s minimum.
	keepAlive = 60
)

// Config describes one simulated device.
type Config struct {
	// Endpoint is the broker's host name or IP: for AWS IoT, the domain name of the Fleet
	// stack's domain configuration <fleet>_<stage>_devices (README, "Devices and endpoints").
	Endpoint string
	// Port. Default: 8883, or 443 when ALPN is set.
	Port int
	// ALPN offers the "x-amzn-mqtt-ca" protocol, which AWS IoT requires for MQTT on port 443.
	ALPN bool
	// CertFile, KeyFile and CAFile are PEM files: the device certificate, its private key and
	// the endpoint's CA. Ignored when TLS is set.
	CertFile, KeyFile, CAFile string
	// TLS replaces the configuration built from the files. Default: TLSConfig of the files.
	TLS *tls.Config
	// Thing is the thing name, used as the MQTT client id (AWS IoT policies require it).
	Thing string
	// Class is the thing's device class; its fields shape the telemetry and its commands are
	// the ones the device accepts.
	Class fleetspec.DeviceClass
	// District is the thing's district id, its registered "district" attribute, for example
	// "old_town": a level of its telemetry topic, which its IoT policy binds to the attribute.
	District string
	// RulePrefix is the topic rule prefix, for example "smartcity_dev"; the telemetry topic is
	// topics.Telemetry(topics.RuleName(RulePrefix, Class.ID), District, Thing).
	RulePrefix string
	// Rate is telemetry messages per second. Default: 1. At most MaxRate.
	Rate float64
	// Count is the number of telemetry messages to send before stopping. Default: 0, until
	// the context passed to Run is done.
	Count int
	// Timeout bounds connecting and each acknowledgement (SUBACK, PUBACK). Default: 10 s.
	Timeout time.Duration
	// SkipShadowDelta leaves the shadow's delta topic unsubscribed, for brokers or policies
	// without shadow topics. Default: false, desired state set through the shadow is applied.
	SkipShadowDelta bool
	// Logger. Default: slog.Default().
	Logger *slog.Logger
	// Jobs, when set, takes firmware updates over AWS IoT Jobs on this connection (jobs.go).
	// Default: nil, no updates.
	Jobs *Jobs
	// Rand and Now make telemetry reproducible in tests. Default: random seed, time.Now.
	Rand *mrand.Rand
	Now  func() time.Time
}

// Device is a connected simulated device.
type Device struct {
	cfg       Config
	addr      string
	tls       *tls.Config
	log       *slog.Logger
	gen       *Generator
	telemetry string

	client   *paho.Client
	inbox    chan *paho.Publish
	clientMu sync.Mutex
	lastErr  error

	stateMu sync.Mutex
	state   map[string]any

	commands *commandGuard
}

// New validates cfg and loads its TLS material; it does not connect.
func New(cfg Config) (*Device, error) {
	if cfg.Endpoint == "" {
		return nil, errors.New("no endpoint given")
	}
	if cfg.Thing == "" {
		return nil, errors.New("no thing name given")
	}
	// Each is one level of an MQTT topic the device publishes or subscribes to.
	if strings.ContainsAny(cfg.Thing, "/+#") {
		return nil, fmt.Errorf("thing name %q contains \"/\", \"+\" or \"#\", which no thing name has", cfg.Thing)
	}
	if cfg.District == "" {
		return nil, errors.New("no district given")
	}
	if strings.ContainsAny(cfg.District, "/+#") {
		return nil, fmt.Errorf("district %q contains \"/\", \"+\" or \"#\", which no district id has", cfg.District)
	}
	if cfg.Class.ID == "" {
		return nil, errors.New("no device class given")
	}
	if cfg.RulePrefix == "" {
		return nil, errors.New("no topic rule prefix given")
	}
	if cfg.Port == 0 {
		cfg.Port = DefaultPort
		if cfg.ALPN {
			cfg.Port = DefaultALPNPort
		}
	}
	if cfg.Port < 1 || cfg.Port > 65535 {
		return nil, fmt.Errorf("port %d out of range", cfg.Port)
	}
	if cfg.Rate == 0 {
		cfg.Rate = DefaultRate
	}
	if cfg.Rate < 0 || cfg.Rate > MaxRate {
		return nil, fmt.Errorf("rate %v out of range (0, %v] messages per second", cfg.Rate, MaxRate)
	}
	if cfg.Count < 0 {
		return nil, fmt.Errorf("count %d is negative", cfg.Count)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("timeout %v is negative", cfg.Timeout)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	tlsCfg := cfg.TLS
	if tlsCfg == nil {
		var err error
		tlsCfg, err = TLSConfig(cfg.CertFile, cfg.KeyFile, cfg.CAFile, cfg.Endpoint, cfg.ALPN)
		if err != nil {
			return nil, err
		}
	}
	return &Device{
		cfg:       cfg,
		addr:      net.JoinHostPort(cfg.Endpoint, strconv.Itoa(cfg.Port)),
		tls:       tlsCfg,
		log:       cfg.Logger.With("thing", cfg.Thing),
		gen:       NewGenerator(cfg.Class, cfg.Rand, cfg.Now),
		telemetry: topics.Telemetry(topics.RuleName(cfg.RulePrefix, cfg.Class.ID), cfg.District, cfg.Thing),
		inbox:     make(chan *paho.Publish, 64),
		state:     map[string]any{},
		commands:  newCommandGuard(DefaultMaxCommandAge, DefaultRememberedCommands),
	}, nil
}

// TelemetryTopic is the Basic Ingest topic the device publishes to.
func (d *Device) TelemetryTopic() string { return d.telemetry }

// State returns a copy of the state set by commands so far.
func (d *Device) State() map[string]any {
	d.stateMu.Lock()
	defer d.stateMu.Unlock()
	return maps.Clone(d.state)
}

// Connect opens the MQTT session and subscribes to the command topic and, unless skipped, the
// shadow delta topic. A refused subscription is an error naming the topic and the reason.
func (d *Device) Connect(ctx context.Context) error {
	client, err := Dial(ctx, DialOptions{
		Addr:     d.addr,
		TLS:      d.tls,
		ClientID: d.cfg.Thing,
		Timeout:  d.cfg.Timeout,
		OnPublish: func(p *paho.Publish) {
			select {
			case d.inbox <- p:
			default:
				d.log.Warn("inbox full, dropping message", "topic", p.Topic)
			}
		},
		OnError: func(err error) {
			d.clientMu.Lock()
			d.lastErr = err
			d.clientMu.Unlock()
		},
	})
	if err != nil {
		return err
	}
	d.client = client
	subs := []string{topics.Command(d.cfg.Thing)}
	if !d.cfg.SkipShadowDelta {
		subs = append(subs, topics.ShadowDelta(d.cfg.Thing))
	}
	if d.cfg.Jobs != nil { // OTA hook (jobs.go)
		subs = append(subs, d.cfg.Jobs.Subscriptions()...)
	}
	for _, topic := range subs {
		if err := Subscribe(ctx, client, topic, d.cfg.Timeout); err != nil {
			d.Close()
			return err
		}
	}
	d.log.Info("connected", "endpoint", d.addr, "district", d.cfg.District, "telemetry", d.telemetry, "subscriptions", subs)
	return nil
}

// Run publishes telemetry at the configured rate and applies incoming commands until Count
// messages are sent or ctx is done, then disconnects. It returns nil on those graceful stops
// and an error when a publish fails or the connection is lost.
func (d *Device) Run(ctx context.Context) error {
	if d.client == nil {
		return errors.New("run before connect")
	}
	defer d.Close()
	interval := time.Duration(float64(time.Second) / d.cfg.Rate)
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	sent := 0
	publish := func() error {
		if err := d.PublishTelemetry(ctx); err != nil {
			return err
		}
		sent++
		return nil
	}
	if err := publish(); err != nil {
		return ignoreCancel(ctx, err)
	}
	jobsErr, stopJobs := d.runJobs(ctx) // OTA hook (jobs.go)
	defer stopJobs()
	for d.cfg.Count == 0 || sent < d.cfg.Count {
		select {
		case <-ctx.Done():
			d.log.Info("stopping", "sent", sent)
			return nil
		case <-d.client.Done():
			d.clientMu.Lock()
			cause := d.lastErr
			d.clientMu.Unlock()
			if cause != nil {
				return fmt.Errorf("connection to %s lost: %w", d.addr, cause)
			}
			return fmt.Errorf("connection to %s lost", d.addr)
		case err := <-jobsErr:
			return ignoreCancel(ctx, err)
		case p := <-d.inbox:
			if err := d.handle(ctx, p); err != nil {
				return ignoreCancel(ctx, err)
			}
		case <-ticker.C:
			if err := publish(); err != nil {
				return ignoreCancel(ctx, err)
			}
		}
	}
	d.log.Info("sent all messages", "sent", sent)
	return nil
}

// ignoreCancel turns an error caused by the caller stopping the device into a graceful stop.
func ignoreCancel(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// Close disconnects; it is safe to call more than once.
func (d *Device) Close() {
	if d.client == nil {
		return
	}
	select {
	case <-d.client.Done():
	default:
		_ = d.client.Disconnect(&paho.Disconnect{ReasonCode: 0})
	}
}

// PublishTelemetry publishes one telemetry message at QoS 1 and waits for its PUBACK.
func (d *Device) PublishTelemetry(ctx context.Context) error {
	msg := d.gen.Next(d.State())
	if err := d.publishJSON(ctx, d.telemetry, msg); err != nil {
		return err
	}
	d.log.Debug("telemetry sent", "msgId", msg[KeyMsgID])
	return nil
}

func (d *Device) publishJSON(ctx context.Context, topic string, v any) error {
	payload, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode message for %s: %w", topic, err)
	}
	return Publish(ctx, d.client, topic, payload, d.cfg.Timeout)
}

// handle applies one message from the command or shadow delta topic. A malformed or
// disallowed command is logged and dropped: the device must not trust its input, and one bad
// command must not stop it.
func (d *Device) handle(ctx context.Context, p *paho.Publish) error {
	var changes map[string]any
	switch p.Topic {
	case topics.Command(d.cfg.Thing):
		cmd, err := message.Parse(p.Payload)
		if err != nil {
			d.log.Warn("rejected command", "error", err)
			return nil
		}
		now := time.Now()
		if d.cfg.Now != nil {
			now = d.cfg.Now()
		}
		// A command id seen before (an MQTT redelivery, a replayed message) or a command
		// issued too long ago is reported and not applied.
		if reason := d.commands.admit(cmd.ID, cmd.IssuedAt, now); reason != "" {
			d.log.Warn("refused command", "commandId", cmd.ID, "command", cmd.Name, "issuedAt", cmd.IssuedAt, "reason", reason)
			return nil
		}
		spec, ok := message.FindCommand(d.cfg.Class, cmd.Name)
		if !ok {
			d.log.Warn("rejected command", "commandId", cmd.ID, "error", fmt.Sprintf("class %s has no command %q", d.cfg.Class.ID, cmd.Name))
			return nil
		}
		params, err := message.Validate(spec, cmd.Params)
		if err != nil {
			d.log.Warn("rejected command", "commandId", cmd.ID, "error", err)
			return nil
		}
		changes = message.StateChanges(d.cfg.Class, cmd.Name, params)
		d.commands.applied()
		d.log.Info("applied command", "commandId", cmd.ID, "command", cmd.Name, "params", params)
	case topics.ShadowDelta(d.cfg.Thing):
		var err error
		changes, err = d.deltaChanges(p.Payload)
		if err != nil {
			d.log.Warn("rejected shadow delta", "error", err)
			return nil
		}
		d.log.Info("applied shadow delta", "state", changes)
	default:
		if d.cfg.Jobs != nil && d.cfg.Jobs.Owns(p.Topic) { // OTA hook (jobs.go)
			d.cfg.Jobs.Deliver(p)
			return nil
		}
		d.log.Warn("message on unexpected topic", "topic", p.Topic)
		return nil
	}
	if len(changes) == 0 {
		return nil
	}
	d.stateMu.Lock()
	maps.Copy(d.state, changes)
	reported := maps.Clone(d.state)
	d.stateMu.Unlock()
	return d.publishJSON(ctx, topics.ShadowUpdate(d.cfg.Thing), shadowReport{State: reportedState{Reported: reported}})
}

// Command replay protection.
const (
	// DefaultMaxCommandAge is how old (by its issuedAt) a command may be when it arrives: the
	// command API's MQTT message expiry (api.CommandExpiry), so a command the broker held for
	// an offline device, or one replayed later, is not acted on.
	DefaultMaxCommandAge = 5 * time.Minute
	// MaxCommandClockSkew is how far in the future a command's issuedAt may be.
	MaxCommandClockSkew = time.Minute
	// DefaultRememberedCommands bounds the command ids remembered within DefaultMaxCommandAge;
	// a device sent more than this in that window refuses the excess rather than forget ids.
	DefaultRememberedCommands = 1024
)

// Reasons a command is refused before it is applied.
const (
	RefusedDuplicate = "duplicate"
	RefusedStale     = "stale"
	RefusedFuture    = "issued in the future"
	RefusedNoID      = "no command id"
	RefusedTooMany   = "too many commands"
)

// CommandStats counts the commands a device applied and refused, by reason.
type CommandStats struct {
	Applied int
	Refused map[string]int
}

// CommandStats returns the counts so far.
func (d *Device) CommandStats() CommandStats {
	return d.commands.stats()
}

// commandGuard remembers the ids of commands admitted within the age bound. An id older than
// the bound need not be remembered: its command would be refused as stale anyway.
type commandGuard struct {
	mu      sync.Mutex
	maxAge  time.Duration
	max     int
	seen    map[string]int64 // id -> issuedAt (Unix ms)
	count   int
	refused map[string]int
}

func newCommandGuard(maxAge time.Duration, limit int) *commandGuard {
	return &commandGuard{maxAge: maxAge, max: limit, seen: map[string]int64{}, refused: map[string]int{}}
}

// admit says why the command may not be applied, or "" and remembers its id.
func (g *commandGuard) admit(id string, issuedAt int64, now time.Time) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	reason := ""
	nowMs := now.UnixMilli()
	switch {
	case id == "":
		reason = RefusedNoID
	case hasKey(g.seen, id):
		reason = RefusedDuplicate
	case issuedAt < nowMs-g.maxAge.Milliseconds():
		reason = RefusedStale
	case issuedAt > nowMs+MaxCommandClockSkew.Milliseconds():
		reason = RefusedFuture
	}
	if reason == "" && len(g.seen) >= g.max {
		for k, at := range g.seen {
			if at < nowMs-g.maxAge.Milliseconds() {
				delete(g.seen, k)
			}
		}
		if len(g.seen) >= g.max {
			reason = RefusedTooMany
		}
	}
	if reason != "" {
		g.refused[reason]++
		return reason
	}
	g.seen[id] = issuedAt
	return ""
}

func hasKey(m map[string]int64, k string) bool {
	_, ok := m[k]
	return ok
}

func (g *commandGuard) applied() {
	g.mu.Lock()
	g.count++
	g.mu.Unlock()
}

func (g *commandGuard) stats() CommandStats {
	g.mu.Lock()
	defer g.mu.Unlock()
	return CommandStats{Applied: g.count, Refused: maps.Clone(g.refused)}
}

type shadowReport struct {
	State reportedState `json:"state"`
}

type reportedState struct {
	Reported map[string]any `json:"reported"`
}

// deltaChanges validates a shadow delta's state against the class's fields, keeping the keys
// that name a field and dropping the rest (the shadow may hold keys set by other tools).
func (d *Device) deltaChanges(payload []byte) (map[string]any, error) {
	var delta struct {
		State map[string]json.RawMessage `json:"state"`
	}
	if err := json.Unmarshal(payload, &delta); err != nil {
		return nil, fmt.Errorf("decode shadow delta: %w", err)
	}
	params := map[string]any{}
	for k, raw := range delta.State {
		var v any
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("decode shadow delta key %q: %w", k, err)
		}
		params[k] = v
	}
	fieldsAsCommand := fleetspec.Command{Name: "shadow-delta"}
	for _, f := range d.cfg.Class.Fields {
		if _, ok := params[f.Name]; ok {
			fieldsAsCommand.Params = append(fieldsAsCommand.Params, f)
		}
	}
	for k := range params {
		if !containsField(fieldsAsCommand.Params, k) {
			d.log.Warn("ignoring shadow delta key that is not a field", "key", k)
			delete(params, k)
		}
	}
	return message.Validate(fieldsAsCommand, params)
}

func containsField(fs []fleetspec.Field, name string) bool {
	for _, f := range fs {
		if f.Name == name {
			return true
		}
	}
	return false
}

// DialOptions configures Dial.
type DialOptions struct {
	// Addr is host:port.
	Addr     string
	TLS      *tls.Config
	ClientID string
	// Timeout bounds the TCP connect, the TLS handshake and the CONNACK together.
	Timeout time.Duration
	// OnPublish receives every incoming PUBLISH; it must not block.
	OnPublish func(*paho.Publish)
	// OnError receives the client's asynchronous errors (a lost connection, say).
	OnError func(error)
}

// Dial connects an MQTT 5 client over TLS with a clean start. Errors name the endpoint and
// say whether it could not be reached, refused the handshake or refused the session.
func Dial(ctx context.Context, o DialOptions) (*paho.Client, error) {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	dialer := &tls.Dialer{Config: o.TLS}
	conn, err := dialer.DialContext(ctx, "tcp", o.Addr)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("connect to %s: no answer within %v", o.Addr, o.Timeout)
		}
		return nil, fmt.Errorf("connect to %s: %w", o.Addr, err)
	}
	cfg := paho.ClientConfig{
		ClientID:      o.ClientID,
		Conn:          packets.NewThreadSafeConn(conn),
		PacketTimeout: o.Timeout,
		OnClientError: func(err error) {
			if o.OnError != nil {
				o.OnError(err)
			}
		},
	}
	if o.OnPublish != nil {
		cfg.OnPublishReceived = []func(paho.PublishReceived) (bool, error){
			func(r paho.PublishReceived) (bool, error) {
				o.OnPublish(r.Packet)
				return true, nil
			},
		}
	}
	client := paho.NewClient(cfg)
	ack, err := client.Connect(ctx, &paho.Connect{
		ClientID:   o.ClientID,
		KeepAlive:  keepAlive,
		CleanStart: true,
	})
	if err != nil {
		_ = conn.Close()
		if ack != nil {
			return nil, fmt.Errorf("connect to %s as %q: refused with reason %s", o.Addr, o.ClientID, reasonName(ack.ReasonCode))
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("connect to %s as %q: no CONNACK within %v", o.Addr, o.ClientID, o.Timeout)
		}
		// With TLS 1.3 a server that rejects the client certificate says so only after the
		// client's handshake has finished, so the rejection surfaces here, often as a bare
		// reset or EOF.
		return nil, fmt.Errorf("connect to %s as %q: %w (the endpoint closed the session: is the certificate issued by a CA it trusts, registered and active, and does its policy allow this client id?)", o.Addr, o.ClientID, err)
	}
	return client, nil
}

// Subscribe subscribes to one topic filter at QoS 1 and turns a SUBACK failure code into an
// error naming the topic and the reason.
func Subscribe(ctx context.Context, c *paho.Client, topic string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ack, err := c.Subscribe(ctx, &paho.Subscribe{
		Subscriptions: []paho.SubscribeOptions{{Topic: topic, QoS: 1}},
	})
	if ack != nil && len(ack.Reasons) == 1 && ack.Reasons[0] >= 0x80 {
		return fmt.Errorf("subscription to %s refused: %s", topic, reasonName(ack.Reasons[0]))
	}
	if err != nil {
		return fmt.Errorf("subscribe to %s: %w", topic, err)
	}
	return nil
}

// Publish publishes payload at QoS 1 and turns a PUBACK failure code into an error naming the
// topic and the reason.
func Publish(ctx context.Context, c *paho.Client, topic string, payload []byte, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := c.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: payload})
	if resp != nil && resp.ReasonCode >= 0x80 {
		return fmt.Errorf("publish to %s refused: %s", topic, reasonName(resp.ReasonCode))
	}
	if err != nil {
		return fmt.Errorf("publish to %s: %w", topic, err)
	}
	return nil
}

// reasonName renders an MQTT 5 reason code with its name, for the codes a broker sends in
// CONNACK, SUBACK and PUBACK.
func reasonName(code byte) string {
	names := map[byte]string{
		0x80: "unspecified error",
		0x81: "malformed packet",
		0x82: "protocol error",
		0x83: "implementation specific error",
		0x84: "unsupported protocol version",
		0x85: "client identifier not valid",
		0x86: "bad user name or password",
		0x87: "not authorized",
		0x88: "server unavailable",
		0x89: "server busy",
		0x8A: "banned",
		0x8C: "bad authentication method",
		0x8F: "topic filter invalid",
		0x90: "topic name invalid",
		0x91: "packet identifier in use",
		0x95: "packet too large",
		0x97: "quota exceeded",
		0x99: "payload format invalid",
		0x9A: "retain not supported",
		0x9B: "qos not supported",
		0x9C: "use another server",
		0x9E: "shared subscriptions not supported",
		0x9F: "connection rate exceeded",
		0xA1: "subscription identifiers not supported",
		0xA2: "wildcard subscriptions not supported",
	}
	if n, ok := names[code]; ok {
		return fmt.Sprintf("%s (0x%02x)", n, code)
	}
	return fmt.Sprintf("reason code 0x%02x", code)
}
