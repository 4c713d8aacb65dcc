package testcluster

import (
	"bytes"
	"context"
	cryptorand "crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
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
	// Addr is the agent's HTTP address, host:port, as CONSUL_HTTP_ADDR
	// takes it; https://host:port for an agent started with TLS.
	Addr string
	// Client is an API client for Addr, ready to use: the agent has a
	// leader. With ACLs on it sends the management token; with TLS it
	// verifies the agent and presents a client certificate.
	Client *api.Client
	// ManagementToken is the secret of the agent's management token, with
	// ACLs on; empty otherwise.
	ManagementToken string
	// TLS holds the certificate files, with TLS on; zero otherwise.
	TLS ConsulTLS

	bin     string
	args    []string
	agent   *proc.Process
	logPath string
}

// ConsulOptions select how a test agent is secured. The zero value is a
// plain dev agent: HTTP, no ACLs.
type ConsulOptions struct {
	// ACL turns ACLs on with default_policy "deny": a request without a
	// token is the anonymous token's, which may do nothing. The agent's
	// own token is the management token.
	ACL bool
	// TLS serves the HTTP API over HTTPS only, with a certificate from
	// `consul tls ca create` and `consul tls cert create -server`, and
	// requires client certificates (from `consul tls cert create -client`).
	TLS bool
}

// ConsulTLS names the PEM files of an agent started with TLS.
type ConsulTLS struct {
	CAFile   string // the CA that signed the agent's and the client's certificates
	CertFile string // a client certificate the agent accepts
	KeyFile  string // its key
}

// StartConsul starts a Consul dev agent on free loopback ports, waits until
// it has elected itself leader, and registers its shutdown with t.Cleanup.
// It skips the test under -short.
func StartConsul(t testing.TB) *Consul {
	t.Helper()
	return StartConsulWith(t, ConsulOptions{})
}

// StartConsulWith is StartConsul with ACLs and TLS as opts asks.
func StartConsulWith(t testing.TB, opts ConsulOptions) *Consul {
	t.Helper()
	if testing.Short() {
		t.Skip("skipping: needs a real Consul agent (runs without -short)")
	}
	bin, err := ConsulBinary()
	if err != nil {
		t.Fatal(err)
	}
	c, err := startConsul(bin, t.TempDir(), opts)
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

func startConsul(bin, dir string, opts ConsulOptions) (*Consul, error) {
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
			"-serf-lan-port", strconv.Itoa(serfLAN),
			"-server-port", strconv.Itoa(server),
			// Ports no test uses are switched off, so nothing else can clash.
			"-serf-wan-port", "-1", "-dns-port", "-1",
			"-grpc-port", "-1", "-grpc-tls-port", "-1",
		},
	}
	// The client of the test: the CONSUL_* variables of the test's
	// environment must not change what it talks to.
	cfg := &api.Config{Address: c.Addr, Scheme: "http"}
	var hcl []string
	if opts.ACL {
		c.ManagementToken = newUUID()
		cfg.Token = c.ManagementToken
		hcl = append(hcl, fmt.Sprintf(`acl {
  enabled = true
  default_policy = "deny"
  tokens { initial_management = %q  agent = %q }
}`, c.ManagementToken, c.ManagementToken))
	}
	if opts.TLS {
		if c.TLS, err = makeCerts(bin, filepath.Join(dir, "tls")); err != nil {
			return nil, err
		}
		certs := filepath.Join(dir, "tls")
		hcl = append(hcl, fmt.Sprintf(`ports { http = -1  https = %d }
tls {
  defaults {
    ca_file = %q
    cert_file = %q
    key_file = %q
  }
  https { verify_incoming = true }
}`, httpPort, c.TLS.CAFile, filepath.Join(certs, "dc1-server-consul-0.pem"), filepath.Join(certs, "dc1-server-consul-0-key.pem")))
		c.Addr = "https://" + c.Addr
		cfg.Address, cfg.Scheme = c.Addr, "https"
		cfg.TLSConfig = api.TLSConfig{CAFile: c.TLS.CAFile, CertFile: c.TLS.CertFile, KeyFile: c.TLS.KeyFile}
	} else {
		c.args = append(c.args, "-http-port", strconv.Itoa(httpPort))
	}
	if len(hcl) > 0 {
		conf := filepath.Join(dir, "secure.hcl")
		if err := os.WriteFile(conf, []byte(strings.Join(hcl, "\n")+"\n"), 0o600); err != nil {
			return nil, err
		}
		c.args = append(c.args, "-config-file", conf)
	}
	// A transport of its own, without TLS settings yet (the shared default
	// transport gets some once used): NewHttpClient adds cfg's.
	if cfg.HttpClient, err = api.NewHttpClient(api.DefaultConfig().Transport, cfg.TLSConfig); err != nil {
		return nil, err
	}
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
// ago (proc.FreePorts). Tests that bind ZeroMQ sockets should prefer binding
// port 0 and reading the endpoint back.
func FreePorts(n int) ([]int, error) { return proc.FreePorts(n) }

// makeCerts makes, in dir, a CA, a server certificate for the agent
// (valid for 127.0.0.1 and localhost) and a client certificate, as the
// Consul documentation does: `consul tls ca create`, `consul tls cert
// create -server` and `consul tls cert create -client`.
func makeCerts(bin, dir string) (ConsulTLS, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return ConsulTLS{}, err
	}
	for _, args := range [][]string{
		{"tls", "ca", "create"},
		{"tls", "cert", "create", "-server", "-dc", "dc1"},
		{"tls", "cert", "create", "-client", "-dc", "dc1"},
	} {
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return ConsulTLS{}, fmt.Errorf("consul %s: %w\n%s", strings.Join(args, " "), err, out)
		}
	}
	return ConsulTLS{
		CAFile:   filepath.Join(dir, "consul-agent-ca.pem"),
		CertFile: filepath.Join(dir, "dc1-client-consul-0.pem"),
		KeyFile:  filepath.Join(dir, "dc1-client-consul-0-key.pem"),
	}, nil
}

// CreateToken creates, on an agent started with ACLs, a policy called name
// with the given HCL rules and a token holding it, and returns the token's
// secret. It fails the test on error.
func (c *Consul) CreateToken(t testing.TB, name, rules string) string {
	t.Helper()
	acl := c.Client.ACL()
	pol, _, err := acl.PolicyCreate(&api.ACLPolicy{Name: name, Rules: rules}, nil)
	if err != nil {
		t.Fatalf("creating policy %s: %v", name, err)
	}
	tok, _, err := acl.TokenCreate(&api.ACLToken{Description: name, Policies: []*api.ACLTokenPolicyLink{{ID: pol.ID}}}, nil)
	if err != nil {
		t.Fatalf("creating a token for policy %s: %v", name, err)
	}
	return tok.SecretID
}

// newUUID returns a random UUID, the form Consul's tokens take.
func newUUID() string {
	var b [16]byte
	_, _ = cryptorand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
