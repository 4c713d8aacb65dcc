package faulttest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/consul"
	"github.com/zshard/zshard/internal/testcluster"
)

// serverBin and clientBin are server_consumer and client_producer, built
// once.
var serverBin, clientBin string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	os.Exit(testcluster.RunWithCommands(m, map[string]*string{"server_consumer": &serverBin, "client_producer": &clientBin}))
}

// cluster is a Consul agent and a `server_consumer N` supervisor.
type cluster struct {
	t     *testing.T
	agent *testcluster.Consul
	cc    *consul.Client
	sup   *testcluster.Process
}

// startCluster starts a Consul agent and `server_consumer n` on it, and
// waits until the n nodes pass.
func startCluster(t *testing.T, n int, extra ...string) *cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("starts Consul and node processes")
	}
	c := &cluster{t: t, agent: testcluster.StartConsul(t)}
	var err error
	c.cc, err = consul.New(consul.Config{Addr: c.agent.Addr})
	require.NoError(t, err)
	c.sup = testcluster.StartProcess(t, serverBin, testcluster.ServerArgs(t, n, append([]string{"--consul", c.agent.Addr}, extra...)...)...)
	c.waitPassing(n)
	return c
}

// waitPassing waits until exactly n nodes pass their health checks.
func (c *cluster) waitPassing(n int) {
	c.t.Helper()
	testcluster.Eventually(c.t, "the passing nodes to number "+string(rune('0'+n)), time.Minute, 100*time.Millisecond, func() bool {
		ms, err := c.cc.Members(context.Background())
		return err == nil && len(ms) == n
	})
}

// passing reports whether node passes its health check.
func (c *cluster) passing(node string) bool {
	ms, err := c.cc.Members(context.Background())
	require.NoError(c.t, err)
	for _, m := range ms {
		if m.Name == node {
			return true
		}
	}
	return false
}

// signal sends sig to node's process and, for SIGSTOP and SIGCONT, waits
// until Consul sees the node down or passing again.
func (c *cluster) signal(node string, sig syscall.Signal) {
	c.t.Helper()
	pid := testcluster.NodePIDs(c.t, c.sup.Pid())[node]
	require.NotZero(c.t, pid, "no process for %s", node)
	require.NoError(c.t, syscall.Kill(pid, sig))
	switch sig {
	case syscall.SIGSTOP:
		testcluster.Eventually(c.t, node+" seen down", time.Minute, 100*time.Millisecond, func() bool { return !c.passing(node) })
	case syscall.SIGCONT:
		testcluster.Eventually(c.t, node+" passing again", time.Minute, 100*time.Millisecond, func() bool { return c.passing(node) })
	}
}

// result is the outcome of one client_producer run.
type result struct {
	out, err string
	code     int
}

// cli runs client_producer against the cluster's Consul agent.
func (c *cluster) cli(args ...string) result {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, clientBin, append([]string{"--consul", c.agent.Addr}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	r := result{out: out.String(), err: errOut.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		c.t.Fatalf("client_producer %v: %v", args, err)
	}
	return r
}

// ok runs client_producer and requires it to succeed; it returns stdout.
func (c *cluster) ok(args ...string) string {
	c.t.Helper()
	r := c.cli(args...)
	require.Zero(c.t, r.code, "client_producer %v failed: %s%s", args, r.out, r.err)
	return r.out
}

// replicas returns the nodes that acknowledged `put key value` (its
// preference list, owner first).
func (c *cluster) put(key, value string, flags ...string) []string {
	c.t.Helper()
	var rep struct{ Replicas []string }
	require.NoError(c.t, json.Unmarshal([]byte(c.ok(append(flags, "--json", "put", key, value)...)), &rep))
	return rep.Replicas
}

// kvPair is a KV entry to write.
func kvPair(key, value string) *api.KVPair { return &api.KVPair{Key: key, Value: []byte(value)} }
