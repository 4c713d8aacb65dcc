package node

import (
	"cmp"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/zshard/zshard/internal/protocol"
)

// Large replies. GET_ALL and SCAN on the request endpoint are read and
// encoded by workers of their own, one for GET_ALL and one for SCAN (so a
// SCAN page never waits behind a whole-store GET_ALL), while the request
// loop keeps answering everything else. The request loop reserves each
// one's bytes in the budget before handing it over (busy when it cannot),
// and sends the encoded reply the worker hands back without copying it,
// tracking it until ZeroMQ has written it (zerocopy.go). Replies to a peer
// keep their order: while a large reply to a peer is being built, the
// replies to its later requests wait behind it (replyQueue).

// largeQueue bounds the requests waiting for one worker; the budget
// normally rejects long before.
const largeQueue = 64

// keepEncodeBuffer is the largest encode buffer a worker keeps for its next
// reply.
const keepEncodeBuffer = 1 << 20

// entryOverhead estimates the bytes an entry of a collection takes besides
// its key and value (field names, quotes, a version).
const entryOverhead = 64

// largeJob is a GET_ALL or SCAN handed to a worker.
type largeJob struct {
	id       uint64
	envelope [][]byte
	codec    protocol.Codec
	req      protocol.Request
	peer     string
	reserved int64     // bytes held in the budget for it
	start    time.Time // when the request arrived (zero without metrics)
}

// largeReply is a worker's encoded reply, handed back to the request loop.
type largeReply struct {
	id       uint64
	envelope [][]byte
	peer     string
	reserved int64 // bytes held in the budget for it: its size
	body     cReply
}

// inflight is a large reply handed to ZeroMQ and not yet released.
type inflight struct {
	peer string
	size int64
	t    ticket
}

// large is the state the workers share with the request loop.
type large struct {
	budget  *budget
	getAll  chan largeJob
	scan    chan largeJob
	replies chan largeReply
}

func newLarge(limit int64) *large {
	return &large{budget: newBudget(limit), getAll: make(chan largeJob, largeQueue),
		scan: make(chan largeJob, largeQueue), replies: make(chan largeReply, 2*largeQueue)}
}

// isLarge reports whether op is served by a worker.
func isLarge(op protocol.Op) bool { return op == protocol.OpGetAll || op == protocol.OpScan }

// estimate returns the bytes to reserve for the reply to r, from the
// store's counts: the whole store for GET_ALL (up to the reply limit),
// limit entries of the average size for SCAN.
func (n *Node) estimate(r *protocol.Request) int64 {
	st := n.store.Stats()
	const base = 4096
	if r.Op == protocol.OpGetAll {
		return base + min(st.Bytes+st.Keys*entryOverhead, int64(n.cfg.MaxReplyBytes))
	}
	per := int64(entryOverhead)
	if st.Keys > 0 {
		per += st.Bytes / st.Keys
	}
	entries := min(int64(cmp.Or(r.Limit, protocol.DefaultScanLimit)), st.Keys+st.Tombstones)
	return base + max(entries, 0)*per
}

// dispatch hands the GET_ALL or SCAN req to its worker, or answers busy
// when the budget or the worker's queue is full.
func (rl *reqLoop) dispatch(envelope [][]byte, c protocol.Codec, req *protocol.Request, t0 time.Time) {
	// Replies held for the group commit go first, so that they keep their
	// order, and the writes they answer are durable before they are read.
	rl.commit()
	n, lg := rl.n, rl.n.large
	peer := string(envelope[0])
	need := n.estimate(req)
	if lg.budget.reserve(peer, need) {
		jobs := lg.scan
		if req.Op == protocol.OpGetAll {
			jobs = lg.getAll
		}
		rl.jobs++
		select {
		case jobs <- largeJob{id: rl.jobs, envelope: envelope, codec: c, req: *req, peer: peer, reserved: need, start: t0}:
			rl.pending++
			rl.queueLarge(peer, rl.jobs)
			return
		default:
			lg.budget.release(peer, need)
			lg.budget.rejected.Add(1)
		}
	}
	n.stats.op(req.Op)
	rl.fail(envelope, c, req.ID, lg.budget.busyError(req.Op, need))
}

// countedReplyBytes: a reply built on the request loop (a GET_ONE of a large
// value, a BATCH of reads) longer than this is counted in the memory budget
// until ZeroMQ releases it, as GET_ALL and SCAN replies are. The request
// endpoint queues zmqHWM messages per peer, so what a peer can hold outside
// the budget is at most zmqHWM replies of this size.
const countedReplyBytes = 64 << 10

// sendCounted sends b, rep encoded, counted in the budget until ZeroMQ has
// written it. When the peer's share or the budget cannot hold it, a
// GET_ONE is answered busy instead (nothing was done); any other reply
// answers an operation already applied, so it is sent uncounted: sendCounted
// then reports false.
func (rl *reqLoop) sendCounted(envelope [][]byte, c protocol.Codec, rep *protocol.Reply, b []byte) bool {
	lg, peer, size := rl.n.large, string(envelope[0]), int64(len(b))
	if !lg.budget.reserve(peer, size) {
		if rep.Op != protocol.OpGetOne {
			return false
		}
		rl.fail(envelope, c, rep.ID, lg.budget.busyError(rep.Op, size))
		return true
	}
	t, err := sendOwned(rl.router, envelope, newCReply(b))
	if err != nil {
		rl.n.log.Debug("reply dropped", "err", err)
	}
	rl.inflight = append(rl.inflight, inflight{peer: peer, size: size, t: t})
	return true
}

