package bench

import (
	"context"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/consul"
	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/internal/testcluster"
)

func TestParseRedisCSV(t *testing.T) {
	out := []byte("\"test\",\"rps\",\"avg_latency_ms\"\n\"SET\",\"81234.56\",\"0.300\"\n")
	rps, err := parseRedisCSV(out, "SET")
	require.NoError(t, err)
	require.InDelta(t, 81234.56, rps, 1e-6)
	_, err = parseRedisCSV(out, "GET")
	require.Error(t, err)
}

func TestLatencyQuantiles(t *testing.T) {
	var s []time.Duration
	for i := 1000; i >= 1; i-- {
		s = append(s, time.Duration(i))
	}
	l := latency(s, time.Second)
	require.Equal(t, time.Duration(500), l.P50)
	require.Equal(t, time.Duration(990), l.P99)
	require.Equal(t, time.Duration(999), l.P999)
	require.Equal(t, 1000, l.Ops)
}

func TestGoals(t *testing.T) {
	res := &Result{
		Runs: []RunResult{
			{Algorithm: "hrw", Codec: "msgpack", BulkPut: Throughput{OpsPerSec: 500}, PipeGet: Throughput{OpsPerSec: 40}, Get: Latency{P50: 110}, Echo: Latency{P50: 100}},
			{Algorithm: "hrw", Codec: "json", BulkPut: Throughput{OpsPerSec: 300}, PipeGet: Throughput{OpsPerSec: 60}, Get: Latency{P50: 130}, Echo: Latency{P50: 50}},
		},
		ReqRep: &Latency{P50: 100},
		Redis:  []RedisRun{{Name: "SET -P 16 -c 50", RPS: 1000}, {Name: "SET -c 50", RPS: 100}, {Name: "GET -P 16 -c 50", RPS: 100}},
	}
	g := goals(res)
	require.Len(t, g, 5, "no CPU figures: no CPU goal")
	require.InDelta(t, 0.5, g[0].Ratio, 1e-9)
	require.False(t, g[0].Met)
	require.InDelta(t, 3.0, g[1].Ratio, 1e-9)
	require.True(t, g[1].Met)
	require.Equal(t, "JSON bulk PUT ops/s vs msgpack bulk PUT", g[2].Name)
	require.InDelta(t, 0.6, g[2].Ratio, 1e-9)
	require.False(t, g[2].Met, "target 0.9x")
	require.InDelta(t, 0.6, g[3].Ratio, 1e-9) // best codec
	require.False(t, g[3].Met, "target 1.0x")
	require.InDelta(t, 1.1, g[4].Ratio, 1e-9) // the run with the best p50, against its own paired echo
	require.True(t, g[4].Met)

	res.Runs[0].BulkPut.CPUCost = &CPUCost{CPUSecondsPerMillion: 5}
	res.Runs[1].BulkPut.CPUCost = &CPUCost{CPUSecondsPerMillion: 3}
	res.Runs = append(res.Runs, RunResult{Algorithm: "hrw", Codec: "msgpack", Storage: "always", BulkPut: Throughput{CPUCost: &CPUCost{CPUSecondsPerMillion: 1}}})
	res.RedisCPU = &RedisCPU{Name: "SET -P 16 -c 50", CPUCost: CPUCost{CPUSecondsPerMillion: 4}}
	g = goals(res)
	require.Len(t, g, 6)
	require.Contains(t, g[5].Name, "json bulk PUT CPU/op")
	require.InDelta(t, 0.75, g[5].Ratio, 1e-9, "the cheapest in-memory run")
	require.True(t, g[5].Lower)
	require.True(t, g[5].Met)
}

