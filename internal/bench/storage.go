package bench

import (
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
