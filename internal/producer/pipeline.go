package producer

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/zshard/zshard/internal/hlc"
	"github.com/zshard/zshard/internal/protocol"
)

// OpKind is an operation of the pipelined path.
type OpKind uint8

// The operations Do runs.
const (
	OpGet OpKind = iota + 1
	OpPut
	OpDelete
)

// Op is one operation for Do. Value is raw, in the producer's codec (PUT).
type Op struct {
	Kind  OpKind
	Key   string
	Value []byte
}

// Result is the outcome of one Op: Value for a GET (aliasing the reply; copy
// it to keep it), Deleted for a DELETE, and Err as Get, Put and Delete
// would return it.
type Result struct {
	Value   []byte
	Deleted bool
	Err     error
}

// Do runs n operations through the pipelined path: op(i) gives the i-th,
// done(i, r) receives its result, both called on the calling goroutine, done
// exactly once per operation and in no particular order. Operations queued
// for the same node travel together in BATCH requests of up to
// Config.PipelineBatch, and up to Config.Window messages are in flight per
// node. Replication, read fallback, timeouts and
// retries behave as in Get, Put and Delete; a read at ReadConsistency
// Quorum or All is made as Get makes it, one at a time, not pipelined. Do returns an error only when it
// could not run everything: ErrClosed, or the context's error (operations
// not yet done then get it as their Result.Err). It returns by the
// context's deadline whatever RequestTimeout and SendTimeout are, and within
// about cancelPoll of a cancellation.
func (p *Producer) Do(ctx context.Context, n int, op func(i int) Op, done func(i int, r Result)) error {
	if err := p.enter(); err != nil {
		return err
	}
	defer p.leave()
	pl := &pipeline{p: p, ctx: ctx, op: op, done: done, nodes: map[*peer]*pipeNode{}, msgs: map[uint64]*pipeMsg{}}
	defer pl.release()
	return pl.run(n)
}

type pipeline struct {
	p     *Producer
	ctx   context.Context
	op    func(int) Op
	done  func(int, Result)
	nodes map[*peer]*pipeNode
	msgs  map[uint64]*pipeMsg // in flight, by request id
	ops   []protocol.Request
	msg   []byte
	buf   [8]string
	// finished counts completed operations.
	finished int
}

type pipeNode struct {
	pr       *peer
	c        *conn
	queue    []*pipeTask
	inflight int
	// since is when the node last made progress while it had requests in
	// flight; RequestTimeout without progress times all of them out.
	since time.Time
}

type pipeOp struct {
	i       int
	op      Op
	targets []*peer
	tbuf    [4]*peer // targets' storage for R < 4
	next    int      // GET: next target to ask
	// writes: st is the snapshot routed by, whose consistency the acks
	// must meet; version is the write's, the same on every replica
	st                *state
	version           hlc.Version
	acks, pending     int
	failed            map[string]error
	deleted, notFound bool
}

type pipeTask struct {
	po      *pipeOp
	node    *pipeNode
	attempt int
}

// pipeMsg is one request message in flight: one operation, or a BATCH.
type pipeMsg struct {
	node  *pipeNode
	tasks []*pipeTask
}

// cancelPoll bounds one wait for replies when the context can be cancelled:
// a ZeroMQ poll cannot wait on ctx.Done(), so Do looks at it this often.
const cancelPoll = 20 * time.Millisecond

// run starts operations [0, n) and waits for them. An operation may complete
// anywhere (start, sendQueued, receive, expire): the ones running are those
// started and not finished.
func (pl *pipeline) run(n int) error {
	next := 0
	for next < n || pl.finished < next {
		if err := pl.ctxErr(); err != nil {
			pl.abort(err, next, n)
			return err
		}
		window := min(1<<16, pl.p.cfg.Window*pl.p.cfg.PipelineBatch*max(1, len(pl.p.st.Load().members)))
		for next-pl.finished < window && next < n {
			pl.start(next)
			next++
		}
		for _, nd := range pl.nodes {
			pl.sendQueued(nd)
		}
		pl.receive()
		pl.expire()
	}
	return nil
}

