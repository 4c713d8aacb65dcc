package node

import (
	"fmt"
	"slices"
	"syscall"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/zshard/zshard/internal/curve"
	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/internal/store"
)

// maxBurst bounds how many messages one socket is drained of before the
// loop looks at its other socket again.
const maxBurst = 256

// requestLoop owns the ROUTER socket and the receiving end of the wake-up
// pipe.
func (n *Node) requestLoop(router, wake *zmq.Socket) {
	defer closeSocket(wake, 0)
	defer closeSocket(router, n.cfg.Linger)
	poller := zmq.NewPoller()
	poller.Add(router, zmq.POLLIN)
	poller.Add(wake, zmq.POLLIN)
	rl := reqLoop{n: n, router: router, buf: make([]byte, 0, 4096)}
	defer func() { n.leftover = rl.inflight; rl.dropQueues() }()
	for !n.closing() {
		if len(rl.inflight) > 0 {
			rl.sweep()
		}
		if len(rl.waiters) == 0 && rl.pending == 0 {
			// Nothing waits for the ingest loop: block on the ROUTER alone
			// (ZMQ_RCVTIMEO is PollInterval), one call per request. Wake-ups
			// sent meanwhile stay queued and are drained by the poll path.
			frames, role, err := n.recvFrom(router, 0)
			switch {
			case err == nil:
				rl.handle(frames, role)
				if len(rl.held) > 0 {
					rl.drain() // more writes join the group commit
				}
			case isErrno(err, syscall.EAGAIN), isErrno(err, syscall.EINTR), err == errRefused:
			default:
				n.log.Error("request endpoint receive failed", "err", err)
				time.Sleep(n.cfg.PollInterval)
			}
			continue
		}
		timeout := n.cfg.PollInterval
		if len(rl.waiters) > 0 {
			timeout = min(timeout, max(time.Until(rl.nextDeadline()), time.Millisecond))
		}
		polled, err := poller.Poll(timeout)
		if err != nil {
			if isErrno(err, syscall.EINTR) {
				continue
			}
			n.log.Error("request endpoint poll failed", "err", err)
			time.Sleep(n.cfg.PollInterval)
			continue
		}
		for _, p := range polled {
			if p.Socket == router {
				rl.drain()
			} else {
				for range maxBurst {
					if _, err := wake.RecvBytes(zmq.DONTWAIT); err != nil {
						break
					}
				}
			}
		}
		if rl.pending > 0 {
			rl.sendLarge()
		}
		if len(rl.waiters) > 0 {
			rl.settleWaiters(time.Now(), false)
		}
	}
	rl.settleWaiters(time.Now(), true)
}

// reqLoop is the state of the request loop; only that goroutine uses it.
type reqLoop struct {
	n        *Node
	router   *zmq.Socket
	buf      []byte
	waiters  []*syncWaiter
	held     []heldReply            // replies waiting for the group commit
	pending  int                    // GET_ALLs and SCANs handed to the workers, not yet back
	inflight []inflight             // large replies handed to ZeroMQ, not yet released
	ordered  map[string]*replyQueue // by peer: replies held behind a large one being built
	jobs     uint64                 // large jobs dispatched, numbering them
}

// drain handles the requests queued on the ROUTER socket (up to maxBurst),
// then commits the writes among them.
func (rl *reqLoop) drain() {
	defer rl.commit()
	for range maxBurst {
		frames, role, err := rl.n.recvFrom(rl.router, zmq.DONTWAIT)
		if err == errRefused {
			continue
		}
		if err != nil {
			if !isErrno(err, syscall.EAGAIN) && !isErrno(err, syscall.EINTR) {
				rl.n.log.Warn("request endpoint receive failed", "err", err)
			}
			return
		}
		rl.handle(frames, role)
	}
}

// splitEnvelope splits a ROUTER message into its routing envelope (the
// peer identity, plus any frames up to and including the first empty
// delimiter frame, as REQ sends) and its body frames.
func splitEnvelope(frames [][]byte) (envelope, body [][]byte) {
	for i := 1; i < len(frames); i++ {
		if len(frames[i]) == 0 {
			return frames[:i+1], frames[i+1:]
		}
	}
	return frames[:1], frames[1:]
}

