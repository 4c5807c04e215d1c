package mqtttest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// RequireBrokerEnv makes a missing mosquitto binary a test failure instead of a skip; the
// Makefile sets it in `make test` so that CI cannot pass by skipping.
const RequireBrokerEnv = "SMARTCITY_REQUIRE_BROKER"

// startTimeout bounds how long a broker may take to accept connections.
const startTimeout = 10 * time.Second

// Binary returns the path of the mosquitto broker, skipping the test when it is not installed
// (or failing it when RequireBrokerEnv is "1").
func Binary(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p
	}
	const debianPath = "/usr/sbin/mosquitto"
	if _, err := os.Stat(debianPath); err == nil {
		return debianPath
	}
	msg := "mosquitto not found on PATH or at " + debianPath + "; install it with `apt-get install -y mosquitto`"
	if os.Getenv(RequireBrokerEnv) == "1" {
		t.Fatal(msg + " (" + RequireBrokerEnv + "=1 requires the broker)")
	}
	t.Skip(msg)
	return ""
}

// Options configure a broker.
type Options struct {
	// CA signs the server certificate and is the only CA whose client certificates the
	// broker accepts.
	CA *CA
	// ACL is the acl_file's content. Default: an empty file, which denies every topic.
	ACL string
}

// Broker is a running mosquitto with one mutual-TLS listener on 127.0.0.1.
type Broker struct {
	// Host and Port of the TLS listener; Addr is host:port.
	Host    string
	Port    int
	Addr    string
	LogFile string
	// ConfigFile and ACLFile are the files the broker was started with.
	ConfigFile, ACLFile string
}

// Log returns the broker's log so far.
func (b *Broker) Log() string {
	data, _ := os.ReadFile(b.LogFile)
	return string(data)
}

// StartBroker starts mosquitto with require_certificate, use_identity_as_username (the client
// certificate's CN becomes the user name the ACL's %u matches), TLS 1.2 at least, the ACL, no
// persistence and a log file, waits until it accepts TCP connections and stops it when the
// test ends.
func StartBroker(t testing.TB, o Options) *Broker {
	t.Helper()
	bin := Binary(t)
	if o.CA == nil {
		t.Fatal("mqtttest: Options.CA is required")
	}
	dir := t.TempDir()
	server := o.CA.IssueServer(t, "mosquitto")
	aclFile := filepath.Join(dir, "acl")
	if err := os.WriteFile(aclFile, []byte(o.ACL), 0o600); err != nil {
		t.Fatalf("write acl file: %v", err)
	}
	// A port picked by the kernel can be taken between our probe and the broker's bind; try a
	// few before giving up.
	var lastErr error
	for attempt := range 3 {
		port, err := freePort()
		if err != nil {
			t.Fatalf("find a free port: %v", err)
		}
		b := &Broker{
			Host:    "127.0.0.1",
			Port:    port,
			Addr:    net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
			LogFile: filepath.Join(dir, fmt.Sprintf("mosquitto-%d.log", attempt)),
			ACLFile: aclFile,
		}
		b.ConfigFile = filepath.Join(dir, fmt.Sprintf("mosquitto-%d.conf", attempt))
		if err := os.WriteFile(b.ConfigFile, []byte(config(b, o.CA.CertFile, server)), 0o600); err != nil {
			t.Fatalf("write mosquitto.conf: %v", err)
		}
		lastErr = b.start(t, bin)
		if lastErr == nil {
			return b
		}
		if !strings.Contains(b.Log(), "Address already in use") {
			break
		}
	}
	t.Fatalf("start mosquitto: %v", lastErr)
	return nil
}

func config(b *Broker, caFile string, server KeyPair) string {
	lines := []string{
		"per_listener_settings false",
		"persistence false",
		"allow_anonymous false",
		"log_dest file " + b.LogFile,
		"log_type all",
		"connection_messages true",
		"acl_file " + b.ACLFile,
		"listener " + strconv.Itoa(b.Port) + " " + b.Host,
		"cafile " + caFile,
		"certfile " + server.CertFile,
		"keyfile " + server.KeyFile,
		"require_certificate true",
		"use_identity_as_username true",
		"tls_version tlsv1.2",
	}
	// Started as root, mosquitto drops to the "mosquitto" user, which cannot read the test's
	// temporary files; naming the current user keeps it as it is.
	if u, err := user.Current(); err == nil {
		lines = append([]string{"user " + u.Username}, lines...)
	}
	return strings.Join(lines, "\n") + "\n"
}

func (b *Broker) start(t testing.TB, bin string) error {
	t.Helper()
	cmd := exec.Command(bin, "-c", b.ConfigFile)
	// The broker logs to its file; stderr catches what it says before the log is open.
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("run %s: %w", bin, err)
	}
	// exited closes once the process is gone; waitErr (written before the close) says how.
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()

	deadline := time.Now().Add(startTimeout)
	for {
		conn, err := net.DialTimeout("tcp", b.Addr, 200*time.Millisecond)
		if err == nil {
			_ = conn.Close()
			break
		}
		select {
		case <-exited:
			return fmt.Errorf("mosquitto exited before listening (%v): %s%s", waitErr, stderr.String(), b.Log())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("mosquitto did not listen on %s within %v: %s", b.Addr, startTimeout, b.Log())
		}
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("mosquitto log (%s):\n%s", b.LogFile, b.Log())
		}
	})
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }()
	addr, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		return 0, errors.New("listener address is not TCP")
	}
	return addr.Port, nil
}