// start begins operation i; it may complete at once (no node, bad op).
func (pl *pipeline) start(i int) {
	o := pl.op(i)
	po := &pipeOp{i: i, op: o}
	st := pl.p.st.Load()
	targets, err := st.routeInto(po.tbuf[:0], o.Key, pl.buf[:], o.Kind != OpGet)
	if err == nil && o.Kind != OpGet && o.Kind != OpPut && o.Kind != OpDelete {
		err = fmt.Errorf("producer: invalid op kind %d", o.Kind)
	}
	if err != nil {
		pl.finish(po, Result{Err: err})
		return
	}
	po.targets = targets
	if o.Kind == OpGet && pl.p.cfg.ReadConsistency != One {
		// A read at quorum or all compares versions across replicas and
		// repairs them (getQuorum); it runs here, one at a time, while the
		// writes around it stay pipelined.
		orderForRead(po.targets)
		v, err := pl.p.getQuorum(pl.ctx, st, o.Key, po.targets)
		pl.finish(po, Result{Value: v, Err: err})
		return
	}
	if o.Kind == OpGet {
		orderForRead(po.targets)
		pl.enqueue(po, po.targets[0], 0)
		po.next = 1
		return
	}
	po.st = st
	po.version = pl.p.clock.Now()
	po.pending = len(targets)
	for _, pr := range targets {
		pl.enqueue(po, pr, 0)
	}
}

func (pl *pipeline) finish(po *pipeOp, r Result) {
	pl.finished++
	pl.done(po.i, r)
}

func (pl *pipeline) enqueue(po *pipeOp, pr *peer, attempt int) {
	nd := pl.nodes[pr]
	if nd == nil {
		nd = &pipeNode{pr: pr}
		pl.nodes[pr] = nd
	}
	nd.queue = append(nd.queue, &pipeTask{po: po, node: nd, attempt: attempt})
}

// sendQueued sends nd's queued operations, up to Config.PipelineBatch of
// them (and about Config.BatchBytes of values) per message: one alone as a
// plain request, several as one BATCH request, whose reply carries one
// result per operation. At most Config.Window messages are in flight. A
// send that fails means the node has no live connection: every request of
// the node fails with it (queued ones too: they would wait SendTimeout each
// for the same dead connection), and the retries go out on a fresh socket.
// It stops when the context is done; a send waits no longer than the
// context's deadline.
func (pl *pipeline) sendQueued(nd *pipeNode) {
	deadline, _ := pl.ctx.Deadline()
	for len(nd.queue) > 0 && nd.inflight < pl.p.cfg.Window {
		if pl.ctxErr() != nil {
			return
		}
		if nd.c == nil {
			c, err := nd.pr.take()
			if err != nil {
				queued := nd.queue
				nd.queue = nil
				for _, t := range queued {
					pl.failed(t, err)
				}
				return
			}
			nd.c = c
		}
		k, size := 0, 0
		for k < len(nd.queue) && k < pl.p.cfg.PipelineBatch && (k == 0 || size < pl.p.cfg.BatchBytes) {
			size += len(nd.queue[k].po.op.Key) + len(nd.queue[k].po.op.Value)
			k++
		}
		batch := append([]*pipeTask(nil), nd.queue[:k]...)
		nd.queue = nd.queue[k:]
		if len(nd.queue) == 0 {
			nd.queue = nil
		}
		var idb [9]byte
		id, num := pl.p.newID(idb[:0])
		var req protocol.Request
		if k == 1 {
			req = wireRequest(batch[0].po)
		} else {
			pl.ops = pl.ops[:0]
			for _, t := range batch {
				pl.ops = append(pl.ops, wireRequest(t.po))
			}
			req = protocol.Request{Op: protocol.OpBatch, Ops: pl.ops}
		}
		req.ID = id
		var err error
		if pl.msg, err = protocol.AppendRequest(pl.msg[:0], pl.p.codec, &req); err != nil {
			for _, t := range batch {
				pl.answered(t, protocol.Reply{}, err)
			}
			continue
		}
		if err := nd.c.sendBefore(pl.msg, deadline); err != nil {
			if errors.Is(err, context.DeadlineExceeded) || pl.ctxErr() != nil {
				// Not sent, and the context ended the wait: run reports
				// its error, not a node failure.
				nd.queue = append(batch, nd.queue...)
				return
			}
			lost := append(batch, nd.queue...)
			nd.queue = nil
			pl.lose(nd, fmt.Errorf("connection to %s lost: %w", nd.pr.rep, ErrTimeout))
			for _, t := range lost {
				pl.failed(t, err)
			}
			continue
		}
		pl.msgs[num] = &pipeMsg{node: nd, tasks: batch}
		if nd.inflight == 0 {
			nd.since = time.Now()
		}
		nd.inflight++
	}
}