func (rl *reqLoop) handle(frames [][]byte, role curve.Role) {
	n := rl.n
	t0 := n.requestStart()
	ep := &n.stats.request
	ep.messages.Add(1)
	for _, f := range frames {
		ep.bytes.Add(uint64(len(f)))
	}
	envelope, body := splitEnvelope(frames)
	var msg []byte
	switch len(body) {
	case 0:
		rl.fail(envelope, protocol.JSON, nil, protocol.Errorf(protocol.CodeBadRequest, "empty message"))
		return
	case 1:
		msg = body[0]
	default:
		rl.fail(envelope, protocol.JSON, nil, protocol.Errorf(protocol.CodeBadRequest,
			"multipart message of %d frames; a request is exactly one frame", len(body)))
		return
	}
	req, c, err := protocol.DecodeRequest(msg, n.cfg.Limits)
	if err != nil {
		rl.fail(envelope, c, nil, err)
		return
	}
	if err := n.authorize(role, &req); err != nil {
		rl.fail(envelope, c, req.ID, err)
		return
	}
	if req.Op == protocol.OpSync {
		n.stats.op(protocol.OpSync)
		if n.tokens.has(req.Token) {
			rl.send(envelope, c, &protocol.Reply{Op: protocol.OpSync, Status: protocol.StatusOK, ID: req.ID, Token: req.Token})
			n.observeSync(t0)
			return
		}
		timeout := n.cfg.SyncTimeout
		if req.TimeoutMS > 0 {
			timeout = min(time.Duration(req.TimeoutMS)*time.Millisecond, n.cfg.MaxSyncTimeout)
		}
		rl.waiters = append(rl.waiters, &syncWaiter{envelope: envelope, codec: c, id: req.ID,
			token: req.Token, deadline: time.Now().Add(timeout), start: t0})
		return
	}
	if isLarge(req.Op) {
		rl.dispatch(envelope, c, &req, t0)
		return
	}
	rep := n.execute(c, &req)
	if rep.Status == protocol.StatusError {
		ep.errors.Add(1)
	}
	if n.syncer != nil && n.cfg.Sync == SyncAlways {
		if w := isWrite(&req); w || len(rl.held) > 0 {
			rl.hold(heldReply{envelope: envelope, codec: c, rep: rep, write: w, op: req.Op, start: t0})
			return
		}
	}
	rl.send(envelope, c, &rep)
	n.observeRequest(req.Op, t0)
}

func (rl *reqLoop) fail(envelope [][]byte, c protocol.Codec, id []byte, err error) {
	pe := protocol.AsError(err)
	rl.n.stats.err(pe.Code)
	rl.n.stats.request.errors.Add(1)
	rl.n.log.Debug("bad request", "code", pe.Code, "err", pe.Message)
	rep := protocol.Reply{Status: protocol.StatusError, Err: pe, ID: id}
	if len(rl.held) > 0 {
		rl.hold(heldReply{envelope: envelope, codec: c, rep: rep}) // keep the replies in order
		return
	}
	rl.send(envelope, c, &rep)
}

func (rl *reqLoop) send(envelope [][]byte, c protocol.Codec, rep *protocol.Reply) {
	b := rl.n.appendReply(rl.buf[:0], c, rep)
	if cap(b) <= 1<<20 {
		rl.buf = b // keep a modest buffer for the next reply
	}
	if len(rl.ordered) > 0 && rl.queueBehind(envelope, b) {
		return // after a large reply still being built
	}
	if len(b) > countedReplyBytes && rl.sendCounted(envelope, c, rep, b) {
		return
	}
	// DONTWAIT: a peer that is gone or not reading never blocks the loop;
	// ROUTER drops the reply.
	if err := sendReply(rl.router, envelope, b); err != nil {
		rl.n.log.Debug("reply dropped", "err", err)
	}
}

// appendReply appends rep encoded in c to buf; a reply that cannot be
// encoded is answered with an internal error carrying its ID.
func (n *Node) appendReply(buf []byte, c protocol.Codec, rep *protocol.Reply) []byte {
	b, err := protocol.AppendReply(buf, c, rep)
	if err != nil {
		n.log.Error("encode reply", "err", err)
		fallback := protocol.ErrorReply(protocol.Errorf(protocol.CodeInternal, "cannot encode reply"))
		fallback.ID = rep.ID
		b, _ = protocol.AppendReply(buf, c, &fallback)
	}
	return b
}

