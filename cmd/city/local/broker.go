package local

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"time"

	"github.com/secure-smart-city/platform/fleetspec"
	"github.com/secure-smart-city/platform/policies"
	"github.com/secure-smart-city/platform/topics"
)

// Client certificate names of the city's own services on the broker. They are not thing
// names a fleet may use: thing names take no "." (fleetspec and policies.Registry check it).
const (
	// RulesClient plays the topic rules: it reads every Basic Ingest topic.
	RulesClient = "city.rules"
	// CommandsClient plays the IoT data plane for the command handler: it publishes
	// commands and shadow deltas.
	CommandsClient = "city.commands"
)

// serviceACL gives the city's services what the cloud side has. Topics starting with "$"
// never match a filter that starts with a wildcard (MQTT 5 4.7.2), so "$aws/..." is named.
//
// mosquitto has no Basic Ingest: a device publishes to the literal "$aws/rules/<rule>/..."
// topic, mosquitto routes it like any other topic (it reserves no "$aws" prefix; only "$SYS"
// is its own), and the rules client subscribes to "$aws/rules/#". Unlike AWS IoT, a client
// allowed to subscribe there could read other devices' telemetry: the device ACL never
// grants read on it, so only the rules client can.
func serviceACL() string {
	return strings.Join([]string{
		"user " + RulesClient,
		"topic read $aws/rules/#",
		"user " + CommandsClient,
		"topic write " + topics.Command("+"),
		"topic write " + topics.ShadowDelta("+"),
	}, "\n") + "\n"
}

// BrokerACL is the acl_file: the device policy of every class (policies.Device, as the Fleet
// stack attaches it) expanded over the registry by policies.MosquittoACL, plus the services'
// entries.
func BrokerACL(f *fleetspec.Fleet, reg policies.Registry) (string, error) {
	var docs []policies.Document
	for _, c := range f.Classes {
		docs = append(docs, policies.Device(c))
	}
	acl, err := policies.MosquittoACL(reg, docs...)
	if err != nil {
		return "", fmt.Errorf("mosquitto acl from the device policies: %w", err)
	}
	return acl + serviceACL(), nil
}

// broker is mosquitto with one mutual-TLS listener on 127.0.0.1.
type broker struct {
	*process
	Port    int
	LogFile string
}

func startBroker(dir string, port int, caFile, crlFile string, server KeyPair, acl string) (*broker, error) {
	bin, err := findMosquitto()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if port == 0 {
		if port, err = freePort(); err != nil {
			return nil, err
		}
	}
	aclFile := filepath.Join(dir, "acl")
	if err := os.WriteFile(aclFile, []byte(acl), 0o600); err != nil {
		return nil, fmt.Errorf("write acl file: %w", err)
	}
	b := &broker{Port: port, LogFile: filepath.Join(dir, "mosquitto.log")}
	lines := []string{
		"per_listener_settings false",
		"persistence false",
		"allow_anonymous false",
		"log_dest file " + b.LogFile,
		"log_type error",
		"log_type warning",
		"log_type notice",
		"connection_messages true",
		"acl_file " + aclFile,
		fmt.Sprintf("listener %d 127.0.0.1", port),
		"cafile " + caFile,
		// Quarantined things' certificates are revoked here.
		"crlfile " + crlFile,
		"certfile " + server.CertFile,
		"keyfile " + server.KeyFile,
		// require_certificate is mutual TLS; use_identity_as_username makes the certificate's
		// CN (the thing name) the user the ACL's %u and "user" lines match.
		"require_certificate true",
		"use_identity_as_username true",
		"tls_version tlsv1.2",
	}
	// Started as root, mosquitto drops to the "mosquitto" user, which cannot read the state
	// dir; naming the current user keeps it as it is.
	if u, err := user.Current(); err == nil {
		lines = append([]string{"user " + u.Username}, lines...)
	}
	conf := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(conf, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write mosquitto.conf: %w", err)
	}
	p, err := startProcess("mosquitto", bin, []string{"-c", conf}, loopback(port), 10*time.Second)
	if err != nil {
		log, _ := os.ReadFile(b.LogFile)
		return nil, fmt.Errorf("%w\n%s", err, log)
	}
	b.process = p
	return b, nil
}
