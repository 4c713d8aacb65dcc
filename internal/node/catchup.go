package node

import (
	"context"
	"sync/atomic"

	"github.com/zshard/zshard/internal/hlc"
	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/internal/store"
)

// CatchUp is the state of a node that is catching up from its replicas
// after a (re)start (see BeginCatchUp). While it lasts the node answers
// reads (GET_ONE, GET_ALL, SCAN, DIGEST, also inside a BATCH) with
// not_ready and serves writes as usual. The catch-up applies the replicas'
// records through Apply, by version like any write: a record copied from a
// replica never replaces a newer write that reached the node meanwhile,
// and an older one that lands after a newer copy is superseded. Its
// methods are safe for concurrent use.
type CatchUp struct {
	n       *Node
	applied atomic.Int64
}

// BeginCatchUp puts the node in catch-up mode and returns the handle the
// catch-up applies the replicas' records through; Finish ends it. Call it
// before Start so that no read is served before the catch-up. A second
// call returns the CatchUp in progress.
func (n *Node) BeginCatchUp() *CatchUp {
	cu := &CatchUp{n: n}
	if n.catchup.CompareAndSwap(nil, cu) {
		return cu
	}
	return n.catchup.Load()
}

// CatchingUp reports whether the node is in catch-up mode.
func (n *Node) CatchingUp() bool { return n.catchup.Load() != nil }

// Apply applies records copied from a replica (values and tombstones, with
// their versions; Hash is ignored) by last writer wins, as store.ApplyMany
// does, in one store commit where the engine can, and returns how many it
// stored. A record the node already holds, same version and same bytes, is
// not written again. The node's clock observes the versions, so the writes
// it versions later order after them (a version beyond its bound is
// applied all the same: a replica holds it). Apply overwrites entries
// with the records it keeps.
func (c *CatchUp) Apply(ctx context.Context, entries []store.Entry) (applied int, err error) {
	n := c.n
	var newest hlc.Version
	kept := entries[:0]
	for _, e := range entries {
		if newest.Compare(e.Value.Version) < 0 {
			newest = e.Value.Version
		}
		old, found, err := n.store.Lookup(ctx, e.Key)
		if err != nil {
			return 0, err
		}
		if found && same(old, e.Value) {
			continue
		}
		kept = append(kept, e)
	}
	_ = n.clock.Observe(newest)
	if len(kept) == 0 {
		return 0, nil
	}
	done := make([]bool, len(kept))
	if err := n.store.ApplyMany(ctx, kept, done); err != nil {
		return 0, err
	}
	for _, ok := range done {
		if ok {
			applied++
		}
	}
	c.applied.Add(int64(applied))
	n.stats.catchUp.Add(uint64(applied))
	return applied, nil
}

// same reports whether a and b are the same record: same version, both
// tombstones or both the same bytes in the same codec.
func same(a, b store.Value) bool {
	if a.Version != b.Version || a.Tombstone != b.Tombstone {
		return false
	}
	return a.Tombstone || (a.Codec == b.Codec && string(a.Data) == string(b.Data))
}

// Sync makes what the catch-up applied durable, if the store buffers
// writes and the sync policy is not none.
func (c *CatchUp) Sync() error { return c.n.syncStore() }

// Finish ends catch-up mode: reads are served again. It is idempotent.
func (c *CatchUp) Finish() {
	if c.n.catchup.CompareAndSwap(c, nil) {
		c.n.log.Info("catch-up finished; serving reads", "records_applied", c.applied.Load())
	}
}

// notReady is the reply to a read during catch-up.
func notReady(op protocol.Op) error {
	return protocol.Errorf(protocol.CodeNotReady, "%v refused: the node is catching up from its replicas; read another replica", op)
}