// recvMessage receives one multipart message, as RecvMessageBytes does, into
// a slice with room for the three frames of a request from a REQ socket
// (identity, delimiter, body), sparing the allocations of growing it.
func recvMessage(s *zmq.Socket, flags zmq.Flag) ([][]byte, error) {
	frames := make([][]byte, 0, 4)
	for {
		f, err := s.RecvBytes(flags)
		if err != nil {
			return nil, err
		}
		frames = append(frames, f)
		more, err := s.GetRcvmore()
		if err != nil {
			return nil, err
		}
		if !more {
			return frames, nil
		}
	}
}

// sendReply sends envelope and body as one message without waiting, as
// SendMessageDontwait does, without boxing its arguments in interfaces.
func sendReply(s *zmq.Socket, envelope [][]byte, body []byte) error {
	for _, f := range envelope {
		if _, err := s.SendBytes(f, zmq.SNDMORE|zmq.DONTWAIT); err != nil {
			return err
		}
	}
	_, err := s.SendBytes(body, zmq.DONTWAIT)
	return err
}

func (rl *reqLoop) nextDeadline() time.Time {
	d := rl.waiters[0].deadline
	for _, w := range rl.waiters[1:] {
		if w.deadline.Before(d) {
			d = w.deadline
		}
	}
	return d
}

// settleWaiters answers every SYNC whose token has arrived, whose deadline
// has passed, or all of them when the node is closing.
func (rl *reqLoop) settleWaiters(now time.Time, closing bool) {
	n := rl.n
	kept := rl.waiters[:0]
	for _, w := range rl.waiters {
		switch {
		case n.tokens.has(w.token):
			rl.send(w.envelope, w.codec, &protocol.Reply{Op: protocol.OpSync, Status: protocol.StatusOK, ID: w.id, Token: w.token})
			n.observeSync(w.start)
		case closing:
			rl.failSync(w, protocol.Errorf(protocol.CodeInternal, "node is shutting down"))
		case !now.Before(w.deadline):
			rl.failSync(w, protocol.Errorf(protocol.CodeTimeout, "SYNC token %q was not seen on the ingest endpoint in time", w.token))
		default:
			kept = append(kept, w)
		}
	}
	clear(rl.waiters[len(kept):])
	rl.waiters = kept
}

func (rl *reqLoop) failSync(w *syncWaiter, pe *protocol.Error) {
	rl.n.stats.err(pe.Code)
	rl.n.stats.request.errors.Add(1)
	rl.send(w.envelope, w.codec, &protocol.Reply{Status: protocol.StatusError, Err: pe, ID: w.id})
	rl.n.observeSync(w.start)
}

// ingestLoop owns the PULL socket and the sending end of the wake-up pipe.
func (n *Node) ingestLoop(pull, wake *zmq.Socket) {
	defer closeSocket(wake, 0)
	defer closeSocket(pull, 0) // nothing is ever sent on a PULL socket
	n.wakeTx = wake
	in := &ingester{n: n, log: ingestLog{n: n}}
	if n.batcher != nil {
		in.bulk = n.batcher.BulkBytes()
	}
	defer in.flush() // what was received before Close is applied
	for !n.closing() {
		// With PUTs gathered, look for more without waiting: once none is
		// queued, they are applied.
		var flags zmq.Flag
		if len(in.puts) > 0 {
			flags = zmq.DONTWAIT
		}
		frames, role, err := n.recvFrom(pull, flags)
		if err != nil {
			switch {
			case isErrno(err, syscall.EAGAIN):
				in.flush()
			case isErrno(err, syscall.EINTR), err == errRefused:
			default:
				n.log.Error("ingest endpoint receive failed", "err", err)
				time.Sleep(n.cfg.PollInterval)
			}
			continue
		}
		n.onIngest(frames, in, role)
	}
}

