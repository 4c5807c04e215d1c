package local

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iotdataplane"
	"github.com/eclipse/paho.golang/paho"

	"github.com/secure-smart-city/platform/cmd/city/control"
	"github.com/secure-smart-city/platform/cmd/devicesim/sim"
	"github.com/secure-smart-city/platform/fleetspec"
	"github.com/secure-smart-city/platform/lambdas/command/api"
)

// This file hosts the real command handler (package api) behind a local HTTPS API with the
// deployed API's routes (GET /devices/{thing}, POST /devices/{thing}/commands), and plays the
// IoT data plane it publishes through.

// ControlCenterClient is the client certificate the Control Center calls the command API
// with. The API trusts its OperatorHeader, as API Gateway trusts the IAM session name of a
// role the operator assumed.
const ControlCenterClient = "city.control-center"

// OperatorHeader names the signed-in operator on a call from the Control Center.
const OperatorHeader = "X-City-Operator"

// dataPlane publishes as the commands client: iot:Publish and a minimal classic shadow.
type dataPlane struct {
	client *paho.Client
	seq    atomic.Int64
}

// Publish sends the command as IoT's data plane would, with its MQTT 5 properties.
func (d *dataPlane) Publish(ctx context.Context, in *iotdataplane.PublishInput, _ ...func(*iotdataplane.Options)) (*iotdataplane.PublishOutput, error) {
	p := &paho.Publish{Topic: aws.ToString(in.Topic), QoS: byte(in.Qos), Payload: in.Payload, Properties: &paho.PublishProperties{}}
	if in.ContentType != nil {
		p.Properties.ContentType = *in.ContentType
	}
	if in.MessageExpiry > 0 {
		exp := uint32(in.MessageExpiry)
		p.Properties.MessageExpiry = &exp
	}
	if in.PayloadFormatIndicator == "UTF8_DATA" {
		one := byte(1)
		p.Properties.PayloadFormat = &one
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := d.client.Publish(ctx, p)
	if err != nil {
		return nil, err
	}
	if resp != nil && resp.ReasonCode >= 0x80 {
		return nil, fmt.Errorf("broker refused the publish to %s: reason 0x%02x", p.Topic, resp.ReasonCode)
	}
	return &iotdataplane.PublishOutput{}, nil
}

// UpdateThingShadow plays the shadow service in its simplest form: the desired state becomes
// the delta at once. There is no shadow document and no comparison with reported state (the
// devices report through telemetry), so a desired value equal to the reported one is still
// sent as a delta, which the device applies idempotently.
func (d *dataPlane) UpdateThingShadow(ctx context.Context, in *iotdataplane.UpdateThingShadowInput, _ ...func(*iotdataplane.Options)) (*iotdataplane.UpdateThingShadowOutput, error) {
	var doc struct {
		State struct {
			Desired map[string]any `json:"desired"`
		} `json:"state"`
	}
	if err := json.Unmarshal(in.Payload, &doc); err != nil {
		return nil, fmt.Errorf("shadow update: %w", err)
	}
	delta, err := json.Marshal(map[string]any{"state": doc.State.Desired, "version": d.seq.Add(1), "timestamp": time.Now().Unix()})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := sim.Publish(ctx, d.client, "$aws/things/"+aws.ToString(in.ThingName)+"/shadow/update/delta", delta, 10*time.Second); err != nil {
		return nil, err
	}
	return &iotdataplane.UpdateThingShadowOutput{}, nil
}

// commandAPI is the HTTPS server in front of api.Handler. Mutual TLS with the local CA takes
// the place of IAM (SigV4). When the Control Center names the operator it signed in, the
// caller is that operator's fleet role as an assumed-role session of LocalAccount
// (arn:aws:sts::<LocalAccount>:assumed-role/<role>/<operator>), which is how API Gateway names
// an IAM caller, so the handler authorizes it by the fleet file's operator scopes exactly as
// in AWS. Any other caller is "local:cert/<CN>", which the handler refuses as no operator
// role.
type commandAPI struct {
	h     *api.Handler
	roles map[string]string // operator name -> fleet operator role
	srv   *http.Server
	URL   string
}

// LocalAccount is the account id the local command API gives its callers and itself.
const LocalAccount = "000000000000"

// DefaultFleetRole is the fleet operator role a local operator without FleetRole acts as: the
// first that may send set-light to street lights, else the first declared.
func DefaultFleetRole(f *fleetspec.Fleet) string {
	for _, op := range f.Operators {
		for _, a := range op.Allow {
			if a.Class == "street_light" && slices.Contains(a.Commands, "set-light") {
				return op.Role
			}
		}
	}
	if len(f.Operators) > 0 {
		return f.Operators[0].Role
	}
	return ""
}

// operatorRoles maps each local operator to the fleet operator role it acts as, and refuses a
// role the fleet file does not declare.
func operatorRoles(f *fleetspec.Fleet, ops []control.Operator) (map[string]string, error) {
	declared := map[string]bool{}
	for _, op := range f.Operators {
		declared[op.Role] = true
	}
	roles := map[string]string{}
	for _, o := range ops {
		r := o.FleetRole
		if r == "" {
			r = DefaultFleetRole(f)
		}
		if !declared[r] {
			return nil, fmt.Errorf("operator %s: fleetRole %q is not an operator role of %s", o.Name, r, f.Path)
		}
		roles[o.Name] = r
	}
	return roles, nil
}

func startCommandAPI(h *api.Handler, roles map[string]string, server KeyPair, pki *PKI, log *slog.Logger) (*commandAPI, error) {
	cert, err := server.TLS()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	c := &commandAPI{h: h, roles: roles, URL: "https://" + ln.Addr().String()}
	c.srv = &http.Server{
		Handler:           c,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		TLSConfig: &tls.Config{
			MinVersion:   tls.VersionTLS12,
			Certificates: []tls.Certificate{cert},
			ClientAuth:   tls.RequireAndVerifyClientCert,
			ClientCAs:    pki.Pool(),
		},
	}
	go func() { _ = c.srv.ServeTLS(ln, "", "") }()
	return c, nil
}

func (c *commandAPI) close() {
	if c == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = c.srv.Shutdown(ctx)
}

// ServeHTTP turns the request into the API Gateway REST proxy event the Lambda receives.
func (c *commandAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		http.Error(w, "client certificate required", http.StatusUnauthorized)
		return
	}
	cn := r.TLS.PeerCertificates[0].Subject.CommonName
	caller := "local:cert/" + cn
	if op := r.Header.Get(OperatorHeader); op != "" && cn == ControlCenterClient {
		if role, ok := c.roles[op]; ok {
			caller = "arn:aws:sts::" + LocalAccount + ":assumed-role/" + role + "/" + op
		}
	}
	// One byte over the handler's limit lets it answer 413 as it does behind API Gateway.
	body, err := io.ReadAll(io.LimitReader(r.Body, api.MaxBody+1))
	if err != nil {
		http.Error(w, "could not read the request body", http.StatusBadRequest)
		return
	}
	headers := map[string]string{}
	for k := range r.Header {
		headers[k] = r.Header.Get(k)
	}
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	ev := events.APIGatewayProxyRequest{
		HTTPMethod: r.Method,
		Path:       r.URL.Path,
		Headers:    headers,
		Body:       string(body),
		RequestContext: events.APIGatewayProxyRequestContext{
			RequestID: newRequestID(),
			AccountID: LocalAccount,
			Identity:  events.APIGatewayRequestIdentity{UserArn: caller, SourceIP: host},
		},
	}
	resp, err := c.h.Handle(r.Context(), ev)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	for k, v := range resp.Headers {
		w.Header().Set(k, v)
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.WriteString(w, resp.Body)
}

func newRequestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// CommandClient calls a command API the way the Control Center does.
type CommandClient struct {
	BaseURL string
	HTTP    *http.Client
}

// CommandReply is the API's answer: the status and the decoded body.
type CommandReply struct {
	Status int
	Body   map[string]any
}

// Send posts a command for thing on behalf of operator.
func (c *CommandClient) Send(ctx context.Context, operator, thing, command string, params map[string]any) (CommandReply, error) {
	// The API takes parameters beside "command" ({"command": "set-light", "on": true});
	// "command" and "delivery" are reserved and no command declares them as parameters.
	req := map[string]any{}
	for k, v := range params {
		req[k] = v
	}
	req["command"] = command
	body, err := json.Marshal(req)
	if err != nil {
		return CommandReply{}, err
	}
	return c.do(ctx, http.MethodPost, "/devices/"+url.PathEscape(thing)+"/commands", operator, string(body))
}

// State reads a thing's latest state.
func (c *CommandClient) State(ctx context.Context, operator, thing string) (CommandReply, error) {
	return c.do(ctx, http.MethodGet, "/devices/"+url.PathEscape(thing), operator, "")
}

func (c *CommandClient) do(ctx context.Context, method, path, operator, body string) (CommandReply, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, strings.NewReader(body))
	if err != nil {
		return CommandReply{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	if operator != "" {
		req.Header.Set(OperatorHeader, operator)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return CommandReply{}, fmt.Errorf("command api: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	out := CommandReply{Status: resp.StatusCode}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return out, fmt.Errorf("command api: %w", err)
	}
	if err := json.Unmarshal(data, &out.Body); err != nil {
		return out, fmt.Errorf("command api answered %d with a body that is not JSON: %w", resp.StatusCode, err)
	}
	return out, nil
}
