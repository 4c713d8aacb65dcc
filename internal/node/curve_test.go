package node

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"
	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/curve"
	"github.com/zshard/zshard/internal/protocol"
)

// noReply is how long a test waits to conclude that a refused client gets
// no reply: a refused client never gets one, so this only bounds the test.
const noReply = time.Second

// curveSetup is a node's CURVE configuration with one ordinary client key
// (alice), one admin key (ops) and one key in neither directory (bob).
type curveSetup struct {
	cfg             *curve.ServerConfig
	alice, ops, bob curve.Keypair
}

func newCurveSetup(t *testing.T) curveSetup {
	t.Helper()
	if err := curve.Available(); err != nil {
		t.Skip(err)
	}
	keys, clients, admins := t.TempDir(), t.TempDir(), t.TempDir()
	gen := func(name, dir string) curve.Keypair {
		kp, err := curve.Generate()
		require.NoError(t, err)
		_, _, err = curve.WriteKeypair(filepath.Join(keys, name), kp)
		require.NoError(t, err)
		if dir != "" {
			require.NoError(t, os.WriteFile(filepath.Join(dir, name+".pub"), []byte(kp.Public+"\n"), 0o644))
		}
		return kp
	}
	return curveSetup{
		cfg:   &curve.ServerConfig{Key: gen("server", ""), ClientsDir: clients, AdminsDir: admins},
		alice: gen("alice", clients), ops: gen("ops", admins), bob: gen("bob", ""),
	}
}

// curveSocket returns a socket of type typ connected to ep as a CURVE
// client with key kp, or a plaintext one when kp is zero.
func curveSocket(t *testing.T, typ zmq.Type, ep string, server string, kp curve.Keypair) *zmq.Socket {
	t.Helper()
	s, err := zmq.NewSocket(typ)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	require.NoError(t, s.SetLinger(0))
	require.NoError(t, s.SetRcvtimeo(safety))
	require.NoError(t, s.SetSndtimeo(safety))
	if kp.Secret != "" {
		require.NoError(t, s.ClientAuthCurve(server, kp.Public, kp.Secret))
	}
	require.NoError(t, s.Connect(ep))
	return s
}

// answered sends r on the REQ socket s and reports whether a reply came
// within noReply.
func answered(t *testing.T, s *zmq.Socket, r protocol.Request) bool {
	t.Helper()
	require.NoError(t, s.SetRcvtimeo(noReply))
	_, err := s.SendBytes(encodeReq(t, protocol.JSON, r), 0)
	require.NoError(t, err)
	_, err = s.RecvBytes(0)
	return err == nil
}

func curveNode(t *testing.T, cs curveSetup) *Node {
	t.Helper()
	return startNode(t, Config{Name: "n", Curve: cs.cfg})
}

func TestCurveRefusesPlaintextAndUnknownKeys(t *testing.T) {
	cs := newCurveSetup(t)
	n := curveNode(t, cs)
	srv := cs.cfg.Key.Public
	ping := protocol.Request{Op: protocol.OpPing}

	// Request endpoint.
	require.False(t, answered(t, curveSocket(t, zmq.REQ, n.RequestEndpoint(), srv, curve.Keypair{}), ping), "plaintext client served")
	require.False(t, answered(t, curveSocket(t, zmq.REQ, n.RequestEndpoint(), srv, cs.bob), ping), "unknown key served")
	alice := curveSocket(t, zmq.REQ, n.RequestEndpoint(), srv, cs.alice)
	mustOK(t, call(t, alice, protocol.JSON, ping))

	// Ingest endpoint: the refused pushes are never stored.
	before := n.Stats().Curve.Refused
	require.GreaterOrEqual(t, before, uint64(2))
	put := func(key string) []byte {
		return encodeReq(t, protocol.JSON, protocol.Request{Op: protocol.OpPut, Key: key, Value: []byte(`1`)})
	}
	plain := curveSocket(t, zmq.PUSH, n.IngestEndpoint(), srv, curve.Keypair{})
	bob := curveSocket(t, zmq.PUSH, n.IngestEndpoint(), srv, cs.bob)
	for _, s := range []*zmq.Socket{plain, bob} {
		require.NoError(t, s.SetSndtimeo(0))
		_, _ = s.SendBytes(put("refused"), zmq.DONTWAIT) // queued until a handshake that never succeeds
	}
	require.Eventually(t, func() bool { return n.Stats().Curve.Refused >= before+2 }, safety, 10*time.Millisecond,
		"the ingest endpoint did not refuse both clients")
	push := curveSocket(t, zmq.PUSH, n.IngestEndpoint(), srv, cs.alice)
	_, err := push.SendBytes(put("allowed"), 0)
	require.NoError(t, err)
	_, err = push.SendBytes(encodeReq(t, protocol.JSON, protocol.Request{Op: protocol.OpSync, Token: "t1"}), 0)
	require.NoError(t, err)
	mustOK(t, call(t, alice, protocol.JSON, protocol.Request{Op: protocol.OpSync, Token: "t1"}))
	mustOK(t, call(t, alice, protocol.JSON, protocol.Request{Op: protocol.OpGetOne, Key: "allowed"}))
	mustErr(t, call(t, alice, protocol.JSON, protocol.Request{Op: protocol.OpGetOne, Key: "refused"}), protocol.CodeNotFound)
	require.Equal(t, uint64(1), n.Stats().Ops["PUT"], "only the allowed push was applied")
}

