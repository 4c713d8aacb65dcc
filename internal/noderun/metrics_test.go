package noderun_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/metrics"
	"github.com/zshard/zshard/internal/node"
	"github.com/zshard/zshard/internal/noderun"
	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/internal/reqclient"
)

func scrapeURL(t *testing.T, url string) metrics.Families {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	f, err := metrics.Scrape(ctx, http.DefaultClient, url)
	require.NoError(t, err)
	return f
}

// TestMetricsOfDurableNode: a durable node serves its counters, the
// Pebble engine's own figures, the background repair's, and the Go
// runtime's and process's, on the bind address; stopping the node closes
// the endpoint.
func TestMetricsOfDurableNode(t *testing.T) {
	ctx := context.Background()
	s, err := noderun.Start(ctx, noderun.Config{Node: node.Config{Name: "m-0"}, DataDir: t.TempDir(), Metrics: true})
	require.NoError(t, err)
	defer s.Stop()
	url := s.MetricsURL()
	require.Regexp(t, `^http://127\.0\.0\.1:[0-9]+/metrics$`, url)

	c := reqclient.New(s.RequestEndpoint(), 20*time.Second)
	defer c.Close()
	for i := range 20 {
		_, err := c.Call(ctx, &protocol.Request{Op: protocol.OpPut, Key: fmt.Sprintf("k-%d", i), Value: []byte(`"v"`)})
		require.NoError(t, err)
	}
	f := scrapeURL(t, url)
	require.EqualValues(t, 20, f.Sum(node.MetricOps, "op", "PUT", "endpoint", "request"))
	require.EqualValues(t, 20, f.Sum(node.MetricKeys))
	require.EqualValues(t, 20, f.Histogram(node.MetricRequestDuration, "op", "PUT").Count)
	for _, name := range []string{"zshard_pebble_wal_written_bytes_total", "zshard_pebble_block_cache_bytes",
		"zshard_pebble_level_tables", "zshard_pebble_read_amplification", noderun.MetricRepairRounds,
		"go_goroutines", "process_cpu_seconds_total"} {
		require.Contains(t, f, name)
	}
	require.Positive(t, f.Sum("zshard_pebble_wal_written_bytes_total"))

	s.Stop()
	_, err = metrics.Scrape(ctx, http.DefaultClient, url)
	require.Error(t, err, "the endpoint is closed with the node")
}

// TestMetricsOff: without Config.Metrics nothing listens and the node
// serves as before.
func TestMetricsOff(t *testing.T) {
	s, err := noderun.Start(context.Background(), noderun.Config{Node: node.Config{Name: "m-1"}})
	require.NoError(t, err)
	defer s.Stop()
	require.Empty(t, s.MetricsURL())
	c := reqclient.New(s.RequestEndpoint(), 20*time.Second)
	defer c.Close()
	_, err = c.Call(context.Background(), &protocol.Request{Op: protocol.OpPing})
	require.NoError(t, err)
}

// TestMetricsPortTaken: a metrics port in use fails the start as a
// request port in use does (the supervisor does not restart such a node).
func TestMetricsPortTaken(t *testing.T) {
	first, err := noderun.Start(context.Background(), noderun.Config{Node: node.Config{Name: "m-2"}, Metrics: true})
	require.NoError(t, err)
	defer first.Stop()
	var port int
	_, err = fmt.Sscanf(first.MetricsURL(), "http://127.0.0.1:%d/metrics", &port)
	require.NoError(t, err)
	_, err = noderun.Start(context.Background(), noderun.Config{Node: node.Config{Name: "m-3"}, Metrics: true, MetricsPort: port})
	require.ErrorIs(t, err, noderun.ErrPortTaken)
}
