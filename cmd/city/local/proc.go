package local

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// process is a child the city started and must stop: every child runs in its own process
// group, so stopping it also stops what it started (node's workers), and nothing else.
type process struct {
	name   string
	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan error
}

// syncBuffer keeps the last bytes of a child's output for error messages.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() > 64<<10 {
		b.buf.Next(b.buf.Len() - 32<<10)
	}
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startProcess runs bin with args and waits until addr accepts TCP connections.
func startProcess(name, bin string, args []string, addr string, timeout time.Duration) (*process, error) {
	p := &process{name: name, out: &syncBuffer{}, exited: make(chan error, 1)}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	// Its own process group keeps a terminal's Ctrl-C from reaching it before the city stops
	// it in order; Pdeathsig kills it if the city itself dies (a test binary's timeout panic),
	// so no broker or emulator outlives its parent.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s (%s): %w", name, bin, err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			_ = c.Close()
			return p, nil
		}
		select {
		case err := <-p.exited:
			p.exited <- err
			return nil, fmt.Errorf("%s exited before listening on %s (%v): %s", name, addr, err, p.out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("%s did not listen on %s within %v: %s", name, addr, timeout, p.out.String())
		}
	}
}

// stop sends SIGTERM to the child's process group and SIGKILL after 5 s.
func (p *process) stop() {
	if p == nil || p.cmd.Process == nil {
		return
	}
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case err := <-p.exited:
		p.exited <- err
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		err := <-p.exited
		p.exited <- err
	}
}

// freePort asks the kernel for a free loopback port.
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

func loopback(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// findMosquitto returns the broker binary: on PATH or where Debian installs it.
func findMosquitto() (string, error) {
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p, nil
	}
	const debianPath = "/usr/sbin/mosquitto"
	if _, err := os.Stat(debianPath); err == nil {
		return debianPath, nil
	}
	return "", errors.New("mosquitto not found on PATH or at " + debianPath + ": run `make broker` (or apt-get install -y mosquitto)")
}

// nodeTool returns node and the script of an npm tool under root/node_modules/.bin.
func nodeTool(root, name string) (node, script string, err error) {
	script = filepath.Join(root, "node_modules", ".bin", name)
	if _, err := os.Stat(script); err != nil {
		return "", "", fmt.Errorf("%s not installed (%v): run `make node-deps` at the module root", name, err)
	}
	node = filepath.Join(root, "node_modules", ".bin", "node")
	if _, err := os.Stat(node); err != nil {
		if node, err = exec.LookPath("node"); err != nil {
			return "", "", fmt.Errorf("no node to run %s: %w", name, err)
		}
	}
	return node, script, nil
}