func TestCurveMaintenanceNeedsAdmin(t *testing.T) {
	cs := newCurveSetup(t)
	n := curveNode(t, cs)
	srv := cs.cfg.Key.Public
	alice := curveSocket(t, zmq.REQ, n.RequestEndpoint(), srv, cs.alice)
	ops := curveSocket(t, zmq.REQ, n.RequestEndpoint(), srv, cs.ops)
	self := curveSocket(t, zmq.REQ, n.RequestEndpoint(), srv, cs.cfg.Key)

	ordinary := []protocol.Request{
		{Op: protocol.OpPut, Key: "k", Value: []byte(`"v"`)},
		{Op: protocol.OpGetOne, Key: "k"},
		{Op: protocol.OpGetOne, Key: "k", Versions: true},
		{Op: protocol.OpGetAll},
		{Op: protocol.OpScan},
		{Op: protocol.OpBatch, Ops: []protocol.Request{{Op: protocol.OpPut, Key: "b", Value: []byte(`1`)}, {Op: protocol.OpGetOne, Key: "b"}}},
		{Op: protocol.OpPing},
		{Op: protocol.OpStats},
		{Op: protocol.OpDelete, Key: "b"},
	}
	maintenance := []protocol.Request{
		{Op: protocol.OpDeletePartitions, Partitions: 8, Bitmap: []byte{0xff}},
		{Op: protocol.OpPut, Key: "r", Value: []byte{0x01}, ValueCodec: protocol.Msgpack},
		{Op: protocol.OpScan, Versions: true},
		{Op: protocol.OpScan, Raw: true},
		{Op: protocol.OpDigest, Partitions: 8, Bitmap: []byte{0xff}},
		{Op: protocol.OpBatch, Ops: []protocol.Request{{Op: protocol.OpPut, Key: "r", Value: []byte{0x01}, ValueCodec: protocol.Msgpack}}},
	}
	for _, r := range ordinary {
		mustOK(t, call(t, alice, protocol.JSON, r))
	}
	for _, r := range maintenance {
		mustErr(t, call(t, alice, protocol.JSON, r), protocol.CodeForbidden)
	}
	require.Equal(t, uint64(len(maintenance)), n.Stats().Curve.Forbidden)
	_, found, err := n.Store().Get(t.Context(), "r")
	require.NoError(t, err)
	require.False(t, found, "a forbidden raw PUT was applied")

	// A raw PUT pushed by an ordinary key is not applied either.
	push := curveSocket(t, zmq.PUSH, n.IngestEndpoint(), srv, cs.alice)
	for _, r := range []protocol.Request{maintenance[1], {Op: protocol.OpSync, Token: "t"}} {
		_, err := push.SendBytes(encodeReq(t, protocol.JSON, r), 0)
		require.NoError(t, err)
	}
	mustOK(t, call(t, alice, protocol.JSON, protocol.Request{Op: protocol.OpSync, Token: "t"}))
	_, found, err = n.Store().Get(t.Context(), "r")
	require.NoError(t, err)
	require.False(t, found, "a forbidden pushed raw PUT was applied")

	// Admins, and the node's own key, may run them all.
	for _, s := range []*zmq.Socket{ops, self} {
		for _, r := range maintenance {
			mustOK(t, call(t, s, protocol.JSON, r))
		}
	}
}

