package bench

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/zshard/zshard/internal/producer"
	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/layout"
)

// Run measures everything cfg asks for.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg.fill()
	res := &Result{Keys: cfg.Keys, ValueSize: cfg.ValueSize, Nodes: cfg.Nodes, Replicas: cfg.Replicas,
		CPUs: runtime.NumCPU(), NodeMode: "in-process", Started: time.Now().UTC()}
	if len(cfg.Spawn) > 0 {
		res.NodeMode = "processes"
	}
	keys := make([]string, cfg.Keys)
	for i := range keys {
		keys[i] = fmt.Sprintf("key:%010d", i)
	}
	for _, alg := range cfg.Algorithms {
		for _, codec := range cfg.Codecs {
			for _, storage := range cfg.Storage {
				r, err := runOne(ctx, cfg, alg, codec, storage, keys)
				if err != nil {
					return res, fmt.Errorf("%s/%s/%s: %w", alg, codec, storage, err)
				}
				res.Runs = append(res.Runs, r)
			}
		}
	}
	if cfg.Baselines {
		if err := runZMQBaselines(cfg, res); err != nil {
			return res, err
		}
	}
	if cfg.Redis {
		runRedisBaselines(ctx, cfg, res)
		res.RedisCPU = redisCPU(res.Redis)
	}
	res.Goals = goals(res)
	return res, nil
}

// runOne measures one algorithm in one codec on one storage engine, on a
// private cluster of its own: the bulk PUT, the acknowledged PUT, the
// pipelined GET_ONE, the one-at-a-time GET_ONE paired with REQ/REP echoes,
// and the keys per node.
func runOne(ctx context.Context, cfg Config, alg string, codec protocol.Codec, storage string, keys []string) (RunResult, error) {
	out := RunResult{Algorithm: alg, Codec: codec.String(), Storage: storage}
	prefix := fmt.Sprintf("%s/%s/%s: ", alg, codec, storage)
	rc, err := startRunCluster(ctx, cfg, alg, codec, storage, prefix)
	if err != nil {
		return out, err
	}
	defer rc.close()
	value, err := producer.EncodeValue(codec, strings.Repeat("x", cfg.ValueSize-2))
	if err != nil {
		return out, err
	}
	if len(value) != cfg.ValueSize {
		return out, fmt.Errorf("value encodes to %d bytes, want %d (ValueSize must be 34..255)", len(value), cfg.ValueSize)
	}
	w := &workload{cfg: cfg, p: rc.p, keys: keys, value: value, prefix: prefix,
		cpu: cpuMeter{nodes: rc.nodes.procs, log: cfg.Logger}}
	out.BulkPut = w.bulkPut(ctx)
	if out.AckPut, err = w.ackPut(ctx); err != nil {
		return out, err
	}
	if out.PipeGet, err = w.pipelinedGet(ctx); err != nil {
		return out, err
	}
	if out.Get, out.Echo, err = w.pairedGet(ctx); err != nil {
		return out, err
	}
	if out.KeysPerNode, out.PeakOverMean, err = keysPerNode(ctx, rc.p); err != nil {
		return out, err
	}
	out.Errors = w.fails.count()
	if out.Errors > 0 {
		return out, fmt.Errorf("%d operations failed or answered wrongly; first: %s", out.Errors, w.fails.firstMessage())
	}
	return out, nil
}

// runCluster is the private cluster of one run: its own Consul service
// name and KV prefix (or no Consul, with Config.Static), its nodes (durable ones keep their data in a
// temporary directory) and a producer routing to them.
type runCluster struct {
	dataDir string // "" for in-memory nodes
	nodes   *cluster
	p       *producer.Producer
}

// startRunCluster starts the cluster of one run and waits until the
// producer sees every node.
func startRunCluster(ctx context.Context, cfg Config, alg string, codec protocol.Codec, storage, prefix string) (*runCluster, error) {
	svc := fmt.Sprintf("zshard-bench-%d-%s-%s-%s", os.Getpid(), alg, codec, storage)
	cc := cfg.Consul
	cc.Service, cc.Prefix = svc, svc+"/"
	profile := ""
	if cfg.ProfileDir != "" {
		profile = fmt.Sprintf("%s/%s-%s-%s-NODE.pprof", cfg.ProfileDir, alg, codec, storage)
	}
	rc := &runCluster{}
	ns := NodeStorage{Sync: storage}
	if storage != StorageMemory {
		dir, err := os.MkdirTemp("", "zshard-bench-data")
		if err != nil {
			return nil, err
		}
		rc.dataDir, ns.DataRoot = dir, dir
	}
	done := cfg.Progress(fmt.Sprintf("%sstarting %d nodes", prefix, cfg.Nodes), cfg.Nodes)
	var err error
	nodeConsul := &cc
	if cfg.Static {
		nodeConsul = nil
	}
	if rc.nodes, err = startNodes(ctx, nodeConsul, cfg.Nodes, cfg.Spawn, profile, ns); err != nil {
		rc.close()
		return nil, err
	}
	done(cfg.Nodes)
	pcfg := producer.Config{Consul: cc, Settings: layout.Settings{Algorithm: alg, Replicas: cfg.Replicas},
		Codec: codec, Window: cfg.Window, PipelineBatch: cfg.PipelineBatch, Logger: cfg.Logger}
	if cfg.Static {
		pcfg.Static = rc.nodes.members
	}
	if storage != StorageMemory {
		// A durable node's reply can wait behind an fsync or an engine write
		// stall far longer than the default 2s on a shared disk; a timeout
		// would count a slow write as lost instead of timing it.
		pcfg.RequestTimeout = durableRequestTimeout
	}
	if rc.p, err = producer.New(ctx, pcfg); err != nil {
		rc.close()
		return nil, err
	}
	if err := rc.waitMembers(cfg.Nodes); err != nil {
		rc.close()
		return nil, err
	}
	if s := rc.p.Settings(); s.Algorithm != alg {
		rc.close()
		return nil, fmt.Errorf("private cluster %s has algorithm %s", svc, s.Algorithm)
	}
	return rc, nil
}

// waitMembers waits up to 30s until the producer's table holds n nodes.
func (rc *runCluster) waitMembers(n int) error {
	deadline := time.Now().Add(30 * time.Second)
	for t := rc.p.Table(); t == nil || len(t.Nodes()) < n; t = rc.p.Table() {
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d nodes became members", len(rc.p.Members()), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// close stops the producer, then the nodes, then removes their data.
func (rc *runCluster) close() {
	if rc.p != nil {
		_ = rc.p.Close()
	}
	if rc.nodes != nil {
		rc.nodes.stop()
	}
	if rc.dataDir != "" {
		_ = os.RemoveAll(rc.dataDir)
	}
}

// keysPerNode returns each node's key count and the largest count over the
// mean.
func keysPerNode(ctx context.Context, p *producer.Producer) (map[string]int64, float64, error) {
	st, err := p.Status(ctx)
	if err != nil {
		return nil, 0, err
	}
	keys := map[string]int64{}
	var peak, sum int64
	for _, ns := range st.Nodes {
		keys[ns.Name] = ns.Keys
		peak = max(peak, ns.Keys)
		sum += ns.Keys
	}
	if sum == 0 {
		return keys, 0, nil
	}
	return keys, float64(peak) / (float64(sum) / float64(len(st.Nodes))), nil
}