// ctxErr is the context's error, or DeadlineExceeded once its deadline has
// passed (the context's timer may not have fired yet).
func (pl *pipeline) ctxErr() error {
	if err := pl.ctx.Err(); err != nil {
		return err
	}
	if d, ok := pl.ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}

func wireRequest(po *pipeOp) protocol.Request {
	o := po.op
	switch o.Kind {
	case OpGet:
		return protocol.Request{Op: protocol.OpGetOne, Key: o.Key}
	case OpPut:
		return protocol.Request{Op: protocol.OpPut, Key: o.Key, Value: o.Value, Version: po.version}
	}
	return protocol.Request{Op: protocol.OpDelete, Key: o.Key, Version: po.version}
}

// receive waits for replies (at most until the earliest node times out or
// the context's deadline, and no longer than cancelPoll when the context
// can be cancelled) and handles them. A node makes progress only with a
// reply to one of its requests in flight; anything else on its socket (a
// reply to a request already given up) leaves its timeout running.
func (pl *pipeline) receive() {
	poller := zmq.NewPoller()
	var polled []*pipeNode
	wait := pl.p.cfg.RequestTimeout
	now := time.Now()
	for _, nd := range pl.nodes {
		if nd.inflight > 0 && nd.c != nil {
			poller.Add(nd.c.s, zmq.POLLIN)
			polled = append(polled, nd)
			wait = min(wait, pl.p.cfg.RequestTimeout-now.Sub(nd.since))
		}
	}
	if len(polled) == 0 {
		return
	}
	if d, ok := pl.ctx.Deadline(); ok {
		wait = min(wait, d.Sub(now))
	}
	if pl.ctx.Done() != nil {
		wait = min(wait, cancelPoll)
	}
	if _, err := poller.Poll(max(wait, time.Millisecond)); err != nil && !isErrno(err, syscall.EINTR) {
		pl.p.log.Warn("poll failed", "err", err)
	}
	for _, nd := range polled {
		for nd.c != nil {
			frames, err := nd.c.s.RecvMessageBytes(zmq.DONTWAIT)
			if err != nil {
				break
			}
			rep, _, err := protocol.DecodeReply(frames[len(frames)-1])
			if err != nil {
				continue
			}
			num, ok := parseID(rep.ID, pl.p.codec)
			m := pl.msgs[num]
			if !ok || m == nil || m.node != nd {
				continue
			}
			delete(pl.msgs, num)
			nd.inflight--
			nd.since = time.Now()
			pl.answeredMsg(m, rep)
		}
	}
}

// expire times out every request of a node that made no progress for
// RequestTimeout and drops its socket.
func (pl *pipeline) expire() {
	now := time.Now()
	for _, nd := range pl.nodes {
		if nd.inflight > 0 && now.Sub(nd.since) >= pl.p.cfg.RequestTimeout {
			pl.lose(nd, fmt.Errorf("no reply from %s: %w", nd.pr.rep, ErrTimeout))
		}
	}
}

// lose drops nd's socket and fails the requests in flight on it with err:
// their replies could only come back on that socket. A node never has
// requests in flight without a socket.
func (pl *pipeline) lose(nd *pipeNode, err error) {
	var lost []*pipeTask
	if nd.inflight > 0 {
		for num, m := range pl.msgs {
			if m.node == nd {
				lost = append(lost, m.tasks...)
				delete(pl.msgs, num)
			}
		}
	}
	nd.inflight = 0
	if nd.c != nil {
		nd.pr.give(nd.c, false)
		nd.c = nil
	}
	for _, t := range lost {
		pl.failed(t, err)
	}
}

// failed handles a transport failure of t: retry on the same node when
// retryable allows it, else give up on the node.
func (pl *pipeline) failed(t *pipeTask, err error) {
	op := protocol.OpGetOne
	if t.po.op.Kind != OpGet {
		op = protocol.OpPut // PUT and DELETE: retried only when never sent
	}
	if retryable(err, op) && t.attempt < pl.p.cfg.Retries {
		pl.enqueue(t.po, t.node.pr, t.attempt+1)
		return
	}
	t.node.pr.suspect()
	pl.answered(t, protocol.Reply{}, &NodeError{Node: t.node.pr.name, Err: err})
}

