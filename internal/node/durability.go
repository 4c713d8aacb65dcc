package node

import (
	"context"
	"fmt"
	"time"

	"github.com/zshard/zshard/internal/protocol"
)

// SyncPolicy says when a node makes writes durable on a store that buffers
// them (one with a Sync method, such as durable.Store). Stores without Sync
// (the in-memory default) ignore it.
type SyncPolicy string

// Sync policies.
const (
	// SyncAlways: an OK reply to PUT, DELETE or BATCH and a completed SYNC
	// barrier mean the writes are on disk. The request loop applies every
	// request it has queued (up to a burst of 256), fsyncs once, then sends
	// their replies in order; the ingest loop fsyncs before recording SYNC
	// markers. Concurrent fsyncs of the two loops share one WAL sync.
	SyncAlways SyncPolicy = "always"
	// SyncBatch: SYNC barriers are durable as with SyncAlways, but replies
	// on the request endpoint do not wait: the store syncs in the
	// background (every 10ms for durable.Store), so an OK may be lost in a
	// crash of the last few milliseconds.
	SyncBatch SyncPolicy = "batch"
	// SyncNone: the node never waits for the disk; the engine and the OS
	// write back when they please. For labs and benchmarks.
	SyncNone SyncPolicy = "none"
)

// ParseSyncPolicy parses "always", "batch" or "none".
func ParseSyncPolicy(s string) (SyncPolicy, error) {
	switch p := SyncPolicy(s); p {
	case SyncAlways, SyncBatch, SyncNone:
		return p, nil
	}
	return "", fmt.Errorf("sync policy %q: want always, batch or none", s)
}

// syncer is the optional method of a store that buffers writes: Sync
// returns once every write applied before it is durable. It is called from
// both loops at once; implementations must be safe for that.
type syncer interface {
	Sync(ctx context.Context) error
}

// bulkStore is the optional method of a store whose ApplyMany is much
// cheaper per key than one Apply each (durable.Store, one engine commit):
// both loops hand it each run of PUTs of a BATCH instead of one Apply per
// key. Other stores get one Apply per PUT.
type bulkStore interface {
	// BulkBytes is the size (keys and values) from which an ApplyMany is
	// cheapest per key; the ingest loop gathers pushed PUTs up to it.
	BulkBytes() int
}

// syncStore makes the writes applied so far durable, if the store buffers
// them. The error is ready to be sent.
func (n *Node) syncStore() error {
	if n.syncer == nil {
		return nil
	}
	if err := n.syncer.Sync(n.ctx); err != nil {
		n.log.Error("store sync failed; writes are not acknowledged", "err", err)
		return protocol.Errorf(protocol.CodeInternal, "store: writes applied but not durable: %v", err)
	}
	return nil
}

// isWrite reports whether a request changes the store.
func isWrite(r *protocol.Request) bool {
	switch r.Op {
	case protocol.OpPut, protocol.OpDelete, protocol.OpDeletePartitions:
		return true
	case protocol.OpBatch:
		for i := range r.Ops {
			if isWrite(&r.Ops[i]) {
				return true
			}
		}
	}
	return false
}

// heldReply is a reply the request loop holds back until the writes before
// it are durable (SyncAlways group commit).
type heldReply struct {
	envelope [][]byte
	codec    protocol.Codec
	rep      protocol.Reply
	write    bool        // the request writes: its reply waits for the sync
	op       protocol.Op // the request's, for its duration
	start    time.Time   // when the request arrived; zero when not timed
}

// hold queues a reply behind the next group commit. Replies queued after
// a write wait too, so a pipelining client sees its replies in order.
func (rl *reqLoop) hold(h heldReply) {
	rl.held = append(rl.held, h)
}

// commit fsyncs once for every held write and sends the held replies in
// order; if the sync fails, the writes are answered with an error.
func (rl *reqLoop) commit() {
	if len(rl.held) == 0 {
		return
	}
	err := rl.n.syncStore()
	for i := range rl.held {
		h := &rl.held[i]
		if err != nil && h.write {
			pe := protocol.AsError(err)
			rl.n.stats.err(pe.Code)
			rl.n.stats.request.errors.Add(1)
			h.rep = protocol.Reply{Status: protocol.StatusError, Err: pe, ID: h.rep.ID}
		}
		rl.send(h.envelope, h.codec, &h.rep)
		rl.n.observeRequest(h.op, h.start)
	}
	clear(rl.held)
	rl.held = rl.held[:0]
}