// runBench runs the benchmark as cfg says against a real Consul agent of
// its own.
func runBench(t *testing.T, cfg Config) *Result {
	t.Helper()
	c := testcluster.StartConsul(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg.Consul = consul.Config{Addr: c.Addr}
	res, err := Run(ctx, cfg)
	require.NoError(t, err)
	return res
}

// storedKeys returns the keys held over all nodes of a run.
func storedKeys(r RunResult) int64 {
	var sum int64
	for _, n := range r.KeysPerNode {
		sum += n
	}
	return sum
}

// TestRunSmall runs the whole benchmark on a tiny key set with in-process
// nodes against a real Consul agent: every phase must answer every key.
func TestRunSmall(t *testing.T) {
	res := runBench(t, Config{
		Keys: 3000, Nodes: 3, Replicas: 1, LatencyOps: 500,
		Algorithms: []string{"consistent", "hrw"}, Codecs: []protocol.Codec{protocol.JSON, protocol.Msgpack},
		Baselines: true,
	})
	require.Len(t, res.Runs, 4)
	for _, r := range res.Runs {
		require.Zero(t, r.Errors)
		require.Equal(t, int64(3000*2), storedKeys(r), "%s/%s: every key on R+1 nodes", r.Algorithm, r.Codec)
		require.Positive(t, r.BulkPut.OpsPerSec)
		require.Equal(t, 500, r.Get.Ops)
		require.Equal(t, 500, r.Echo.Ops)
		for _, phase := range []Throughput{r.BulkPut, r.AckPut, r.PipeGet} {
			require.NotNil(t, phase.CPUCost)
			// The nodes run in this process: all of it is the producer's.
			require.Equal(t, []string{"producer"}, slices.Collect(maps.Keys(phase.ByProcess)))
			require.Positive(t, phase.CPUSecondsPerMillion)
		}
		require.Nil(t, r.Get.CPUCost)
	}
	require.NotNil(t, res.PushPull.CPUCost)
	require.NotNil(t, res.ReqRep)
	require.NotNil(t, res.PushPull)
	// No redis asked: only the goals without it, JSON against msgpack and
	// the latency.
	require.Len(t, res.Goals, 2)
	require.Equal(t, "JSON bulk PUT ops/s vs msgpack bulk PUT", res.Goals[0].Name)
	require.Contains(t, res.Goals[1].Name, "one-at-a-time GET_ONE p50")
}

func TestDurableGoals(t *testing.T) {
	res := &Result{
		Runs: []RunResult{
			{Algorithm: "hrw", Codec: "msgpack", Storage: StorageMemory, BulkPut: Throughput{OpsPerSec: 1000}},
			{Algorithm: "hrw", Codec: "msgpack", Storage: "batch", BulkPut: Throughput{OpsPerSec: 400}},
			{Algorithm: "hrw", Codec: "msgpack", Storage: "always", BulkPut: Throughput{OpsPerSec: 300}},
		},
		Redis: []RedisRun{{Name: "SET -P 16 -c 50", RPS: 900}, {Name: "SET -P 16 -c 50 (AOF always)", RPS: 200}},
	}
	g := goals(res)
	require.Len(t, g, 3)
	require.InDelta(t, 1000.0/900, g[0].Ratio, 1e-9, "the in-memory run alone")
	require.False(t, g[0].Met, "target 1.5x")
	require.InDelta(t, 1.5, g[1].Ratio, 1e-9)
	require.True(t, g[1].Met)
	require.InDelta(t, 0.4, g[2].Ratio, 1e-9)
	require.False(t, g[2].Met)
}

// TestRunDurable runs the bulk and pipelined phases on durable in-process
// nodes with each sync policy: every key is answered.
func TestRunDurable(t *testing.T) {
	res := runBench(t, Config{
		Keys: 2000, Nodes: 2, LatencyOps: 100,
		Algorithms: []string{"hrw"}, Codecs: []protocol.Codec{protocol.Msgpack},
		Storage: []string{StorageMemory, "none", "batch", "always"},
	})
	require.Len(t, res.Runs, 4)
	for _, r := range res.Runs {
		require.Zero(t, r.Errors, r.Storage)
		require.Equal(t, int64(2000), storedKeys(r), r.Storage)
	}
}
