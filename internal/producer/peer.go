package producer

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/zshard/zshard/consul"
	"github.com/zshard/zshard/internal/curve"
	"github.com/zshard/zshard/internal/protocol"
)

// maxIdle bounds the idle request sockets a peer keeps.
const maxIdle = 64

// peer is one member node: its endpoints and a pool of request sockets.
type peer struct {
	p    *Producer
	name string
	rep  string
	pull string
	// curve is the node's CURVE public key (Meta "curve"), "" if none.
	curve string

	mu     sync.Mutex
	closed bool
	idle   []*zmq.Socket

	// suspectUntil (unix ns): the node failed recently; reads ask it last.
	suspectUntil atomic.Int64
}

func newPeer(p *Producer, m consul.Member) *peer {
	return &peer{p: p, name: m.Name, rep: m.RepURL, pull: m.PullURL, curve: m.Curve}
}

// conn is a request socket taken out of its peer's pool: only the goroutine
// that took it uses it until it is given back.
type conn struct {
	pr *peer
	s  *zmq.Socket
	// dirty: the socket's options could not be set back; not pooled.
	dirty bool
}

var errPeerGone = errors.New("node left the cluster")

// take returns an idle request socket or a new one.
func (pr *peer) take() (*conn, error) {
	pr.mu.Lock()
	if pr.closed {
		pr.mu.Unlock()
		return nil, fmt.Errorf("%w: %w", errPeerGone, errNotSent)
	}
	if n := len(pr.idle); n > 0 {
		s := pr.idle[n-1]
		pr.idle = pr.idle[:n-1]
		pr.mu.Unlock()
		return &conn{pr: pr, s: s}, nil
	}
	pr.mu.Unlock()
	s, err := pr.p.newSocket(pr, zmq.DEALER, pr.rep, 0)
	if err != nil {
		return nil, err
	}
	return &conn{pr: pr, s: s}, nil
}

// give returns c to the pool; a socket that timed out (healthy false) is
// closed instead, so a late reply cannot reach the next user and the next
// attempt reconnects.
func (pr *peer) give(c *conn, healthy bool) {
	pr.mu.Lock()
	if healthy && !c.dirty && !pr.closed && len(pr.idle) < maxIdle {
		pr.idle = append(pr.idle, c.s)
		pr.mu.Unlock()
		return
	}
	pr.mu.Unlock()
	_ = c.s.Close()
}

// close closes the idle sockets; sockets in use are closed when given back.
func (pr *peer) close() {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	pr.closed = true
	for _, s := range pr.idle {
		_ = s.Close()
	}
	pr.idle = nil
}

func (pr *peer) suspect() {
	pr.suspectUntil.Store(time.Now().Add(pr.p.cfg.SuspectFor).UnixNano())
}

func (pr *peer) suspected(now int64) bool { return pr.suspectUntil.Load() > now }

// newSocket creates a socket connected to ep, an endpoint of pr. Every
// socket has LINGER 0 (a request whose caller gave up is not worth
// delivering), IMMEDIATE (nothing queues for a peer with no live
// connection) and the send timeout. With Config.Curve it is a CURVE client
// of pr, and a node that refuses the key is an error (curve.RefusedError).
func (p *Producer) newSocket(pr *peer, typ zmq.Type, ep string, hwm int) (*zmq.Socket, error) {
	s, err := p.zctx.NewSocket(typ)
	if err != nil {
		return nil, fmt.Errorf("producer: socket: %w", err)
	}
	opts := []error{
		s.SetLinger(0),
		s.SetImmediate(true),
		s.SetSndtimeo(p.cfg.SendTimeout),
		s.SetReconnectIvl(50 * time.Millisecond),
		s.SetReconnectIvlMax(time.Second),
	}
	if hwm > 0 {
		opts = append(opts, s.SetSndhwm(hwm))
	}
	if err := errors.Join(opts...); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("producer: socket options: %w", err)
	}
	if p.cfg.Curve == nil && pr.curve != "" {
		_ = s.Close()
		return nil, fmt.Errorf("producer: node %s (%s): %w", pr.name, ep, curve.ErrKeyNeeded)
	}
	if p.cfg.Curve != nil {
		if err := p.connectCurve(pr, s, ep); err != nil {
			_ = s.Close()
			return nil, err
		}
		return s, nil
	}
	if err := s.Connect(ep); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("producer: connect %s: %w", ep, err)
	}
	return s, nil
}