// ingester is the state of the ingest loop; only that goroutine uses it.
//
// It gathers the runs of plain PUTs of consecutive messages into one store
// commit of up to bulk bytes (keys and values; the store's BulkBytes): a
// durable store commits a batch that large without inserting each key into
// its memtable, 1.5x cheaper per key than runs of 512. The gathered PUTs
// are applied before any other op of the endpoint (so the order of writes
// is kept and a SYNC barrier still covers everything before it), when
// bulk bytes are gathered, and as soon as no message is queued: a write is
// applied at most one drained burst later than it would be alone.
type ingester struct {
	n        *Node
	log      ingestLog
	puts     []store.Entry
	assigned []bool // assigned[i]: the node versioned puts[i]
	applied  []bool // ApplyMany's results, reused
	bytes    int
	bulk     int
}

// add gathers PUT i of the BATCH b in codec c, at the version bs gives it,
// or returns (and counts) the error of that version.
func (in *ingester) add(c protocol.Codec, b *protocol.Request, i int, bs *batchStamps) error {
	st, err := bs.of(in.n, b, i)
	if err != nil {
		in.n.stats.err(protocol.AsError(err).Code)
		return err
	}
	op := &b.Ops[i]
	v := putValue(c, op)
	v.Version = st.v
	in.puts = append(in.puts, store.Entry{Key: op.Key, Value: v})
	in.assigned = append(in.assigned, st.assigned)
	in.bytes += len(op.Key) + len(op.Value)
	return nil
}

// flush applies the gathered PUTs in one commit and reports a failure.
func (in *ingester) flush() {
	if len(in.puts) == 0 {
		return
	}
	in.applied = slices.Grow(in.applied[:0], len(in.puts))[:len(in.puts)]
	if err := in.n.applyMany(in.puts, in.applied, in.assigned); err != nil {
		code := protocol.AsError(err).Code
		for range in.puts {
			in.n.stats.err(code)
		}
		in.n.stats.ingest.errors.Add(1)
		in.log.report(len(in.puts), fmt.Errorf("%d PUTs: %w", len(in.puts), err))
	}
	clear(in.puts) // drop the references to the messages
	in.puts, in.assigned, in.bytes = in.puts[:0], in.assigned[:0], 0
}

// wakeRequestLoop tells the request loop a SYNC token arrived. It runs only
// on the ingest loop, which owns wakeTx. A full pipe means a wake-up is
// already pending, so the message is dropped.
func (n *Node) wakeRequestLoop() {
	_, _ = n.wakeTx.SendBytes(nil, zmq.DONTWAIT)
}

func (n *Node) onIngest(frames [][]byte, in *ingester, role curve.Role) {
	il := &in.log
	ep := &n.stats.ingest
	ep.messages.Add(1)
	for _, f := range frames {
		ep.bytes.Add(uint64(len(f)))
	}
	var err error
	failed := 0
	switch {
	case len(frames) != 1:
		err = protocol.Errorf(protocol.CodeBadRequest, "multipart message of %d frames; a message is exactly one frame", len(frames))
	default:
		var req protocol.Request
		var c protocol.Codec
		if req, c, err = protocol.DecodeRequest(frames[0], n.cfg.Limits); err != nil {
			break
		}
		if err = n.authorize(role, &req); err != nil {
			break
		}
		n.observeIngest(&req)
		if !req.Op.Ingestible() {
			n.stats.ingestOp(req.Op)
			err = protocol.Errorf(protocol.CodeBadRequest, "op %v is not accepted on the ingest endpoint (PUT, DELETE, BATCH and SYNC are)", req.Op)
			break
		}
		if failed, err = n.ingest(in, c, &req); failed > 0 {
			ep.errors.Add(1)
			il.report(failed, err)
		}
		return
	}
	n.stats.err(protocol.AsError(err).Code)
	ep.errors.Add(1)
	il.report(1, err)
}

// ingestLog logs ingest errors at most once per second, with a count of
// those it held back, so a stream of junk cannot flood the log.
type ingestLog struct {
	n          *Node
	last       time.Time
	suppressed int
}

func (il *ingestLog) report(failed int, err error) {
	now := time.Now()
	if now.Sub(il.last) < time.Second {
		il.suppressed += failed
		return
	}
	il.n.log.Warn("ingest message rejected", "failed_ops", failed, "err", err, "suppressed_since_last", il.suppressed)
	il.last, il.suppressed = now, 0
}
