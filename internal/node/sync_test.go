package node

import (
	"fmt"
	"testing"

	zmq "github.com/pebbe/zmq4"
	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/protocol"
)

// syncIngest pushes a SYNC marker with token on push and waits for it on
// the request socket req.
func syncIngest(t testing.TB, push, req *zmq.Socket, token string) {
	t.Helper()
	_, err := push.SendBytes(encodeReq(t, protocol.JSON, protocol.Request{Op: protocol.OpSync, Token: token}), 0)
	require.NoError(t, err)
	rep := mustOK(t, call(t, req, protocol.JSON, protocol.Request{Op: protocol.OpSync, Token: token, TimeoutMS: int(safety.Milliseconds())}))
	require.Equal(t, token, rep.Token)
}

// TestSyncAfterBurst: a SYNC issued right after a burst of pushed writes
// replies only once all of them are applied.
func TestSyncAfterBurst(t *testing.T) {
	for _, c := range codecs {
		t.Run(c.String(), func(t *testing.T) {
			n, req, push := startWithClients(t, Config{})
			const batches, per = 200, 100
			for b := range batches {
				r := protocol.Request{Op: protocol.OpBatch}
				for i := range per {
					r.Ops = append(r.Ops, protocol.Request{Op: protocol.OpPut, Key: fmt.Sprintf("k-%d-%d", b, i), Value: val(t, c, i)})
				}
				if b == batches-1 {
					// The marker may ride in the last batch.
					r.Ops = append(r.Ops, protocol.Request{Op: protocol.OpSync, Token: "burst-" + c.String()})
				}
				_, err := push.SendBytes(encodeReq(t, c, r), 0)
				require.NoError(t, err)
			}
			// Sent at once, before the node can have applied the burst.
			rep := mustOK(t, call(t, req, c, protocol.Request{Op: protocol.OpSync, Token: "burst-" + c.String(), TimeoutMS: int(safety.Milliseconds())}))
			require.Equal(t, "burst-"+c.String(), rep.Token)
			require.EqualValues(t, batches*per, n.Store().Stats().Keys)
			st := n.Stats()
			require.EqualValues(t, batches*per, st.Ops["PUT"])
			require.Zero(t, st.Endpoints[EndpointIngest].Errors)

			// A second SYNC on a token already seen answers at once.
			mustOK(t, call(t, req, c, protocol.Request{Op: protocol.OpSync, Token: "burst-" + c.String()}))
		})
	}
}

func TestSyncTimeoutAndShutdown(t *testing.T) {
	n, err := New(Config{PollInterval: 10 * 1e6})
	require.NoError(t, err)
	require.NoError(t, n.Start())
	req := reqSocket(t, n)
	mustErr(t, call(t, req, protocol.JSON, protocol.Request{Op: protocol.OpSync, Token: "never", TimeoutMS: 1}), protocol.CodeTimeout)

	// SYNC inside a BATCH on the request endpoint is refused.
	rep := mustOK(t, call(t, req, protocol.JSON, protocol.Request{Op: protocol.OpBatch, Ops: []protocol.Request{{Op: protocol.OpSync, Token: "x"}}}))
	mustErr(t, rep.Results[0], protocol.CodeBadRequest)

	// A SYNC still waiting when the node closes gets an error reply.
	syncs := n.Stats().Ops["SYNC"]
	waiting := reqSocket(t, n)
	_, err = waiting.SendBytes(encodeReq(t, protocol.JSON, protocol.Request{Op: protocol.OpSync, Token: "pending", TimeoutMS: 60000}), 0)
	require.NoError(t, err)
	// Wait until the node holds the SYNC (it counts it on arrival).
	for i := 0; n.Stats().Ops["SYNC"] == syncs; i++ {
		require.Less(t, i, 100000, "the SYNC never arrived")
		mustOK(t, call(t, req, protocol.JSON, protocol.Request{Op: protocol.OpPing}))
	}
	require.NoError(t, n.Close())
	b, err := waiting.RecvBytes(0)
	require.NoError(t, err)
	r, _, err := protocol.DecodeReply(b)
	require.NoError(t, err)
	mustErr(t, r, protocol.CodeInternal)
}