// connectCurve connects s to ep, an endpoint of pr, as a CURVE client.
func (p *Producer) connectCurve(pr *peer, s *zmq.Socket, ep string) error {
	cc := p.cfg.Curve
	key, err := cc.ServerKeyFor(pr.name, pr.curve)
	if err != nil {
		return fmt.Errorf("producer: %w", err)
	}
	if err := cc.Apply(s, key); err != nil {
		return fmt.Errorf("producer: %w", err)
	}
	if err := cc.Connect(s, pr.name, ep); err != nil {
		return fmt.Errorf("producer: %w", err)
	}
	return nil
}

// send sends one single-frame message; a send that times out (no live
// connection, or the peer's queue is full) is ErrTimeout.
func (c *conn) send(msg []byte) error {
	for {
		_, err := c.s.SendBytes(msg, 0)
		switch {
		case err == nil:
			return nil
		case isErrno(err, syscall.EINTR):
			continue
		case isErrno(err, syscall.EAGAIN):
			return fmt.Errorf("send to %s: %w", c.pr.rep, errNotSent)
		default:
			return fmt.Errorf("send to %s: %w: %w", c.pr.rep, err, errNotSent)
		}
	}
}

// sendBefore is send, waiting no later than deadline when that comes before
// SendTimeout runs out (a zero deadline: no bound). A send so cut short that
// fails wraps context.DeadlineExceeded: the deadline, not the node, ended
// it. The shorter wait is set for this send only; if the socket cannot be
// set back, c is marked so that give closes it.
func (c *conn) sendBefore(msg []byte, deadline time.Time) error {
	full := c.pr.p.cfg.SendTimeout
	left := time.Until(deadline)
	if deadline.IsZero() || left >= full {
		return c.send(msg)
	}
	if left <= 0 {
		return fmt.Errorf("send to %s: %w: %w", c.pr.rep, context.DeadlineExceeded, errNotSent)
	}
	// ZMQ_SNDTIMEO is in milliseconds: round up, 0 would not wait at all.
	if err := c.s.SetSndtimeo(left.Round(time.Millisecond) + time.Millisecond); err != nil {
		c.dirty = true
		return fmt.Errorf("send to %s: %w: %w", c.pr.rep, err, errNotSent)
	}
	err := c.send(msg)
	if c.s.SetSndtimeo(full) != nil {
		c.dirty = true
	}
	if err != nil {
		return fmt.Errorf("%w: %w", context.DeadlineExceeded, err)
	}
	return nil
}

// recv waits until deadline for the reply carrying id, dropping replies to
// earlier requests.
func (c *conn) recv(id []byte, deadline time.Time) (protocol.Reply, error) {
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return protocol.Reply{}, fmt.Errorf("no reply from %s: %w", c.pr.rep, ErrTimeout)
		}
		if err := c.s.SetRcvtimeo(max(left, time.Millisecond)); err != nil {
			return protocol.Reply{}, fmt.Errorf("%w: %w", err, ErrTimeout)
		}
		frames, err := c.s.RecvMessageBytes(0)
		if err != nil {
			if isErrno(err, syscall.EINTR) {
				continue
			}
			if isErrno(err, syscall.EAGAIN) {
				return protocol.Reply{}, fmt.Errorf("no reply from %s: %w", c.pr.rep, ErrTimeout)
			}
			return protocol.Reply{}, fmt.Errorf("receive from %s: %w: %w", c.pr.rep, err, ErrTimeout)
		}
		rep, _, err := protocol.DecodeReply(frames[len(frames)-1])
		if err != nil {
			// Not ours to answer; a broken reply counts as no reply.
			c.pr.p.log.Warn("undecodable reply", "node", c.pr.name, "err", err)
			continue
		}
		if string(rep.ID) != string(id) {
			continue // a late reply to an attempt that timed out
		}
		return rep, nil
	}
}

func isErrno(err error, e syscall.Errno) bool {
	var ze zmq.Errno
	if errors.As(err, &ze) {
		return syscall.Errno(ze) == e
	}
	return errors.Is(err, e)
}

// newID returns a fresh request id encoded in the producer's codec, and its
// number.
func (p *Producer) newID(dst []byte) ([]byte, uint64) {
	n := p.nextID.Add(1)
	return appendID(dst, p.codec, n), n
}

func appendID(dst []byte, c protocol.Codec, n uint64) []byte {
	if c == protocol.Msgpack {
		return binary.BigEndian.AppendUint64(append(dst, 0xcf), n)
	}
	return strconv.AppendUint(dst, n, 10)
}

// parseID reverses appendID; ok is false for an id the producer did not write.
func parseID(b []byte, c protocol.Codec) (uint64, bool) {
	if c == protocol.Msgpack {
		if len(b) != 9 || b[0] != 0xcf {
			return 0, false
		}
		return binary.BigEndian.Uint64(b[1:]), true
	}
	n, err := strconv.ParseUint(string(b), 10, 64)
	return n, err == nil
}