// sendLarge sends the replies the workers have finished.
func (rl *reqLoop) sendLarge() {
	for {
		select {
		case r := <-rl.n.large.replies:
			rl.pending--
			q := rl.ordered[r.peer]
			for i := range q.slots {
				if s := &q.slots[i]; s.job == r.id {
					s.envelope, s.large, s.size, s.job = r.envelope, r.body, r.reserved, 0
					break
				}
			}
			rl.flushQueue(r.peer, q)
		default:
			return
		}
	}
}

// sweep returns to the budget the replies ZeroMQ has released.
func (rl *reqLoop) sweep() {
	kept := rl.inflight[:0]
	for _, f := range rl.inflight {
		if f.t.done() {
			f.t.free()
			rl.n.large.budget.release(f.peer, f.size)
			continue
		}
		kept = append(kept, f)
	}
	clear(rl.inflight[len(kept):])
	rl.inflight = kept
}

// largeWorker serves the jobs of one queue until the node closes, waking
// the request loop through wake (a socket it owns) after each reply.
func (n *Node) largeWorker(jobs <-chan largeJob, wake *zmq.Socket) {
	defer closeSocket(wake, 0)
	var buf []byte
	for {
		var j largeJob
		select {
		case <-n.ctx.Done():
			return
		case j = <-jobs:
		}
		rep := n.execute(j.codec, &j.req)
		if rep.Status == protocol.StatusError {
			n.stats.request.errors.Add(1)
		}
		if int64(cap(buf)) < j.reserved {
			buf = make([]byte, 0, j.reserved) // spare the copies of growing it
		}
		b := n.appendReply(buf[:0], j.codec, &rep)
		body := newCReply(b)
		size := int64(len(b))
		if buf = b; cap(buf) > keepEncodeBuffer {
			buf = nil
		}
		n.large.budget.adjust(j.peer, size-j.reserved)
		n.observeRequest(j.req.Op, j.start) // built; its sending is ZeroMQ's
		select {
		case n.large.replies <- largeReply{id: j.id, envelope: j.envelope, peer: j.peer, reserved: size, body: body}:
			_, _ = wake.SendBytes(nil, zmq.DONTWAIT)
		case <-n.ctx.Done():
			body.free()
			return
		}
	}
}

// freeLarge frees what the large replies left once ZeroMQ is terminated
// (every message released): the tickets of sent replies and the replies
// finished but not sent.
func (n *Node) freeLarge(left []inflight) {
	for _, f := range left {
		f.t.free()
	}
	for {
		select {
		case r := <-n.large.replies:
			r.body.free()
		default:
			return
		}
	}
}

// maxQueued bounds the replies held behind large ones for one peer; more
// are dropped, as ZeroMQ drops replies to a peer whose queue is full.
const maxQueued = zmqHWM

// replyQueue holds a peer's replies, in request order, from its oldest
// large request whose reply is not sent yet.
type replyQueue struct {
	slots []replySlot
}

// replySlot is one reply in a replyQueue: a large one still being built
// (job != 0), a large one built (large), or a small one (small).
type replySlot struct {
	job      uint64
	envelope [][]byte
	small    []byte
	large    cReply
	size     int64 // large's bytes held in the budget
}

// queueLarge makes room for the large reply of job in peer's queue.
func (rl *reqLoop) queueLarge(peer string, job uint64) {
	if rl.ordered == nil {
		rl.ordered = map[string]*replyQueue{}
	}
	q := rl.ordered[peer]
	if q == nil {
		q = &replyQueue{}
		rl.ordered[peer] = q
	}
	q.slots = append(q.slots, replySlot{job: job})
}

// queueBehind queues a copy of reply b to the peer of envelope when large
// replies to it are pending, and reports whether it did (or dropped it).
func (rl *reqLoop) queueBehind(envelope [][]byte, b []byte) bool {
	q := rl.ordered[string(envelope[0])]
	if q == nil {
		return false
	}
	if len(q.slots) >= maxQueued {
		rl.n.log.Debug("reply dropped: too many queued behind a large one")
		return true
	}
	q.slots = append(q.slots, replySlot{envelope: envelope, small: append([]byte(nil), b...)})
	return true
}

// flushQueue sends the replies at the front of peer's queue q up to the
// first large one still being built.
func (rl *reqLoop) flushQueue(peer string, q *replyQueue) {
	i := 0
	for ; i < len(q.slots) && q.slots[i].job == 0; i++ {
		s := &q.slots[i]
		if s.small != nil {
			if err := sendReply(rl.router, s.envelope, s.small); err != nil {
				rl.n.log.Debug("reply dropped", "err", err)
			}
			continue
		}
		t, err := sendOwned(rl.router, s.envelope, s.large)
		if err != nil {
			rl.n.log.Debug("reply dropped", "err", err)
		}
		rl.inflight = append(rl.inflight, inflight{peer: peer, size: s.size, t: t})
	}
	clear(q.slots[:i])
	if q.slots = q.slots[i:]; len(q.slots) == 0 {
		delete(rl.ordered, peer)
	}
}

// dropQueues frees the large replies built but not sent when the loop ends.
func (rl *reqLoop) dropQueues() {
	for _, q := range rl.ordered {
		for i := range q.slots {
			q.slots[i].large.free()
		}
	}
	rl.ordered = nil
}
