package producer

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"syscall"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/zshard/zshard/internal/protocol"
)

// ErrSync means a Bulk.Sync barrier did not confirm every node.
var ErrSync = errors.New("producer: bulk operations not confirmed by every node")

// Bulk loads many operations through the nodes' ingest endpoints: each
// operation is appended to a BATCH per replica node, which is pushed when it
// is full, without waiting for anything. Sync is the acknowledgement: it
// returns nil once every operation added before it has been applied on every
// replica.
//
// A Bulk owns one PUSH socket per node it writes to and is not safe for
// concurrent use; loading goroutines each use their own. Producer.Close
// closes the Bulks still open; their later calls fail with ErrClosed.
type Bulk struct {
	p *Producer
	// mu is held by every method, so Producer.Close can close the Bulk
	// between two of its calls; a Bulk is still for one goroutine.
	mu     sync.Mutex
	nodes  map[*peer]*bulkNode
	tokens int
	closed bool
	buf    [8]string
	ops    int
}

type bulkNode struct {
	pr   *peer
	push *zmq.Socket
	msg  []byte
	n    int   // ops in msg
	sent int   // ops pushed since the last Sync
	err  error // first push failure since the last Sync
}

// NewBulk starts a bulk loader.
func (p *Producer) NewBulk() (*Bulk, error) {
	b := &Bulk{p: p, nodes: map[*peer]*bulkNode{}}
	p.gateMu.Lock()
	defer p.gateMu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	p.bulks[b] = struct{}{}
	return b, nil
}

// Put queues a PUT of value (raw, in the producer's codec) to every replica
// of key. It fails only when the cluster has no member or the Bulk is
// closed; delivery failures are reported by Sync.
func (b *Bulk) Put(ctx context.Context, key string, value []byte) error {
	return b.add(ctx, protocol.OpPut, key, value)
}

// Delete queues a DELETE of key on every replica.
func (b *Bulk) Delete(ctx context.Context, key string) error {
	return b.add(ctx, protocol.OpDelete, key, nil)
}

// usable reports why b cannot queue an operation now (b closed or ctx
// done), if it cannot. The caller holds b.mu.
func (b *Bulk) usable(ctx context.Context) error {
	if b.closed {
		return ErrClosed
	}
	return ctx.Err()
}

func (b *Bulk) add(ctx context.Context, op protocol.Op, key string, value []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.usable(ctx); err != nil {
		return err
	}
	targets, err := b.p.st.Load().targets(key, b.buf[:])
	if err != nil {
		return err
	}
	return b.addTo(protocol.Request{Op: op, Key: key, Value: value, Version: b.p.clock.Now()}, targets)
}

// addTo appends req to the batches of targets. Called with b.mu held.
func (b *Bulk) addTo(req protocol.Request, targets []*peer) error {
	var err error
	for _, pr := range targets {
		bn := b.node(pr)
		if bn.n == 0 {
			bn.msg = b.openBatch(bn.msg[:0])
		} else if b.p.codec == protocol.JSON {
			bn.msg = append(bn.msg, ',')
		}
		if bn.msg, err = protocol.AppendRequest(bn.msg, b.p.codec, &req); err != nil {
			return err
		}
		bn.n++
		if bn.n >= b.p.cfg.BatchOps || len(bn.msg) >= b.p.cfg.BatchBytes {
			b.flush(bn)
		}
	}
	b.ops++
	return nil
}

func (b *Bulk) node(pr *peer) *bulkNode {
	bn := b.nodes[pr]
	if bn == nil {
		bn = &bulkNode{pr: pr}
		b.nodes[pr] = bn
	}
	return bn
}

// openBatch writes the head of a BATCH message; msgpack leaves room for an
// array32 length that closeBatch fills in.
func (b *Bulk) openBatch(dst []byte) []byte {
	if b.p.codec == protocol.JSON {
		return append(dst, `{"op":"BATCH","ops":[`...)
	}
	dst = append(dst, 0x82, 0xa2, 'o', 'p', 0xa5, 'B', 'A', 'T', 'C', 'H', 0xa3, 'o', 'p', 's')
	return append(dst, 0xdd, 0, 0, 0, 0)
}

func (b *Bulk) closeBatch(bn *bulkNode) {
	if b.p.codec == protocol.JSON {
		bn.msg = append(bn.msg, ']', '}')
		return
	}
	binary.BigEndian.PutUint32(bn.msg[15:19], uint32(bn.n))
}

// flush pushes bn's batch. A node that failed a push since the last Sync
// gets nothing more until then: Sync reports it.
func (b *Bulk) flush(bn *bulkNode) {
	if bn.n == 0 {
		return
	}
	b.closeBatch(bn)
	n := bn.n
	bn.n = 0
	if bn.err != nil {
		return
	}
	if bn.push == nil {
		s, err := b.p.newSocket(bn.pr, zmq.PUSH, bn.pr.pull, b.p.cfg.PushHWM)
		if err != nil {
			bn.err = err
			return
		}
		bn.push = s
	}
	if err := pushSend(bn.push, bn.msg, b.p.cfg.RequestTimeout); err != nil {
		bn.err = fmt.Errorf("push to %s: %w", bn.pr.pull, err)
		bn.pr.suspect()
		return
	}
	bn.sent += n
}

