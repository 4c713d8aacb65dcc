package metrics_test

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/consul"
	"github.com/zshard/zshard/internal/metrics"
	"github.com/zshard/zshard/internal/node"
	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/internal/reqclient"
	"github.com/zshard/zshard/internal/supervisor"
	"github.com/zshard/zshard/internal/testcluster"
)

// serverBin and clientBin are server_consumer and client_producer, built
// once for the cluster tests.
var serverBin, clientBin string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	os.Exit(testcluster.RunWithCommands(m, map[string]*string{"server_consumer": &serverBin, "client_producer": &clientBin}))
}

func scrape(t *testing.T, url string) metrics.Families {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	f, err := metrics.Scrape(ctx, http.DefaultClient, url)
	require.NoError(t, err, url)
	return f
}

// producer runs client_producer against agent and returns its output.
func producer(t *testing.T, agent *testcluster.Consul, args ...string) string {
	t.Helper()
	cmd := exec.Command(clientBin, append([]string{"--consul", agent.Addr, "-R", "0"}, args...)...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "client_producer %q: %s", args, out)
	return string(out)
}

// argValue returns the value that follows flag in args.
func argValue(t *testing.T, args []string, flag string) string {
	t.Helper()
	i := slices.Index(args, flag)
	require.GreaterOrEqual(t, i, 0, flag)
	return args[i+1]
}

// TestMetricsOfACluster is the whole story on real processes: two nodes
// under `server_consumer 2` registered in Consul with Meta "metrics";
// after 50 `client_producer put` and a `client_producer load --keys 1000`
// the nodes' /metrics, found through Meta, sum to at least those
// operations on each endpoint, the keys to 1050, with the request
// durations' buckets; each node's metrics agree with its STATS; the
// supervisor's metrics count its nodes; and `client_producer status
// --watch` shows the figures without a terminal until interrupted.
func TestMetricsOfACluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Consul and processes")
	}
	agent := testcluster.StartConsul(t)
	args := testcluster.ServerArgs(t, 2, "--consul", agent.Addr)
	testcluster.StartProcess(t, serverBin, args...)
	cc, err := consul.New(consul.Config{Addr: agent.Addr})
	require.NoError(t, err)
	var members []consul.Member
	testcluster.Eventually(t, "two nodes pass", 60*time.Second, 50*time.Millisecond, func() bool {
		members, err = cc.Members(context.Background())
		return err == nil && len(members) == 2
	})
	base, err := strconv.Atoi(argValue(t, args, "--base-metrics-port"))
	require.NoError(t, err)
	for i, m := range members {
		require.Equal(t, metrics.URL("127.0.0.1", supervisor.MetricsPort(m.Name, base)), m.MetricsURL, "Meta metrics of node-%d", i)
	}

	for i := range 50 {
		producer(t, agent, "put", fmt.Sprintf("metrics-%d", i), "v")
	}
	producer(t, agent, "load", "--keys", "1000")

	var sum struct{ putRequest, putIngest, keys, buckets float64 }
	for _, m := range members {
		f := scrape(t, m.MetricsURL)
		sum.putRequest += f.Sum(node.MetricOps, "op", "PUT", "endpoint", "request")
		sum.putIngest += f.Sum(node.MetricOps, "op", "PUT", "endpoint", "ingest")
		sum.keys += f.Sum(node.MetricKeys)
		sum.buckets += float64(len(f.Histogram(node.MetricRequestDuration, "op", "PUT").Buckets))
		require.Contains(t, f, "go_goroutines")
	}
	t.Logf("summed over the nodes: PUT request %v, PUT ingest %v, keys %v", sum.putRequest, sum.putIngest, sum.keys)
	require.GreaterOrEqual(t, sum.putRequest, 50.0)
	require.GreaterOrEqual(t, sum.putIngest, 1000.0)
	require.EqualValues(t, 1050, sum.keys)
	require.Positive(t, sum.buckets, "zshard_request_duration_seconds_bucket")

	// STATS and the metrics agree (PING and STATS aside: the heartbeat
	// pings the node meanwhile, and STATS counts itself).
	for _, m := range members {
		f := scrape(t, m.MetricsURL)
		c := reqclient.New(m.RepURL, 20*time.Second)
		rep, err := c.Call(context.Background(), &protocol.Request{Op: protocol.OpStats})
		c.Close()
		require.NoError(t, err)
		st := rep.Stats
		require.NotNil(t, st)
		for _, op := range protocol.Ops {
			if op == protocol.OpPing || op == protocol.OpStats {
				continue
			}
			require.EqualValues(t, st.Ops[op.String()], f.Sum(node.MetricOps, "op", op.String()), "%s %v", m.Name, op)
		}
		require.EqualValues(t, st.Keys, f.Sum(node.MetricKeys), m.Name)
		require.EqualValues(t, st.Bytes, f.Sum(node.MetricBytes), m.Name)
		require.EqualValues(t, st.Errors[string(protocol.CodeNotFound)], f.Sum(node.MetricErrors, "code", string(protocol.CodeNotFound)))
	}

	sup := scrape(t, metrics.URL("127.0.0.1", mustAtoi(t, argValue(t, args, "--metrics-port"))))
	require.EqualValues(t, 2, sup.Sum(supervisor.MetricNodesRunning))
	require.EqualValues(t, 1, sup.Sum(supervisor.MetricNodeRunning, "node", "node-1"))
	require.EqualValues(t, 2, sup.Sum(supervisor.MetricClaimsHeld))
	require.GreaterOrEqual(t, sup.Sum(supervisor.MetricClaimAttempts, "result", "won"), 2.0)
	require.EqualValues(t, 0, sup.Sum(supervisor.MetricRestarts))

	// status --watch, without a terminal: plain tables, one per second,
	// until Ctrl-C.
	watch := testcluster.StartProcess(t, clientBin, "--consul", agent.Addr, "status", "--watch")
	testcluster.Eventually(t, "three tables", 30*time.Second, 100*time.Millisecond, func() bool {
		return countLines(watch.Output(), "NODE") >= 3
	})
	watch.Signal(os.Interrupt)
	require.NoError(t, watch.Wait(t, 20*time.Second), "Ctrl-C ends the watch cleanly")
	out := watch.Output()
	t.Logf("client_producer status --watch:\n%s", out)
	require.NotContains(t, out, "\033[", "no terminal escapes into a pipe")
	require.Contains(t, out, "total")
	require.Regexp(t, `node-0 +ok +[0-9]+ +[0-9]+ `, out, "keys and ops/s from the metrics")
}

