package node

import (
	"sync"
	"sync/atomic"

	"github.com/zshard/zshard/internal/protocol"
)

// The memory budget (Config.MemoryBudget) bounds the bytes of the large
// replies (GET_ALL, SCAN) a node holds at once: each is reserved when its
// request arrives, at an estimate, set to its encoded size once built, and
// released when ZeroMQ has written it to the peer's connection (or dropped
// it, when the peer went away); see zerocopy.go. A request the budget
// cannot take is answered busy at once instead of holding more memory.
//
// One peer (one ROUTER identity) may hold at most a quarter of the budget,
// so a peer that asks and never reads blocks its own large requests, not
// the others'. A reply larger than a share is still served when it is the
// only one its peer holds, and one larger than the whole budget when
// nothing else is held (GET_ALL stays bounded by Config.MaxReplyBytes).
//
// The ingest endpoint's queue of received messages, per connection, is
// bounded from the same budget (hwm): a quarter of it at the largest
// message, but at least 64 messages. The request endpoint keeps ZeroMQ's
// default queues of 1000 messages (zmqHWM): ROUTER drops the replies
// beyond, and a pipelining client may have that many small ones on their
// way.

// zmqHWM is the request endpoint's ZMQ_SNDHWM and ZMQ_RCVHWM, in messages
// per peer: ZeroMQ's default.
const zmqHWM = 1000

// DefaultMemoryBudget is Config.MemoryBudget's default.
const DefaultMemoryBudget = 512 << 20

// peerShareDivisor: one peer may hold 1/peerShareDivisor of the budget.
const peerShareDivisor = 4

// budget is the node's memory budget. reserve and release are called by the
// request loop and adjust by the large-reply workers, hence the lock.
type budget struct {
	limit     int64
	peerLimit int64

	mu    sync.Mutex
	used  int64
	peak  int64
	peers map[string]int64 // bytes held per peer identity; no zero entries

	rejected atomic.Uint64
}

func newBudget(limit int64) *budget {
	return &budget{limit: limit, peerLimit: limit / peerShareDivisor, peers: map[string]int64{}}
}

// reserve takes n bytes for peer, or reports false (and counts a
// rejection) when the budget or the peer's share cannot hold them.
func (b *budget) reserve(peer string, n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	held := b.peers[peer]
	if (b.used > 0 && b.used+n > b.limit) || (held > 0 && held+n > b.peerLimit) {
		b.rejected.Add(1)
		return false
	}
	b.add(peer, held, n)
	return true
}

// adjust changes what peer holds by delta (the encoded size of a reply
// less its estimate), whatever the limits: the bytes exist.
func (b *budget) adjust(peer string, delta int64) {
	b.mu.Lock()
	b.add(peer, b.peers[peer], delta)
	b.mu.Unlock()
}

// release returns n bytes peer held.
func (b *budget) release(peer string, n int64) { b.adjust(peer, -n) }

func (b *budget) add(peer string, held, n int64) {
	b.used += n
	b.peak = max(b.peak, b.used)
	if held += n; held == 0 {
		delete(b.peers, peer)
	} else {
		b.peers[peer] = held
	}
}

// inUse returns the bytes held now.
func (b *budget) inUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

func (b *budget) stats() *protocol.MemoryStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return &protocol.MemoryStats{BudgetBytes: b.limit, InUseBytes: b.used, PeakBytes: b.peak, Rejected: b.rejected.Load()}
}

// busyError is the reply to a request the budget cannot take.
func (b *budget) busyError(op protocol.Op, need int64) *protocol.Error {
	return protocol.Errorf(protocol.CodeBusy,
		"%v needs about %d bytes of the node's reply memory (%d of %d in use, at most %d per client); retry in about %d ms with jitter, or read with smaller SCAN pages",
		op, need, b.inUse(), b.limit, b.peerLimit, busyRetryMS)
}

// busyRetryMS is the pause a busy reply suggests.
const busyRetryMS = 100

// hwm returns a ZeroMQ high-water mark, in messages, that holds share bytes
// of messages up to msgMax bytes each, within [minHWM, maxHWM].
func hwm(share int64, msgMax int64) int {
	// Below 64, the hand-over between ZeroMQ's I/O thread and the loop
	// every few messages doubles the CPU time of single-PUT messages.
	const minHWM, maxHWM = 64, zmqHWM
	if msgMax <= 0 {
		return maxHWM
	}
	return int(min(max(share/msgMax, minHWM), maxHWM))
}
