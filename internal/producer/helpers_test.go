package producer

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/consul"
	"github.com/zshard/zshard/internal/node"
	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/internal/testcluster"
	"github.com/zshard/zshard/layout"
)

// safety bounds waits so a broken cluster fails a test instead of hanging
// it; it is never a performance threshold.
const safety = 30 * time.Second

// nodeTTL is the health-check TTL of test nodes, Consul's default: a
// shorter one makes healthy nodes flap when heartbeats are late on a loaded
// machine. A killed node leaves the passing members within it; the tests
// wait for that (bounded by safety), they never time it.
const nodeTTL = consul.DefaultTTL

// Environment of a node child process (see TestMain).
const (
	envChildNode = "ZSHARD_PRODUCER_TEST_NODE"
	envConsul    = "ZSHARD_PRODUCER_TEST_CONSUL"
	envService   = "ZSHARD_PRODUCER_TEST_SERVICE"
)

func TestMain(m *testing.M) {
	if name := os.Getenv(envChildNode); name != "" {
		os.Exit(childNode(name))
	}
	os.Exit(m.Run())
}

// childNode runs one node registered in Consul until stdin closes; it is
// the real process the kill test kills.
func childNode(name string) int {
	n, err := node.New(node.Config{Name: name})
	if err == nil {
		err = n.Start()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "node:", err)
		return 1
	}
	svc := os.Getenv(envService)
	cc, err := consul.New(consul.Config{Addr: os.Getenv(envConsul), Service: svc, Prefix: svc + "/"})
	if err != nil {
		fmt.Fprintln(os.Stderr, "consul:", err)
		return 1
	}
	ctx := context.Background()
	reg, err := cc.Register(ctx, consul.Registration{Name: name, RepURL: n.RequestEndpoint(), PullURL: n.IngestEndpoint(), TTL: nodeTTL})
	if err != nil {
		fmt.Fprintln(os.Stderr, "register:", err)
		return 1
	}
	go reg.Run(ctx, func() error { return nil })
	fmt.Println("READY")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n') // until the test closes stdin
	_ = reg.Deregister(ctx)
	_ = n.Close()
	return 0
}

// cluster is one test's slice of a shared Consul agent: its own service name
// and KV prefix, so clusters with different settings do not meet.
type cluster struct {
	t       testing.TB
	consul  *testcluster.Consul
	service string
	cc      *consul.Client
	mu      sync.Mutex
	nodes   map[string]*node.Node
	stops   map[string]func()
}

var clusterSeq atomic.Int64

func newCluster(t testing.TB, c *testcluster.Consul) *cluster {
	t.Helper()
	svc := fmt.Sprintf("zt%d", clusterSeq.Add(1))
	cc, err := consul.New(consul.Config{Addr: c.Addr, Service: svc, Prefix: svc + "/"})
	require.NoError(t, err)
	return &cluster{t: t, consul: c, service: svc, cc: cc, nodes: map[string]*node.Node{}, stops: map[string]func(){}}
}

func (c *cluster) consulConfig() consul.Config {
	return consul.Config{Addr: c.consul.Addr, Service: c.service, Prefix: c.service + "/"}
}

// addNode starts an in-process node and registers it with a healthy
// heartbeat loop.
func (c *cluster) addNode(name string) *node.Node {
	c.t.Helper()
	return c.addNodeConfig(node.Config{Name: name})
}

// addNodeConfig is addNode with a node configuration of the test's.
func (c *cluster) addNodeConfig(cfg node.Config) *node.Node {
	t := c.t
	t.Helper()
	name := cfg.Name
	cfg.PollInterval = 10 * time.Millisecond
	n, err := node.New(cfg)
	require.NoError(t, err)
	require.NoError(t, n.Start())
	ctx, cancel := context.WithCancel(context.Background())
	reg, err := c.cc.Register(ctx, consul.Registration{Name: name, RepURL: n.RequestEndpoint(), PullURL: n.IngestEndpoint(), TTL: nodeTTL})
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		reg.Run(ctx, func() error { return nil })
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			<-done
			_ = reg.Deregister(context.Background())
			require.NoError(t, n.Close())
		})
	}
	t.Cleanup(stop)
	c.mu.Lock()
	c.nodes[name], c.stops[name] = n, stop
	c.mu.Unlock()
	return n
}

// spawnNode starts a node as a child process (this test binary) that
// registers itself; the returned process can be killed.
func (c *cluster) spawnNode(name string) *exec.Cmd {
	t := c.t
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChildNode+"="+name, envConsul+"="+c.consul.Addr, envService+"="+c.service)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err, "node %s did not start", name)
	require.Equal(t, "READY", strings.TrimSpace(line))
	return cmd
}

// waitMembers waits until Consul reports exactly the named passing members.
func (c *cluster) waitMembers(names ...string) {
	c.t.Helper()
	require.Eventually(c.t, func() bool {
		ms, err := c.cc.Members(context.Background())
		return err == nil && len(ms) == len(names) && sameNames(ms, names)
	}, safety, 20*time.Millisecond, "members %v", names)
}

func sameNames(ms []consul.Member, names []string) bool {
	set := map[string]bool{}
	for _, n := range names {
		set[n] = true
	}
	for _, m := range ms {
		if !set[m.Name] {
			return false
		}
	}
	return true
}

// producerFor starts a producer on c's cluster, stored settings from s.
func (c *cluster) producerFor(s layout.Settings, codec protocol.Codec, mod ...func(*Config)) *Producer {
	t := c.t
	t.Helper()
	cfg := Config{Consul: c.consulConfig(), Settings: s, Codec: codec}
	for _, m := range mod {
		m(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), safety)
	defer cancel()
	p, err := New(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, p.Close()) })
	return p
}

// waitTable waits until p routes over exactly n members.
func waitTable(t testing.TB, p *Producer, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		tb := p.Table()
		return tb != nil && len(tb.Nodes()) == n
	}, safety, 10*time.Millisecond, "producer placement never reached %d nodes", n)
}

func mustEncode(t testing.TB, c protocol.Codec, v any) []byte {
	t.Helper()
	b, err := EncodeValue(c, v)
	require.NoError(t, err)
	return b
}

func mustDecodeString(t testing.TB, c protocol.Codec, raw []byte) string {
	t.Helper()
	var s string
	require.NoError(t, DecodeValue(c, raw, &s))
	return s
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*safety)
	t.Cleanup(cancel)
	return ctx
}
