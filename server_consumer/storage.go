package main

import (
	"fmt"
	"log/slog"

	"github.com/zshard/zshard/internal/node"
	"github.com/zshard/zshard/internal/store/durable"
)

// openStore opens the durable store of a node run with --data-dir; it
// returns nil without one (the node then keeps its data in memory).
func openStore(dir string, policy node.SyncPolicy, cacheBytes int64, logger *slog.Logger) (*durable.Store, error) {
	if dir == "" {
		return nil, nil
	}
	opts := durable.Options{Logger: logger, CacheBytes: cacheBytes}
	if policy == node.SyncBatch {
		opts.SyncInterval = durable.DefaultSyncInterval
	}
	st, err := durable.Open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("--data-dir: %w", err)
	}
	return st, nil
}
