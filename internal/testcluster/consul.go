package testcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/zshard/zshard/internal/proc"
)

// ConsulBinEnv names the environment variable that overrides where the
// Consul binary is looked up. By default it is <module root>/bin/consul,
// which `make tools` builds.
const ConsulBinEnv = "ZSHARD_CONSUL_BIN"

// Consul is a running Consul dev agent owned by one test.
type Consul struct {
	// Addr is the agent's HTTP address, host:port, as CONSUL_HTTP_ADDR takes it.
	Addr string
	// Client is an API client for Addr, ready to use: the agent has a leader.
	Client *api.Client

	bin     string
	args    []string
	agent   *proc.Process
	logPath string
}

// StartConsul starts a Consul dev agent on free loopback ports, waits until
// it has elected itself leader, and registers its shutdown with t.Cleanup.
// It skips the test under -short.
func StartConsul(t testing.TB) *Consul {
	t.Helper()
	if testing.Short() {
		t.Skip("skipping: needs a real Consul agent (runs without -short)")
	}
	bin, err := ConsulBinary()
	if err != nil {
		t.Fatal(err)
	}
	c, err := startConsul(bin, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.stop(); err != nil {
			t.Errorf("stopping consul: %v", err)
		}
		if t.Failed() {
			c.dumpLog(t)
		}
	})
	return c
}

// ConsulBinary returns the path of the Consul binary tests run, or an error
// that says how to build it.
func ConsulBinary() (string, error) {
	if p := os.Getenv(ConsulBinEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w", ConsulBinEnv, p, err)
		}
		return p, nil
	}
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	p := filepath.Join(root, "bin", "consul")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("consul binary not found at %s: build it with `make tools` "+
			"(about 3 minutes the first time), or set %s to a consul binary", p, ConsulBinEnv)
	}
	return p, nil
}

// ModuleRoot returns the directory holding the zshard go.mod, found by
// walking up from the working directory (go test runs in the package dir).
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.HasPrefix(data, []byte("module github.com/zshard/zshard\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("cannot find the zshard module root (go.mod) above the working directory")
		}
		dir = parent
	}
}

func startConsul(bin, dir string) (*Consul, error) {
	ports, err := FreePorts(4)
	if err != nil {
		return nil, err
	}
	httpPort, serfLAN, server := ports[0], ports[1], ports[2]
	c := &Consul{
		Addr:    net.JoinHostPort("127.0.0.1", strconv.Itoa(httpPort)),
		bin:     bin,
		logPath: filepath.Join(dir, "consul.log"),
		args: []string{"agent", "-dev",
			"-bind", "127.0.0.1", "-client", "127.0.0.1",
			"-node", "zshard-test-" + strconv.Itoa(ports[3]),
			"-http-port", strconv.Itoa(httpPort),
			"-serf-lan-port", strconv.Itoa(serfLAN),
			"-server-port", strconv.Itoa(server),
			// Ports no test uses are switched off, so nothing else can clash.
			"-serf-wan-port", "-1", "-dns-port", "-1",
			"-grpc-port", "-1", "-grpc-tls-port", "-1",
		},
	}
	cfg := api.DefaultConfig()
	cfg.Address = c.Addr
	if c.Client, err = api.NewClient(cfg); err != nil {
		return nil, err
	}
	if err := c.launch(); err != nil {
		return nil, err
	}
	return c, nil
}

// launch starts the agent process and waits until it is ready.
func (c *Consul) launch() error {
	logFile, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close() // the child keeps its own descriptor

	agent, err := proc.Start(proc.Config{Path: c.bin, Args: c.args, Stdout: logFile, Stderr: logFile,
		// DeathSignal: a test binary killed by `go test -timeout` runs no
		// cleanup; its agents must not outlive it.
		Group: true, DeathSignal: syscall.SIGKILL})
	if err != nil {
		return fmt.Errorf("starting %s: %w", c.bin, err)
	}
	c.agent = agent

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := c.waitLeader(ctx); err != nil {
		_ = c.stop()
		return fmt.Errorf("consul agent at %s: %w\n%s", c.Addr, err, c.tail(4096))
	}
	return nil
}

// Restart stops the agent and starts it again on the same ports. A dev
// agent keeps nothing: services, checks, sessions and KV are gone
// afterwards, which is what clients must survive.
func (c *Consul) Restart(t testing.TB) {
	t.Helper()
	if err := c.stop(); err != nil {
		t.Fatalf("stopping consul for a restart: %v", err)
	}
	if err := c.launch(); err != nil {
		t.Fatalf("restarting consul: %v", err)
	}
}

// waitLeader polls until the agent reports a raft leader and serves KV.
// A dev agent elects itself within a few seconds.
func (c *Consul) waitLeader(ctx context.Context) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		select {
		case <-c.agent.Done():
			return errors.New("agent exited before it was ready")
		case <-ctx.Done():
			return fmt.Errorf("no leader in time (last error: %v)", last)
		case <-tick.C:
		}
		leader, err := c.Client.Status().Leader()
		if err != nil || leader == "" {
			last = err
			continue
		}
		// A leader is elected a moment before the KV store takes reads.
		if _, _, err := c.Client.KV().Get("zshard/.ready", nil); err != nil {
			last = err
			continue
		}
		return nil
	}
}

// stop interrupts the agent (it leaves gracefully), and kills its process
// group if it has not exited after ten seconds.
func (c *Consul) stop() error {
	if err := c.agent.Stop(syscall.SIGINT, 10*time.Second); errors.Is(err, proc.ErrKilled) {
		return errors.New("agent ignored SIGINT for 10s and was killed")
	}
	return nil
}

func (c *Consul) tail(n int) string {
	data, err := os.ReadFile(c.logPath)
	if err != nil {
		return ""
	}
	if len(data) > n {
		data = data[len(data)-n:]
	}
	return string(data)
}

func (c *Consul) dumpLog(t testing.TB) {
	t.Helper()
	t.Logf("consul agent log (last 8 KiB):\n%s", strings.TrimSpace(c.tail(8192)))
}

// FreePorts returns n distinct TCP ports that were free on 127.0.0.1 a moment
// ago. Another process may take one before it is used; tests that bind
// ZeroMQ sockets should prefer binding port 0 and reading the endpoint back.
func FreePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
