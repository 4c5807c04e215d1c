// Package emulatortest starts the npm emulators the tests run against (dynalite for DynamoDB,
// s3rver for S3) on free loopback ports, and finds the module root they are installed under.
// One copy for every test package that needs them.
package emulatortest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"
)

// ModuleRoot is the directory of the module's go.mod, found from this file, so tests run from
// any working directory.
func ModuleRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the emulatortest source file")
	}
	for dir := filepath.Dir(file); ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		if dir == filepath.Dir(dir) {
			t.Fatal("go.mod not found above " + file)
		}
	}
}

// Start runs the npm tool name (for example "dynalite") with args(port) on a free loopback
// port, waits until it listens, stops it when the test ends, and returns its http:// URL. The
// tool comes from node_modules/.bin at the module root (as the Makefile puts it first on
// PATH), else from PATH. When it is missing the test is skipped, or fails under
// SMARTCITY_REQUIRE_EMULATORS=1 (make test sets it).
func Start(t testing.TB, name string, args func(port int) []string) string {
	t.Helper()
	root := ModuleRoot(t)
	bin := filepath.Join(root, "node_modules", ".bin", name)
	if _, err := os.Stat(bin); err != nil {
		if bin, err = exec.LookPath(name); err != nil {
			msg := fmt.Sprintf("%s not installed (not in node_modules/.bin nor on PATH): run `npm ci` at the module root (make node-deps); package.json pins dynalite and s3rver", name)
			if os.Getenv("SMARTCITY_REQUIRE_EMULATORS") == "1" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
	node := filepath.Join(filepath.Dir(bin), "node")
	if _, err := os.Stat(node); err != nil {
		if node, err = exec.LookPath("node"); err != nil {
			t.Fatalf("no node to run %s: %v", name, err)
		}
	}
	port := FreePort(t)
	out := &syncBuffer{}
	cmd := exec.Command(node, append([]string{bin}, args(port)...)...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close()
			return "http://" + addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not listen on %s: %v\n%s", name, addr, err, out.String())
		}
	}
}

// Dynalite starts dynalite with table operations that complete at once.
func Dynalite(t testing.TB) string {
	t.Helper()
	return Start(t, "dynalite", func(port int) []string {
		return []string{"--host", "127.0.0.1", "--port", strconv.Itoa(port), "--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0"}
	})
}

// FreePort is a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

// syncBuffer collects an emulator's output for failure messages.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
