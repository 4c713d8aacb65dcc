package bench

import (
	"math"
	"slices"
	"time"
)

// Throughput is a count of operations over a duration and, when it was
// measured, their CPU cost.
type Throughput struct {
	Ops       int     `json:"ops"`
	Seconds   float64 `json:"seconds"`
	OpsPerSec float64 `json:"ops_per_sec"`
	*CPUCost
}

func throughput(n int, d time.Duration) Throughput {
	return Throughput{Ops: n, Seconds: d.Seconds(), OpsPerSec: float64(n) / d.Seconds()}
}

// Latency summarises one-at-a-time operations.
type Latency struct {
	Throughput
	P50  time.Duration `json:"p50_ns"`
	P99  time.Duration `json:"p99_ns"`
	P999 time.Duration `json:"p999_ns"`
}

func latency(samples []time.Duration, total time.Duration) Latency {
	slices.Sort(samples)
	q := func(f float64) time.Duration {
		if len(samples) == 0 {
			return 0
		}
		return samples[min(len(samples)-1, int(math.Ceil(f*float64(len(samples))))-1)]
	}
	return Latency{Throughput: throughput(len(samples), total), P50: q(0.50), P99: q(0.99), P999: q(0.999)}
}

// RunResult is the measurement of one algorithm in one codec on one
// storage engine.
type RunResult struct {
	Algorithm string `json:"algorithm"`
	Codec     string `json:"codec"`
	// Storage is the nodes' engine: "memory", or the --sync policy of
	// durable nodes.
	Storage string `json:"storage"`
	// BulkPut: K PUTs through Bulk (PUSH, batched), until every node's SYNC
	// barrier confirmed them.
	BulkPut Throughput `json:"bulk_put"`
	// AckPut: K PUTs through Do (pipelined requests), each acknowledged.
	AckPut Throughput `json:"ack_put"`
	// PipeGet: K GET_ONE through Do (pipelined).
	PipeGet Throughput `json:"pipelined_get"`
	// Get: one GET_ONE at a time on one connection.
	Get Latency `json:"get"`
	// Echo: raw REQ/REP echo round trips of ValueSize bytes, each right after
	// one of Get's GET_ONEs (paired).
	Echo Latency `json:"paired_req_rep_echo"`
	// Errors counts failed or wrong answers over all phases (should be 0).
	Errors int `json:"errors"`
	// KeysPerNode is each node's key count after the load.
	KeysPerNode map[string]int64 `json:"keys_per_node"`
	// PeakOverMean is the largest node's key count over the mean.
	PeakOverMean float64 `json:"peak_over_mean"`
}

// Result is everything one bench run measured.
type Result struct {
	Keys      int         `json:"keys"`
	ValueSize int         `json:"value_size"`
	Nodes     int         `json:"nodes"`
	NodeMode  string      `json:"node_mode"` // "processes" or "in-process"
	Replicas  int         `json:"replicas"`
	CPUs      int         `json:"cpus"`
	Runs      []RunResult `json:"runs"`
	PushPull  *Throughput `json:"zmq_push_pull,omitempty"`
	ReqRep    *Latency    `json:"zmq_req_rep_echo,omitempty"`
	Redis     []RedisRun  `json:"redis,omitempty"`
	// RedisCPU is the CPU cost of redis' SET -P 16 -c 50, the run the bulk
	// PUT is compared with, when it was measured.
	RedisCPU   *RedisCPU `json:"redis_cpu,omitempty"`
	RedisError string    `json:"redis_error,omitempty"`
	Goals      []Goal    `json:"goals"`
	Started    time.Time `json:"started"`
}

// Goal is one comparison with a baseline.
type Goal struct {
	Name     string  `json:"name"`
	Value    float64 `json:"value"`
	Baseline float64 `json:"baseline"`
	Ratio    float64 `json:"ratio"`
	// Target is the ratio to reach; Lower means the ratio must stay at or
	// below it (a latency), else at or above.
	Target float64 `json:"target"`
	Lower  bool    `json:"lower_is_better"`
	Met    bool    `json:"met"`
}