// pushSend sends one message on a PUSH socket. A send that times out
// (EAGAIN: no live connection yet, or the node's queue is full) is retried
// until patience has passed: a socket created a moment ago is still
// connecting, and a busy node drains its queue; only a node that stays
// unreachable for that long fails the push.
func pushSend(s *zmq.Socket, msg []byte, patience time.Duration) error {
	deadline := time.Now().Add(patience)
	for {
		_, err := s.SendBytes(msg, 0)
		switch {
		case err == nil:
			return nil
		case isErrno(err, syscall.EINTR):
			continue
		case isErrno(err, syscall.EAGAIN): // no live connection, or the queue is full
			if time.Now().Before(deadline) {
				continue
			}
			return ErrTimeout
		default:
			return fmt.Errorf("%w: %w", err, ErrTimeout)
		}
	}
}

// Pending returns how many operations were added since the last Sync.
func (b *Bulk) Pending() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ops
}

// Sync pushes what is batched, then a SYNC marker to every node written to
// since the last Sync, and waits (up to Config.SyncTimeout) for each node to
// confirm on its request endpoint that it applied everything up to the
// marker. It returns nil when every node confirmed, else a *NodesError
// wrapping ErrSync that names the nodes that did not (their operations since
// the last Sync may be lost and should be written again).
func (b *Bulk) Sync(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	if err := b.p.enter(); err != nil {
		return err
	}
	defer b.p.leave()
	var targets []*peer
	tokens := map[*peer]string{}
	failed := map[string]error{}
	for pr, bn := range b.nodes {
		b.flush(bn)
		if bn.sent == 0 && bn.err == nil {
			continue
		}
		if bn.err == nil {
			b.tokens++
			tok := b.p.instance + "-" + strconv.Itoa(b.tokens)
			marker, _ := protocol.AppendRequest(bn.msg[:0], b.p.codec, &protocol.Request{Op: protocol.OpSync, Token: tok})
			if err := pushSend(bn.push, marker, b.p.cfg.RequestTimeout); err != nil {
				bn.err = fmt.Errorf("push SYNC marker to %s: %w", pr.pull, err)
			} else {
				targets = append(targets, pr)
				tokens[pr] = tok
			}
		}
		if bn.err != nil {
			failed[pr.name] = bn.err
		}
	}
	var acked []string
	// One SYNC per node; each carries its own token, so they go one by one
	// but overlap: the nodes apply their queues concurrently meanwhile.
	for _, pr := range targets {
		timeout := b.p.cfg.SyncTimeout
		req := protocol.Request{Op: protocol.OpSync, Token: tokens[pr], TimeoutMS: int(timeout / time.Millisecond)}
		if _, err := b.p.call(ctx, pr, req, timeout+time.Second); err != nil {
			failed[pr.name] = err
			continue
		}
		acked = append(acked, pr.name)
	}
	for _, bn := range b.nodes {
		bn.sent, bn.err = 0, nil
	}
	b.ops = 0
	if len(failed) > 0 {
		return &NodesError{Op: "bulk SYNC", Kind: ErrSync, Acked: acked, Failed: failed}
	}
	return nil
}

// Close pushes what is still batched (without waiting for it: call Sync
// first for an acknowledgement) and closes the PUSH sockets, giving queued
// messages up to Config.SendTimeout to leave. It is safe to call twice.
func (b *Bulk) Close() error {
	b.p.gateMu.Lock()
	delete(b.p.bulks, b)
	b.p.gateMu.Unlock()
	b.close(true)
	return nil
}

// close closes the sockets, after pushing what is batched if flush.
func (b *Bulk) close(flush bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	b.closed = true
	for _, bn := range b.nodes {
		if flush {
			b.flush(bn)
		}
		if bn.push != nil {
			_ = bn.push.SetLinger(b.p.cfg.SendTimeout)
			_ = bn.push.Close()
		}
	}
	b.nodes = nil
}

// PutTo queues a PUT of value to the passing member named node only,
// whatever the placement. Sync acknowledges it like any other operation.
func (b *Bulk) PutTo(ctx context.Context, node, key string, value []byte) error {
	return b.addDirect(ctx, protocol.Request{Op: protocol.OpPut, Key: key, Value: value}, node)
}

// CopyTo is PutTo with "if_absent": the node keeps the value it holds, if
// any (a newer write); the rebalancer's copy path. A node older than
// if_absent applies it as a plain PUT. value is in codec c: a value in
// another codec than the producer's goes raw ("raw_value", which only a
// node with the raw feature takes), so the node stores it as it is.
func (b *Bulk) CopyTo(ctx context.Context, node, key string, value []byte, c protocol.Codec) error {
	return b.addDirect(ctx, b.p.PutOf(key, value, c, true), node)
}

// SendTo queues req, a PUT or DELETE carrying whatever it needs (a version,
// a raw value), to the passing member named node only: the path of copies
// and repairs that must keep a record's version.
func (b *Bulk) SendTo(ctx context.Context, node string, req protocol.Request) error {
	if req.Op != protocol.OpPut && req.Op != protocol.OpDelete {
		return fmt.Errorf("producer: SendTo of %v: only PUT and DELETE", req.Op)
	}
	return b.addDirect(ctx, req, node)
}

// DeleteTo queues a DELETE of key on the passing member named node only.
func (b *Bulk) DeleteTo(ctx context.Context, node, key string) error {
	return b.addDirect(ctx, protocol.Request{Op: protocol.OpDelete, Key: key}, node)
}

func (b *Bulk) addDirect(ctx context.Context, req protocol.Request, node string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.usable(ctx); err != nil {
		return err
	}
	pr := b.p.st.Load().peers[node]
	if pr == nil {
		return &NodeError{Node: node, Err: fmt.Errorf("%w: %s is not a passing member", ErrUnavailable, node)}
	}
	return b.addTo(req, []*peer{pr})
}
