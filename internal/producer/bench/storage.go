package bench

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/zshard/zshard/internal/node"
	"github.com/zshard/zshard/internal/store/durable"
)

// StorageMemory names the in-memory engine in Config.Storage.
const StorageMemory = "memory"

// durableRequestTimeout is the producer's RequestTimeout in runs on durable
// nodes.
const durableRequestTimeout = 30 * time.Second

// inMemory reports whether the run's nodes kept their data in memory.
func (r RunResult) inMemory() bool { return r.Storage == "" || r.Storage == StorageMemory }

// NodeStorage is the engine of the nodes of one run: in memory, or durable
// in DataRoot/<node name> with sync policy Sync.
type NodeStorage struct {
	DataRoot string // "" for the in-memory engine
	Sync     string // a node.SyncPolicy when DataRoot is set
}

// args renders s as bench-node flags.
func (s NodeStorage) args() []string {
	if s.DataRoot == "" {
		return nil
	}
	return []string{"--data-root", s.DataRoot, "--sync", s.Sync}
}

// nodeConfig returns the node configuration of name under s, and the
// durable store to close after the node (nil in memory).
func (s NodeStorage) nodeConfig(name string) (node.Config, *durable.Store, error) {
	cfg := node.Config{Name: name}
	if s.DataRoot == "" {
		return cfg, nil, nil
	}
	policy, err := node.ParseSyncPolicy(s.Sync)
	if err != nil {
		return cfg, nil, err
	}
	opts := durable.Options{}
	if policy == node.SyncBatch {
		opts.SyncInterval = durable.DefaultSyncInterval // as server_consumer --sync batch
	}
	st, err := durable.Open(filepath.Join(s.DataRoot, name), opts)
	if err != nil {
		return cfg, nil, err
	}
	cfg.Store, cfg.Sync = st, policy
	return cfg, st, nil
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
