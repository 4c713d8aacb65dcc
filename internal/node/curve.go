package node

import (
	"errors"
	"sync/atomic"

	zmq "github.com/pebbe/zmq4"

	"github.com/zshard/zshard/internal/curve"
	"github.com/zshard/zshard/internal/protocol"
)

// This file holds the node's side of CURVE (Config.Curve): both endpoints
// are CURVE servers whose ZAP handler (package curve) admits the keys of
// the allowlist, every message is checked against the allowlist in force
// when it arrives, and maintenance operations need an admin key.

// errRefused is a message from a key the allowlist no longer admits: it
// was dropped, unanswered.
var errRefused = errors.New("node: message from a key the allowlist does not admit")

// curveState is the node's CURVE state; nil without CURVE.
type curveState struct {
	cfg        curve.ServerConfig
	allow      *curve.Allowlist
	srv        *curve.Server // from Start on
	forbidden  atomic.Uint64
	refusedLog curve.RateLog
}

// newCurve reads the allowlist of cfg (nil: no CURVE).
func (n *Node) newCurve(cfg *curve.ServerConfig) error {
	if cfg == nil {
		return nil
	}
	allow, err := cfg.Allowlist(n.log)
	if err != nil {
		return err
	}
	n.curve = &curveState{cfg: *cfg, allow: allow, refusedLog: curve.RateLog{Log: n.log}}
	return nil
}

// secure makes the unbound router and pull CURVE servers and returns the
// loop that answers their ZAP requests (nil without CURVE).
func (n *Node) secure(zctx *zmq.Context, router, pull *zmq.Socket) (func(), error) {
	cs := n.curve
	if cs == nil {
		return nil, nil
	}
	srv, err := curve.NewServer(zctx, cs.cfg.Key, cs.allow, n.log)
	if err != nil {
		return nil, err
	}
	for _, s := range []struct {
		sock *zmq.Socket
		name string
	}{{router, EndpointRequest}, {pull, EndpointIngest}} {
		if err := srv.Secure(s.sock, s.name); err != nil {
			srv.Close()
			return nil, err
		}
	}
	cs.srv = srv
	return func() { srv.Serve(n.closing, n.cfg.PollInterval) }, nil
}

// recvFrom receives one multipart message from s and the role of its
// sender: RoleAdmin without CURVE; with CURVE the role the allowlist gives
// the key the ZAP handler named (the "User-Id" property), and errRefused,
// the message dropped and counted, when it gives none.
func (n *Node) recvFrom(s *zmq.Socket, flags zmq.Flag) ([][]byte, curve.Role, error) {
	cs := n.curve
	if cs == nil {
		frames, err := recvMessage(s, flags)
		return frames, curve.RoleAdmin, err
	}
	// The key is read from the first frame that carries the connection's
	// metadata. After a poll, libzmq 4.3.4 hands over a ROUTER's
	// routing-id frame without it (the frame is made while the poll peeks
	// at the message), so the frames that came off the wire are asked
	// too: reading only the first dropped requests as refused whenever
	// the request loop polled (TestCurveServesWhilePolling).
	first, meta, err := s.RecvBytesWithMetadata(flags, "User-Id")
	if err != nil {
		return nil, curve.RoleNone, err
	}
	key, found := meta["User-Id"]
	frames := make([][]byte, 1, 4)
	frames[0] = first
	for {
		more, err := s.GetRcvmore()
		if err != nil {
			return nil, curve.RoleNone, err
		}
		if !more {
			break
		}
		var f []byte
		if found {
			f, err = s.RecvBytes(flags)
		} else {
			f, meta, err = s.RecvBytesWithMetadata(flags, "User-Id")
			key, found = meta["User-Id"]
		}
		if err != nil {
			return nil, curve.RoleNone, err
		}
		frames = append(frames, f)
	}
	role := cs.allow.Role(key)
	if role == curve.RoleNone {
		cs.srv.CountRefused()
		cs.refusedLog.Warn("message dropped: its CURVE key is not in the allowlist (any more)", "key", key)
		return nil, role, errRefused
	}
	return frames, role, nil
}

// authorize refuses r, with forbidden, when it is a maintenance operation
// and role is not RoleAdmin.
func (n *Node) authorize(role curve.Role, r *protocol.Request) error {
	if role == curve.RoleAdmin || !adminOnly(r) {
		return nil
	}
	n.curve.forbidden.Add(1)
	return protocol.Errorf(protocol.CodeForbidden,
		"op %v%s needs an admin key (CURVE): add this client's public key to the node's admins directory", r.Op, rawNote(r))
}

func rawNote(r *protocol.Request) string {
	switch {
	case r.Op == protocol.OpPut && r.ValueCodec != 0:
		return " with raw_value"
	case r.Op == protocol.OpScan && (r.Raw || r.Versions):
		return " with raw or versions"
	case r.Op == protocol.OpBatch:
		return " holding a maintenance operation"
	}
	return ""
}

// adminOnly reports whether r is, or holds, a maintenance operation: the
// ones rebalancing, repair and catch-up use, which bypass the normal
// write path or erase data wholesale.
func adminOnly(r *protocol.Request) bool {
	switch r.Op {
	case protocol.OpDeletePartitions, protocol.OpDigest:
		return true
	case protocol.OpPut:
		return r.ValueCodec != 0
	case protocol.OpScan:
		return r.Raw || r.Versions
	case protocol.OpBatch:
		for i := range r.Ops {
			if adminOnly(&r.Ops[i]) {
				return true
			}
		}
	}
	return false
}

// curveStats returns the CURVE counters for STATS; nil without CURVE.
func (n *Node) curveStats() *protocol.CurveStats {
	cs := n.curve
	if cs == nil {
		return nil
	}
	st := &protocol.CurveStats{Forbidden: cs.forbidden.Load(), Keys: cs.allow.Len()}
	if cs.srv != nil {
		st.Refused = cs.srv.Refused()
	}
	return st
}

// CurvePublicKey returns the node's CURVE public key; "" without CURVE.
func (n *Node) CurvePublicKey() string {
	if n.curve == nil {
		return ""
	}
	return n.curve.cfg.Key.Public
}

// ReloadAllowlist re-reads the CURVE allowlist directories now (the node
// also notices their changes by itself within about a second); without
// CURVE it does nothing.
func (n *Node) ReloadAllowlist() error {
	if n.curve == nil {
		return nil
	}
	return n.curve.allow.Reload()
}