// answeredMsg hands the reply to a message to its operations.
func (pl *pipeline) answeredMsg(m *pipeMsg, rep protocol.Reply) {
	if len(m.tasks) == 1 {
		pl.answered(m.tasks[0], rep, replyErr(rep))
		return
	}
	if err := replyErr(rep); err != nil || len(rep.Results) != len(m.tasks) {
		if err == nil {
			err = &ReplyError{Code: protocol.CodeInternal, Message: fmt.Sprintf("BATCH of %d answered with %d results", len(m.tasks), len(rep.Results))}
		}
		for _, t := range m.tasks {
			pl.answered(t, protocol.Reply{}, err)
		}
		return
	}
	for i, t := range m.tasks {
		pl.answered(t, rep.Results[i], replyErr(rep.Results[i]))
	}
}

// answered handles the final outcome of t on its node.
func (pl *pipeline) answered(t *pipeTask, rep protocol.Reply, err error) {
	po := t.po
	var re *ReplyError
	fatal := errors.As(err, &re) && re.Code != protocol.CodeInternal && re.Code != protocol.CodeNotFound &&
		re.Code != protocol.CodeNotReady && re.Code != protocol.CodeBusy // busy: a large value, ask another replica
	if po.op.Kind == OpGet {
		switch {
		case err == nil:
			pl.finish(po, Result{Value: rep.Value})
			return
		case fatal:
			pl.finish(po, Result{Err: err})
			return
		case errors.Is(err, ErrNotFound):
			po.notFound = true
		default:
			if po.failed == nil {
				po.failed = map[string]error{}
			}
			po.failed[t.node.pr.name] = err
		}
		if po.next < len(po.targets) {
			pl.enqueue(po, po.targets[po.next], 0)
			po.next++
			return
		}
		if po.notFound {
			pl.finish(po, Result{Err: fmt.Errorf("key %q: %w", po.op.Key, ErrNotFound)})
			return
		}
		pl.finish(po, Result{Err: &NodesError{Op: fmt.Sprintf("GET_ONE %q", po.op.Key), Kind: ErrUnavailable, Failed: po.failed}})
		return
	}
	po.pending--
	switch {
	case err == nil:
		po.acks++
		po.deleted = po.deleted || rep.Deleted
	case fatal:
		if po.failed == nil {
			po.failed = map[string]error{}
		}
		po.failed[""] = err
	default:
		if po.failed == nil {
			po.failed = map[string]error{}
		}
		po.failed[t.node.pr.name] = err
	}
	if po.pending > 0 {
		return
	}
	if fe := po.failed[""]; fe != nil {
		pl.finish(po, Result{Err: fe})
		return
	}
	if po.acks < len(po.targets) && !po.st.acked(po.op.Key, po.ackedNames()) {
		pl.finish(po, Result{Deleted: po.deleted, Err: &NodesError{Op: fmt.Sprintf("%v %q", po.op.Kind, po.op.Key), Kind: ErrQuorum, Failed: po.failed}})
		return
	}
	pl.finish(po, Result{Deleted: po.deleted})
}

// ackedNames returns the targets of a finished write that did not fail.
func (po *pipeOp) ackedNames() []string {
	var out []string
	for _, pr := range po.targets {
		if po.failed[pr.name] == nil {
			out = append(out, pr.name)
		}
	}
	return out
}

// abort completes every operation still running with err.
func (pl *pipeline) abort(err error, next, n int) {
	seen := map[*pipeOp]bool{}
	for _, nd := range pl.nodes {
		for _, t := range nd.queue {
			seen[t.po] = true
		}
		nd.queue = nil
	}
	for _, m := range pl.msgs {
		for _, t := range m.tasks {
			seen[t.po] = true
		}
	}
	pl.msgs = map[uint64]*pipeMsg{}
	for po := range seen {
		pl.finish(po, Result{Err: err})
	}
	for i := next; i < n; i++ {
		pl.done(i, Result{Err: err})
	}
}

// release gives the sockets back; a node with requests still in flight
// loses its socket (late replies must not reach the next user).
func (pl *pipeline) release() {
	for _, nd := range pl.nodes {
		if nd.c != nil {
			nd.pr.give(nd.c, nd.inflight == 0)
			nd.c = nil
		}
	}
}

// String names the kind as on the wire.
func (k OpKind) String() string {
	switch k {
	case OpGet:
		return "GET_ONE"
	case OpPut:
		return "PUT"
	case OpDelete:
		return "DELETE"
	}
	return fmt.Sprintf("OpKind(%d)", uint8(k))
}
