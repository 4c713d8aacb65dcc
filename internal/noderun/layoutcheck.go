package noderun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/zshard/zshard/consul"
	"github.com/zshard/zshard/internal/node"
	"github.com/zshard/zshard/internal/store"
	"github.com/zshard/zshard/layout"
	"github.com/zshard/zshard/sharding"
)

// The layout check of a durable node, before it binds: with an explicit
// layout (Settings.Members), it deletes the keys of every partition whose
// preference list does not contain it (under Migration.From and To too
// while a rebalance is in progress), so keys a rebalance moved away while
// it was down are not resurrected, and records the epoch in
// <data dir>/layoutFile.

// layoutFile records, in a node's data directory, the layout its data was
// last checked against.
const layoutFile = "zshard-layout.json"

// layoutRecord is the content of layoutFile.
type layoutRecord struct {
	Epoch   uint64   `json:"epoch"`
	Members []string `json:"members"`
}

// readSettings reads the cluster's settings, ok false when there are none
// yet (a new cluster: nothing to check or catch up from).
func readSettings(ctx context.Context, p Config, n *node.Node, log *slog.Logger) (layout.Settings, bool, error) {
	s, _, err := p.Consul.Settings(ctx)
	if errors.Is(err, consul.ErrNotFound) {
		log.Info("no cluster settings yet; nothing to check the data against or catch up from", "node", n.Name())
		return s, false, nil
	}
	if err != nil {
		return s, false, fmt.Errorf("reading the cluster settings: %w", err)
	}
	return s, true, nil
}

// checkLayout runs the layout check of a durable node before it serves,
// against the cluster's settings s: it drops the partitions the current
// layout does not give it and records the epoch.
func checkLayout(ctx context.Context, p Config, n *node.Node, s layout.Settings, log *slog.Logger) error {
	prev, had := readLayout(p.DataDir)
	if had && prev.Epoch != s.Epoch {
		log.Info("the layout changed while the node was down", "node", n.Name(),
			"recorded_epoch", prev.Epoch, "epoch", s.Epoch, "recorded_members", prev.Members, "members", s.Members)
	}
	if len(s.Members) == 0 && s.Migration == nil {
		return nil // legacy layout: no rebalance ever moved keys
	}
	pl, err := placementOf(s, n.Name(), nil)
	if err != nil {
		return err
	}
	dropped, err := dropForeign(ctx, n.Store(), pl, n.Name())
	if err != nil {
		return fmt.Errorf("dropping the partitions moved away: %w", err)
	}
	if dropped > 0 {
		log.Warn("deleted keys of partitions the layout no longer places on this node (moved away while it was down)",
			"node", n.Name(), "records", dropped, "epoch", s.Epoch, "migration", s.Migration != nil)
	}
	if err := writeLayout(p.DataDir, layoutRecord{Epoch: s.Epoch, Members: s.Members}); err != nil {
		log.Warn("cannot record the layout epoch in the data directory", "node", n.Name(), "err", err)
	}
	return nil
}

// dropForeign deletes from st the records (values and tombstones) of every
// partition whose preference lists do not contain self (one pass over the
// store), and returns how many it deleted.
func dropForeign(ctx context.Context, st store.Store, pl placement, self string) (int, error) {
	mine := pl.mine(self)
	dropped := 0
	cursor := store.Cursor{}
	for {
		page, err := st.ScanRecords(ctx, cursor, sharding.HashRange{}, nil, catchUpPage)
		if err != nil {
			return dropped, err
		}
		for _, e := range page.Entries {
			if mine[sharding.PartitionOf(e.Hash, pl.partitions)] {
				continue
			}
			if _, err := st.Delete(ctx, e.Key); err != nil {
				return dropped, err
			}
			dropped++
		}
		if page.Done {
			return dropped, nil
		}
		cursor = page.Next // strictly after: deleting what was returned is fine
	}
}

// readLayout returns the layout recorded in dir, ok false when none is.
func readLayout(dir string) (layoutRecord, bool) {
	b, err := os.ReadFile(filepath.Join(dir, layoutFile))
	if err != nil {
		return layoutRecord{}, false
	}
	var r layoutRecord
	if json.Unmarshal(b, &r) != nil {
		return layoutRecord{}, false
	}
	return r, true
}

// writeLayout records r in dir (write to a temporary file, fsync, rename).
func writeLayout(dir string, r layoutRecord) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, layoutFile+".tmp")
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, layoutFile))
}
