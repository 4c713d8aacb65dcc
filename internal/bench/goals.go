package bench

import (
	"fmt"

	"github.com/zshard/zshard/internal/node"
)

// goals compares the runs with the baselines, as docs/BENCHMARKS.md states
// them: msgpack bulk PUT >= 1.5x redis SET -P 16 -c 50; JSON bulk PUT >= 3x
// redis SET -c 50 and >= 0.9x msgpack bulk PUT; pipelined GET_ONE >= 1.0x
// redis GET -P 16 -c 50;
// one-at-a-time GET_ONE p50 <= 1.2x raw REQ/REP echo p50 (the echo round
// trips interleaved with the GET_ONEs of the same run); CPU seconds per
// million bulk PUTs (nodes and producer) <= 1.0x redis-server's and
// redis-benchmark's for SET -P 16 -c 50. The best run of each codec (over
// the algorithms) is compared.
func goals(res *Result) []Goal {
	redis := map[string]float64{}
	for _, r := range res.Redis {
		redis[r.Name] = r.RPS
	}
	best := func(codec string, f func(RunResult) float64, lower bool) (float64, bool) {
		v, ok := 0.0, false
		for _, r := range res.Runs {
			if (codec != "" && r.Codec != codec) || !r.inMemory() {
				continue
			}
			x := f(r)
			if !ok || (lower && x < v) || (!lower && x > v) {
				v, ok = x, true
			}
		}
		return v, ok
	}
	var out []Goal
	add := func(name string, v float64, okV bool, base float64, okB bool, target float64, lower bool) {
		if !okV || !okB || base == 0 {
			return
		}
		g := Goal{Name: name, Value: v, Baseline: base, Ratio: v / base, Target: target, Lower: lower}
		g.Met = (lower && g.Ratio <= target) || (!lower && g.Ratio >= target)
		out = append(out, g)
	}
	v, ok := best("msgpack", func(r RunResult) float64 { return r.BulkPut.OpsPerSec }, false)
	b, okB := redis["SET -P 16 -c 50"]
	add("msgpack bulk PUT ops/s vs redis SET -P 16 -c 50", v, ok, b, okB, 1.5, false)
	msgpackBulk, okMsgpack := v, ok
	v, ok = best("json", func(r RunResult) float64 { return r.BulkPut.OpsPerSec }, false)
	b, okB = redis["SET -c 50"]
	add("JSON bulk PUT ops/s vs redis SET -c 50", v, ok, b, okB, 3.0, false)
	add("JSON bulk PUT ops/s vs msgpack bulk PUT", v, ok, msgpackBulk, okMsgpack, 0.9, false)
	v, ok = best("", func(r RunResult) float64 { return r.PipeGet.OpsPerSec }, false)
	b, okB = redis["GET -P 16 -c 50"]
	add("pipelined GET_ONE ops/s vs redis GET -P 16 -c 50", v, ok, b, okB, 1.0, false)
	// Latency: the paired ratio of the run with the best GET p50.
	var bestRun *RunResult
	for i := range res.Runs {
		r := &res.Runs[i]
		if r.inMemory() && r.Echo.P50 > 0 && (bestRun == nil || r.Get.P50 < bestRun.Get.P50) {
			bestRun = r
		}
	}
	if bestRun != nil {
		add(fmt.Sprintf("one-at-a-time GET_ONE p50 vs paired REQ/REP echo p50 (%s/%s)", bestRun.Algorithm, bestRun.Codec),
			float64(bestRun.Get.P50), true, float64(bestRun.Echo.P50), true, 1.2, true)
	}
	if c := cheapestBulkPut(res.Runs); c != nil && res.RedisCPU != nil {
		add(fmt.Sprintf("%s bulk PUT CPU/op vs redis SET -P 16 -c 50", c.Codec),
			c.BulkPut.CPUSecondsPerMillion, true, res.RedisCPU.CPUSecondsPerMillion, true, 1.0, true)
	}
	return append(out, durableGoals(res, redis)...)
}

// durableGoals compares the durable runs, as docs/BENCHMARKS.md states the
// goals: bulk PUT with --sync always >= 1.0x redis SET -P 16 -c 50 with
// appendfsync always; bulk PUT with --sync batch >= 0.5x the in-memory
// engine's. Each compares the best run of the setting (over algorithms and
// codecs) with the baseline; the in-memory one is the best memory run of
// the same codec.
func durableGoals(res *Result, redis map[string]float64) []Goal {
	var out []Goal
	best := func(storage, codec string) (float64, string, bool) {
		v, c, ok := 0.0, "", false
		for _, r := range res.Runs {
			same := r.Storage == storage || (storage == StorageMemory && r.inMemory())
			if same && (codec == "" || r.Codec == codec) && (!ok || r.BulkPut.OpsPerSec > v) {
				v, c, ok = r.BulkPut.OpsPerSec, r.Codec, true
			}
		}
		return v, c, ok
	}
	add := func(name string, v, base, target float64) {
		g := Goal{Name: name, Value: v, Baseline: base, Ratio: v / base, Target: target}
		g.Met = g.Ratio >= target
		out = append(out, g)
	}
	if v, codec, ok := best(string(node.SyncAlways), ""); ok {
		if b := redis["SET -P 16 -c 50 (AOF always)"]; b > 0 {
			add(fmt.Sprintf("%s bulk PUT ops/s, --sync always vs redis SET -P 16 -c 50 (appendfsync always)", codec), v, b, 1.0)
		}
	}
	if v, codec, ok := best(string(node.SyncBatch), ""); ok {
		if m, _, okM := best(StorageMemory, codec); okM && m > 0 {
			add(fmt.Sprintf("%s bulk PUT ops/s, --sync batch vs in-memory nodes", codec), v, m, 0.5)
		}
	}
	return out
}

// cheapestBulkPut returns the in-memory run whose bulk PUT cost the least
// CPU per operation, nil if none was measured.
func cheapestBulkPut(runs []RunResult) *RunResult {
	var best *RunResult
	for i := range runs {
		r := &runs[i]
		if r.inMemory() && r.BulkPut.CPUCost != nil &&
			(best == nil || r.BulkPut.CPUSecondsPerMillion < best.BulkPut.CPUSecondsPerMillion) {
			best = r
		}
	}
	return best
}
