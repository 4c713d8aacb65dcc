package bench

import (
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestNewCPUCost(t *testing.T) {
	c := newCPUCost(2_000_000, map[string]time.Duration{"nodes": 3 * time.Second, "producer": 1500 * time.Millisecond})
	require.InDelta(t, 4.5, c.CPUSeconds, 1e-9)
	require.InDelta(t, 2.25, c.CPUSecondsPerMillion, 1e-9)
	require.Equal(t, map[string]float64{"nodes": 3, "producer": 1.5}, c.ByProcess)
	require.Nil(t, newCPUCost(0, map[string]time.Duration{"producer": time.Second}))
}

// TestCPUJSON checks where the CPU figures sit in the --json document: in
// each phase object of each run, in each redis run, and at the top as
// redis_cpu; a phase without a figure has none of the keys.
func TestCPUJSON(t *testing.T) {
	cost := &CPUCost{CPUSeconds: 4, CPUSecondsPerMillion: 4, ByProcess: map[string]float64{"nodes": 3, "producer": 1}}
	redis := []RedisRun{
		{Name: "SET -P 16 -c 50 (AOF always)", RPS: 1, CPUCost: &CPUCost{CPUSecondsPerMillion: 9}},
		{Name: "SET -c 50", RPS: 1, CPUCost: &CPUCost{CPUSecondsPerMillion: 8}},
		{Name: "SET -P 16 -c 50", RPS: 1, CPUCost: &CPUCost{CPUSecondsPerMillion: 3.5, ByProcess: map[string]float64{"redis-server": 2, "redis-benchmark": 1.5}}},
	}
	res := Result{
		Runs:     []RunResult{{BulkPut: Throughput{Ops: 1e6, CPUCost: cost}, AckPut: Throughput{CPUCost: cost}, PipeGet: Throughput{CPUCost: cost}}},
		Redis:    redis,
		RedisCPU: redisCPU(redis),
	}
	b, err := json.Marshal(res)
	require.NoError(t, err)
	var doc struct {
		Runs     []map[string]json.RawMessage `json:"runs"`
		Redis    []map[string]any             `json:"redis"`
		RedisCPU map[string]any               `json:"redis_cpu"`
	}
	require.NoError(t, json.Unmarshal(b, &doc))
	phase := func(name string) map[string]any {
		var p map[string]any
		require.NoError(t, json.Unmarshal(doc.Runs[0][name], &p), name)
		return p
	}
	for _, name := range []string{"bulk_put", "ack_put", "pipelined_get"} {
		p := phase(name)
		require.Equal(t, 4.0, p["cpu_seconds_per_million"], name)
		require.Equal(t, 4.0, p["cpu_seconds"], name)
		require.Equal(t, map[string]any{"nodes": 3.0, "producer": 1.0}, p["cpu_seconds_by_process"], name)
	}
	require.Equal(t, 1e6, phase("bulk_put")["ops"])
	require.NotContains(t, phase("get"), "cpu_seconds_per_million")
	require.Contains(t, phase("get"), "p50_ns")
	require.Equal(t, 8.0, doc.Redis[1]["cpu_seconds_per_million"])
	require.Equal(t, "SET -P 16 -c 50", doc.RedisCPU["name"])
	require.Equal(t, 3.5, doc.RedisCPU["cpu_seconds_per_million"])
	require.Equal(t, map[string]any{"redis-server": 2.0, "redis-benchmark": 1.5}, doc.RedisCPU["cpu_seconds_by_process"])

	require.Nil(t, redisCPU(redis[:2]), "no SET -P 16 -c 50 without AOF")
	require.Nil(t, redisCPU([]RedisRun{{Name: redisCPURun}}), "not measured")
}

func TestRedisArgs(t *testing.T) {
	args := strings.Join(redisArgs(6400, 5000, 100, redisSpec{"SET -P 16 -c 50", "set", "-P 16 -c 50"}), " ")
	require.Equal(t, "-h 127.0.0.1 -p 6400 -t set -n 5000 -r 5000 -d 100 --csv -P 16 -c 50", args)
}

// TestRedisBench runs redis-benchmark against a real redis-server, if one
// is installed: every run has its rate and its CPU cost, over a key space
// as large as the run.
func TestRedisBench(t *testing.T) {
	for _, p := range []string{"redis-server", "redis-benchmark"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("%s not installed (scripts/bootstrap.sh --bench installs it)", p)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	runs, err := redisBench(ctx, 2000, 100, "", redisRuns)
	require.NoError(t, err)
	require.Len(t, runs, len(redisRuns))
	for _, r := range runs {
		require.Positive(t, r.RPS, r.Name)
		require.Contains(t, r.Args, " -r 2000 ", r.Name)
		require.NotNil(t, r.CPUCost, r.Name)
		require.Positive(t, r.ByProcess["redis-benchmark"], r.Name)
		require.Contains(t, r.ByProcess, "redis-server", r.Name)
		require.InDelta(t, r.ByProcess["redis-benchmark"]+r.ByProcess["redis-server"], r.CPUSeconds, 1e-9, r.Name)
	}
	require.NotNil(t, redisCPU(runs))
}