func TestCurveAllowlistChangeWithoutRestart(t *testing.T) {
	cs := newCurveSetup(t)
	n := curveNode(t, cs)
	srv := cs.cfg.Key.Public
	ping := protocol.Request{Op: protocol.OpPing}
	require.False(t, answered(t, curveSocket(t, zmq.REQ, n.RequestEndpoint(), srv, cs.bob), ping))
	alice := curveSocket(t, zmq.REQ, n.RequestEndpoint(), srv, cs.alice)
	mustOK(t, call(t, alice, protocol.JSON, ping))

	// Bob's key is added: a new connection of his is served.
	require.NoError(t, os.WriteFile(filepath.Join(cs.cfg.ClientsDir, "bob.pub"), []byte(cs.bob.Public+"\n"), 0o644))
	require.Eventually(t, func() bool {
		return answered(t, curveSocket(t, zmq.REQ, n.RequestEndpoint(), srv, cs.bob), ping)
	}, safety, 10*time.Millisecond, "bob's key was not picked up")

	// Alice's key is removed: even her open connection is no longer served.
	require.NoError(t, os.Remove(filepath.Join(cs.cfg.ClientsDir, "alice.pub")))
	require.NoError(t, n.ReloadAllowlist())
	refused := n.Stats().Curve.Refused
	require.False(t, answered(t, alice, ping), "a removed key is still served")
	require.Greater(t, n.Stats().Curve.Refused, refused)
	require.Equal(t, 3, n.Stats().Curve.Keys, "bob, ops and the node's own key")
}

func TestNoCurveNoCurveStats(t *testing.T) {
	n := startNode(t, Config{})
	require.Nil(t, n.Stats().Curve)
	require.Empty(t, n.CurvePublicKey())
}

func TestCurveConfigErrors(t *testing.T) {
	cs := newCurveSetup(t)
	_, err := New(Config{Curve: &curve.ServerConfig{Key: cs.cfg.Key}})
	require.ErrorContains(t, err, "clients directory")
	_, err = New(Config{Curve: &curve.ServerConfig{Key: cs.cfg.Key, ClientsDir: filepath.Join(t.TempDir(), "none")}})
	require.Error(t, err)
}

// TestCurveServesWhilePolling: while a SYNC waits, the request loop polls
// its ROUTER before receiving, and libzmq (4.3.4) then hands over the
// routing-id frame without the connection's metadata. A request arriving
// meanwhile must still be served with its sender's role, not dropped as
// refused.
func TestCurveServesWhilePolling(t *testing.T) {
	cs := newCurveSetup(t)
	n := curveNode(t, cs)
	srv := cs.cfg.Key.Public
	waiting := curveSocket(t, zmq.REQ, n.RequestEndpoint(), srv, cs.alice)
	_, err := waiting.SendBytes(encodeReq(t, protocol.JSON, protocol.Request{Op: protocol.OpSync, Token: "never", TimeoutMS: 60000}), 0)
	require.NoError(t, err)
	// The node takes the SYNC within milliseconds; the later rounds below
	// are in the polling loop whatever the first one met.
	time.Sleep(100 * time.Millisecond)

	before := n.Stats().Curve.Refused
	for range 5 {
		alice := curveSocket(t, zmq.REQ, n.RequestEndpoint(), srv, cs.alice)
		mustOK(t, call(t, alice, protocol.JSON, protocol.Request{Op: protocol.OpPing}))
		ops := curveSocket(t, zmq.REQ, n.RequestEndpoint(), srv, cs.ops)
		mustOK(t, call(t, ops, protocol.JSON, protocol.Request{Op: protocol.OpDigest, Partitions: 8, Bitmap: []byte{0xff}}))
	}
	require.Equal(t, before, n.Stats().Curve.Refused, "a request refused while the loop polled")
}
