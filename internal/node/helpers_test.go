package node

import (
	"encoding/json"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/zshard/zshard/internal/protocol"
)

// safety bounds a blocking receive so a broken node fails a test instead of
// hanging it; it is never a performance threshold.
const safety = 20 * time.Second

func startNode(t testing.TB, cfg Config) *Node {
	t.Helper()
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 10 * time.Millisecond
	}
	n, err := New(cfg)
	require.NoError(t, err)
	require.NoError(t, n.Start())
	t.Cleanup(func() { require.NoError(t, n.Close()) })
	return n
}

func socket(t testing.TB, typ zmq.Type, ep string) *zmq.Socket {
	t.Helper()
	s, err := zmq.NewSocket(typ)
	require.NoError(t, err)
	require.NoError(t, s.SetLinger(0))
	require.NoError(t, s.SetRcvtimeo(safety))
	require.NoError(t, s.SetSndtimeo(safety))
	require.NoError(t, s.Connect(ep))
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// rawCall sends frames on a REQ or DEALER socket and returns the body of
// the reply.
func rawCall(t testing.TB, s *zmq.Socket, frames ...any) []byte {
	t.Helper()
	_, err := s.SendMessage(frames...)
	require.NoError(t, err)
	reply, err := s.RecvMessageBytes(0)
	require.NoError(t, err, "no reply")
	return reply[len(reply)-1]
}

func encodeReq(t testing.TB, c protocol.Codec, r protocol.Request) []byte {
	t.Helper()
	b, err := protocol.AppendRequest(nil, c, &r)
	require.NoError(t, err)
	return b
}

func call(t testing.TB, s *zmq.Socket, c protocol.Codec, r protocol.Request) protocol.Reply {
	t.Helper()
	b := rawCall(t, s, encodeReq(t, c, r))
	rep, gotC, err := protocol.DecodeReply(b)
	require.NoError(t, err, "%q", b)
	require.Equal(t, c, gotC, "reply codec")
	return rep
}

func mustOK(t testing.TB, rep protocol.Reply) protocol.Reply {
	t.Helper()
	require.Equal(t, protocol.StatusOK, rep.Status, "%+v", rep.Err)
	return rep
}

func mustErr(t testing.TB, rep protocol.Reply, code protocol.Code) {
	t.Helper()
	require.Equal(t, protocol.StatusError, rep.Status)
	require.NotNil(t, rep.Err)
	require.Equal(t, code, rep.Err.Code, rep.Err.Message)
	require.NotEmpty(t, rep.Err.Message)
}

// val encodes v as a raw value in codec c.
func val(t testing.TB, c protocol.Codec, v any) []byte {
	t.Helper()
	var b []byte
	var err error
	if c == protocol.JSON {
		b, err = json.Marshal(v)
	} else {
		b, err = msgpack.Marshal(v)
	}
	require.NoError(t, err)
	return b
}

var codecs = []protocol.Codec{protocol.JSON, protocol.Msgpack}

// reqSocket returns a REQ socket connected to n's request endpoint.
func reqSocket(t testing.TB, n *Node) *zmq.Socket {
	t.Helper()
	return socket(t, zmq.REQ, n.RequestEndpoint())
}

// pushSocket returns a PUSH socket connected to n's ingest endpoint.
func pushSocket(t testing.TB, n *Node) *zmq.Socket {
	t.Helper()
	return socket(t, zmq.PUSH, n.IngestEndpoint())
}

// startWithClients starts a node with cfg and returns it with a REQ
// socket on its request endpoint and a PUSH socket on its ingest endpoint.
func startWithClients(t testing.TB, cfg Config) (n *Node, req, push *zmq.Socket) {
	t.Helper()
	n = startNode(t, cfg)
	return n, reqSocket(t, n), pushSocket(t, n)
}

// dealerSocket returns a DEALER socket connected to n's request endpoint.
func dealerSocket(t testing.TB, n *Node) *zmq.Socket {
	t.Helper()
	return socket(t, zmq.DEALER, n.RequestEndpoint())
}