// TestMetricsOffOnANode: `--metrics-port 0` serves none and registers no
// Meta "metrics"; the node works as before.
func TestMetricsOffOnANode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Consul and processes")
	}
	agent := testcluster.StartConsul(t)
	p := testcluster.StartProcess(t, serverBin, "node", "--name", "solo", "--consul", agent.Addr, "--metrics-port", "0")
	cc, err := consul.New(consul.Config{Addr: agent.Addr})
	require.NoError(t, err)
	var members []consul.Member
	testcluster.Eventually(t, "the node passes", 60*time.Second, 50*time.Millisecond, func() bool {
		members, err = cc.Members(context.Background())
		return err == nil && len(members) == 1
	})
	require.Empty(t, members[0].MetricsURL)
	svcs, _, err := agent.Client.Catalog().Service("zshard", "", nil)
	require.NoError(t, err)
	require.Len(t, svcs, 1)
	require.NotContains(t, svcs[0].ServiceMeta, consul.MetaMetrics)
	c := reqclient.New(members[0].RepURL, 20*time.Second)
	defer c.Close()
	_, err = c.Call(context.Background(), &protocol.Request{Op: protocol.OpPing})
	require.NoError(t, err)
	p.Signal(os.Interrupt)
	require.NoError(t, p.Wait(t, 20*time.Second))
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	require.NoError(t, err)
	return n
}

// countLines counts the lines of s that start with prefix.
func countLines(s, prefix string) int {
	n := 0
	for line := range strings.Lines(s) {
		if strings.HasPrefix(line, prefix) {
			n++
		}
	}
	return n
}
