package bench

import (
	"path/filepath"
	"time"

	"github.com/zshard/zshard/internal/node"
	"github.com/zshard/zshard/internal/noderun"
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

// runConfig returns the node runtime's configuration of the node name
// under s, bound to loopback. The node starts empty and lies outside any
// cluster's layout, so the layout check and the catch-up are off; for a
// durable node the runtime opens the store (with the batch interval of
// server_consumer --sync batch) and closes it after the node.
func (s NodeStorage) runConfig(name string) (noderun.Config, error) {
	// The bind address is given, not left to the node's default: the
	// runtime writes it into the registered endpoints and pings it.
	cfg := noderun.Config{Node: node.Config{Name: name}, SkipLayout: true}
	if s.DataRoot == "" {
		return cfg, nil
	}
	policy, err := node.ParseSyncPolicy(s.Sync)
	if err != nil {
		return cfg, err
	}
	cfg.Node.Sync = policy
	cfg.DataDir = filepath.Join(s.DataRoot, name)
	return cfg, nil
}
