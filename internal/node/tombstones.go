package node

import (
	"context"
	"time"

	"github.com/zshard/zshard/internal/ctxtime"
	"github.com/zshard/zshard/internal/store"
	"github.com/zshard/zshard/sharding"
)

// A deleted key is a tombstone, kept TombstoneTTL from its version's time
// so that an older write of the key arriving late (a replica catching up,
// a repair) loses to it; then the purge loop removes it. A replica that
// was away longer than the TTL may hold values whose tombstones its peers
// have purged, and would bring those keys back: a durable store records
// when its node was last up (MarkAlive), and DropIfAway drops everything
// of a node away too long, which then catches up from empty.

// aliveEvery is how often a node with an aliveStore records that it is up.
const aliveEvery = 10 * time.Second

// minPurgeEvery bounds how often the purge loop reads the store.
const minPurgeEvery = time.Second

// aliveStore is the optional pair of methods of a store that records when
// its node was last up (durable.Store).
type aliveStore interface {
	MarkAlive(t time.Time) error
	LastAlive() (time.Time, error)
}

// purgeEvery is the period of the purge loop: a 24th of the TTL, so a
// tombstone outlives it by at most about 4%, and no less than a second.
func (n *Node) purgeEvery() time.Duration { return max(n.cfg.TombstoneTTL/24, minPurgeEvery) }

// purgeLoop purges the tombstones older than the TTL every purgeEvery,
// until Close.
func (n *Node) purgeLoop() {
	for ctxtime.Sleep(n.ctx, n.purgeEvery()) == nil {
		before := time.Now().Add(-n.cfg.TombstoneTTL).UnixMilli()
		purged, err := n.store.PurgeTombstones(n.ctx, before)
		switch {
		case err != nil && !n.closing():
			n.log.Warn("purging tombstones failed; retrying later", "err", err)
		case purged > 0:
			n.log.Debug("tombstones purged", "count", purged, "ttl", n.cfg.TombstoneTTL)
		}
	}
}

// aliveLoop records that the node is up every aliveEvery, until Close
// (which records it a last time).
func (n *Node) aliveLoop(as aliveStore) {
	n.markAlive(as)
	for ctxtime.Sleep(n.ctx, aliveEvery) == nil {
		n.markAlive(as)
	}
}

func (n *Node) markAlive(as aliveStore) {
	if err := as.MarkAlive(time.Now()); err != nil && !n.closing() {
		n.log.Debug("cannot record that the node is up", "err", err)
	}
}

// DropIfAway deletes every record of the node's store, values and
// tombstones, when the store says the node was last up longer than
// TombstoneTTL ago, and returns how many it deleted. Call it before Start,
// on a node that holds replicas and catches up from them afterwards: its
// peers may have purged the tombstones of keys deleted meanwhile, which its
// old values would bring back. A store that does not record when its node
// was up (in memory), or has no record yet, is left as it is.
func (n *Node) DropIfAway(ctx context.Context) (dropped int, err error) {
	as, ok := n.store.(aliveStore)
	if !ok {
		return 0, nil
	}
	last, err := as.LastAlive()
	if err != nil || last.IsZero() {
		return 0, err
	}
	away := time.Since(last)
	if away <= n.cfg.TombstoneTTL {
		return 0, nil
	}
	n.log.Warn("the node was away longer than the tombstone TTL: dropping all its data, then catching up from empty "+
		"(its replicas may have purged the tombstones of keys deleted meanwhile, which its old values would bring back)",
		"last_alive", last.UTC().Format(time.RFC3339), "away", away.Round(time.Second), "tombstone_ttl", n.cfg.TombstoneTTL)
	var cur store.Cursor
	for {
		k, next, done, err := n.store.DeletePartitions(ctx, cur, sharding.HashRange{}, nil, 10_000)
		dropped += k
		if err != nil {
			return dropped, err
		}
		if done {
			break
		}
		cur = next
	}
	n.log.Info("data dropped", "records", dropped)
	return dropped, nil
}
