package noderun_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/consul"
	"github.com/zshard/zshard/internal/node"
	"github.com/zshard/zshard/internal/noderun"
	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/internal/reqclient"
	"github.com/zshard/zshard/internal/testcluster"
)

// safety bounds a call to a node that answers, so a broken node fails a
// test instead of hanging it; it is never a performance threshold.
const safety = 20 * time.Second

func ping(t *testing.T, endpoint string) string {
	t.Helper()
	c := reqclient.New(endpoint, safety)
	defer c.Close()
	rep, err := c.Call(context.Background(), &protocol.Request{Op: protocol.OpPing})
	require.NoError(t, err)
	return rep.Node
}

// TestStartWithoutConsul: without Consul the node serves, writes its Ready
// line with the bound endpoints, and Stop (safe twice) closes it.
func TestStartWithoutConsul(t *testing.T) {
	var ready bytes.Buffer
	s, err := noderun.Start(context.Background(), noderun.Config{Node: node.Config{Name: "solo", Bind: "127.0.0.1"}, Ready: &ready})
	require.NoError(t, err)
	require.Equal(t, "solo", s.Name())
	require.Equal(t, fmt.Sprintf("READY solo %s %s\n", s.RequestEndpoint(), s.IngestEndpoint()), ready.String())
	require.Equal(t, "solo", ping(t, s.RequestEndpoint()))
	s.Stop()
	s.Stop()
}

// TestRunUntilCancelled: Run serves until its context ends, then returns
// nil.
func TestRunUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	done := make(chan error, 1)
	go func() {
		done <- noderun.Run(ctx, noderun.Config{Node: node.Config{Name: "run", Bind: "127.0.0.1"}, Ready: w})
		w.Close()
	}()
	var name, rep, pull string
	_, err = fmt.Fscanf(r, "READY %s %s %s\n", &name, &rep, &pull)
	require.NoError(t, err)
	require.Equal(t, "run", ping(t, rep))
	cancel()
	require.NoError(t, <-done)
}

// TestDataDirOpenedAndClosed: with a data directory and no store, the run
// opens the durable store there and closes it on Stop, so the next run on
// the same directory reads what the first wrote.
func TestDataDirOpenedAndClosed(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	for i, want := range []bool{false, true} {
		s, err := noderun.Start(ctx, noderun.Config{Node: node.Config{Name: "d", Bind: "127.0.0.1"}, DataDir: dir})
		require.NoError(t, err, "run %d", i)
		c := reqclient.New(s.RequestEndpoint(), safety)
		rep, err := c.Call(ctx, &protocol.Request{Op: protocol.OpGetOne, Key: "k"})
		if want {
			require.NoError(t, err)
			require.JSONEq(t, `"v"`, string(rep.Value))
		} else {
			require.Error(t, err, "nothing stored yet")
			_, err = c.Call(ctx, &protocol.Request{Op: protocol.OpPut, Key: "k", Value: []byte(`"v"`)})
			require.NoError(t, err)
		}
		c.Close()
		s.Stop()
	}
}

func TestStartErrors(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	taken := l.Addr().(*net.TCPAddr).Port
	notDir := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(notDir, []byte("x"), 0o600))

	t.Run("port taken", func(t *testing.T) {
		_, err := noderun.Start(context.Background(), noderun.Config{Node: node.Config{Name: "p", Bind: "127.0.0.1", RequestPort: taken}})
		require.ErrorIs(t, err, noderun.ErrPortTaken)
	})
	t.Run("data directory", func(t *testing.T) {
		_, err := noderun.Start(context.Background(), noderun.Config{Node: node.Config{Name: "p", Bind: "127.0.0.1"}, DataDir: notDir})
		var se *noderun.StoreError
		require.ErrorAs(t, err, &se)
		require.Equal(t, notDir, se.Dir)
	})
}

// TestRegisteredUntilStopped: with Consul the node registers its endpoints
// once serving, heartbeats while it answers its own PING, and Stop
// deregisters it.
func TestRegisteredUntilStopped(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	agent := testcluster.StartConsul(t)
	cc, err := consul.New(consul.Config{Addr: agent.Addr})
	require.NoError(t, err)
	// Bind left empty: the node's default address is the one registered
	// and pinged.
	s, err := noderun.Start(context.Background(), noderun.Config{Node: node.Config{Name: "reg"}, Consul: cc})
	require.NoError(t, err)
	m, ok := member(t, cc, "reg")
	require.True(t, ok, "registered before Start returns")
	require.True(t, m.Ready, "in memory: nothing to catch up")
	require.Equal(t, s.RequestEndpoint(), m.RepURL)
	require.Equal(t, "tcp://"+node.DefaultBind, s.RequestEndpoint()[:len("tcp://"+node.DefaultBind)])
	require.Equal(t, s.IngestEndpoint(), m.PullURL)
	// A beat sets the check's output to "serving" (empty at registration)
	// only once the node has answered its PING.
	eventually(t, "a heartbeat after a PING", func() bool {
		checks, err := agent.Client.Agent().Checks()
		require.NoError(t, err)
		c := checks[consul.CheckID("reg")]
		return c != nil && c.Status == "passing" && c.Output == "serving"
	})
	s.Stop()
	_, ok = member(t, cc, "reg")
	require.False(t, ok, "deregistered")
}
