package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/bench"
)

// TestPrintBenchCPU prints a result with CPU figures: the table has CPU
// per op beside each throughput it was measured for, "-" where it was not,
// and the redis lines carry theirs.
func TestPrintBenchCPU(t *testing.T) {
	cost := func(perMillion float64) *bench.CPUCost {
		return &bench.CPUCost{CPUSeconds: perMillion / 10, CPUSecondsPerMillion: perMillion, ByProcess: map[string]float64{"nodes": perMillion / 10}}
	}
	res := &bench.Result{
		Runs: []bench.RunResult{{Algorithm: "hrw", Codec: "msgpack", Storage: "memory",
			BulkPut: bench.Throughput{OpsPerSec: 435000, CPUCost: cost(4.37)},
			AckPut:  bench.Throughput{OpsPerSec: 100000},
			PipeGet: bench.Throughput{OpsPerSec: 300000, CPUCost: cost(6.5)}}},
		Redis: []bench.RedisRun{{Name: "SET -P 16 -c 50", RPS: 375000,
			CPUCost: &bench.CPUCost{CPUSecondsPerMillion: 4.06, ByProcess: map[string]float64{"redis-server": 0.3, "redis-benchmark": 0.1}}}},
	}
	var b strings.Builder
	printBench(&b, res)
	lines := strings.Split(b.String(), "\n")
	var header, row string
	for i, l := range lines {
		if strings.Contains(l, "algorithm") {
			header, row = l, lines[i+1]
		}
	}
	require.Equal(t, []string{"algorithm", "codec", "storage", "bulk", "PUT/s", "CPU/op", "ack", "PUT/s", "CPU/op", "pipelined", "GET/s", "CPU/op"},
		strings.Fields(header)[:12])
	require.Equal(t, []string{"hrw", "msgpack", "memory", "435.0k", "4.37us", "100.0k", "-", "300.0k", "6.50us"}, strings.Fields(row)[:9])
	require.Contains(t, b.String(), "375.0k req/s  4.06us CPU/op (redis-benchmark 0.10s, redis-server 0.30s)")
}
