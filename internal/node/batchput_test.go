package node

import (
	"context"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"
	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/internal/store/durable"
)

// TestIngestBatchOnDurableStore: runs of PUTs in a pushed BATCH go to a
// durable store in one commit each, interleaved with DELETEs in order, are
// counted, and are recorded as client writes during a catch-up.
func TestIngestBatchOnDurableStore(t *testing.T) {
	st, err := durable.Open(t.TempDir(), durable.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	n, err := New(Config{Store: st, PollInterval: 10 * time.Millisecond})
	require.NoError(t, err)
	require.NotNil(t, n.batcher)
	cu := n.BeginCatchUp()
	require.NoError(t, n.Start())
	t.Cleanup(func() { require.NoError(t, n.Close()) })
	push := socket(t, zmq.PUSH, n.IngestEndpoint())
	req := socket(t, zmq.REQ, n.RequestEndpoint())

	_, err = push.SendBytes(encodeReq(t, protocol.JSON, protocol.Request{Op: protocol.OpBatch, Ops: []protocol.Request{
		{Op: protocol.OpPut, Key: "a", Value: []byte(`1`)},
		{Op: protocol.OpPut, Key: "b", Value: []byte(`2`)},
		{Op: protocol.OpDelete, Key: "a"},
		{Op: protocol.OpPut, Key: "c", Value: []byte(`3`)},
		{Op: protocol.OpPut, Key: "c", Value: []byte(`4`)},
		{Op: protocol.OpPut, Key: "b", Value: []byte(`5`), IfAbsent: true}, // b exists: kept
		{Op: protocol.OpSync, Token: "t"},
	}}), 0)
	require.NoError(t, err)
	mustOK(t, call(t, req, protocol.JSON, protocol.Request{Op: protocol.OpSync, Token: "t"}))
	for _, k := range []string{"a", "b", "c"} {
		require.True(t, cu.Dirty(k), k)
	}
	cu.Finish()
	ctx := context.Background()
	_, ok, err := st.Get(ctx, "a")
	require.NoError(t, err)
	require.False(t, ok)
	v, _, err := st.Get(ctx, "c")
	require.NoError(t, err)
	require.Equal(t, "4", string(v.Data))
	v, _, err = st.Get(ctx, "b")
	require.NoError(t, err)
	require.Equal(t, "2", string(v.Data), "an if_absent PUT is not batched over an existing key")
	require.Equal(t, int64(2), st.Stats().Keys)
	s := n.Stats()
	require.Equal(t, uint64(5), s.Ops["PUT"])
	require.Equal(t, uint64(1), s.Ops["DELETE"])
}
