package node

import (
	"context"
	"strings"
	"sync"

	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/internal/store"
)

// CatchUp is the state of a node that is catching up from its replicas
// after a restart (see BeginCatchUp). While it lasts the node answers reads
// (GET_ONE, GET_ALL, SCAN, DIGEST, also inside a BATCH) with not_ready and serves
// writes as usual, recording every key a client writes: a value copied from
// a replica never replaces a newer write that reached the node meanwhile.
// Its methods are safe for concurrent use.
type CatchUp struct {
	n     *Node
	mu    sync.Mutex // orders Put/Delete against touch
	dirty map[string]struct{}
}

// BeginCatchUp puts the node in catch-up mode and returns the handle the
// catch-up applies the replicas' entries through; Finish ends it. Call it
// before Start so that no read is served before the catch-up and no write
// goes unrecorded. A second call returns the CatchUp in progress.
func (n *Node) BeginCatchUp() *CatchUp {
	cu := &CatchUp{n: n, dirty: map[string]struct{}{}}
	if n.catchup.CompareAndSwap(nil, cu) {
		return cu
	}
	return n.catchup.Load()
}

// CatchingUp reports whether the node is in catch-up mode.
func (n *Node) CatchingUp() bool { return n.catchup.Load() != nil }

// touch records that a client writes key. The write path calls it before
// applying the write, so a Put or Delete of the catch-up either ran
// entirely before it (and the client's write lands after) or sees the key
// dirty and leaves it alone.
func (c *CatchUp) touch(key string) {
	c.mu.Lock()
	if c.dirty != nil { // nil once finished
		if _, ok := c.dirty[key]; !ok {
			c.dirty[strings.Clone(key)] = struct{}{} // do not pin the request message
		}
	}
	c.mu.Unlock()
}

// Dirty reports whether a client wrote key since the catch-up began.
func (c *CatchUp) Dirty(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.dirty[key]
	return ok
}

// Put stores v under key unless a client wrote key since the catch-up
// began; applied reports whether it did.
func (c *CatchUp) Put(ctx context.Context, key string, v store.Value) (applied bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.dirty[key]; ok {
		return false, nil
	}
	return true, c.n.store.Put(ctx, key, v)
}

// Delete removes key unless a client wrote key since the catch-up began;
// applied reports whether it did.
func (c *CatchUp) Delete(ctx context.Context, key string) (applied bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.dirty[key]; ok {
		return false, nil
	}
	_, err = c.n.store.Delete(ctx, key)
	return true, err
}

// Sync makes what the catch-up applied durable, if the store buffers
// writes and the sync policy is not none.
func (c *CatchUp) Sync() error { return c.n.syncStore() }

// Finish ends catch-up mode: reads are served again. It is idempotent.
func (c *CatchUp) Finish() {
	if c.n.catchup.CompareAndSwap(c, nil) {
		c.mu.Lock()
		c.n.log.Info("catch-up finished; serving reads", "keys_written_meanwhile", len(c.dirty))
		c.dirty = nil
		c.mu.Unlock()
	}
}

// notReady is the reply to a read during catch-up.
func notReady(op protocol.Op) error {
	return protocol.Errorf(protocol.CodeNotReady, "%v refused: the node is catching up from its replicas; read another replica", op)
}
