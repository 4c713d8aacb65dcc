package node

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/internal/store"
)

// TestCatchUpRefusesReadsAndKeepsClientWrites: while catching up a node
// answers reads with not_ready and takes writes, and a value copied from a
// replica never replaces a key a client wrote or deleted meanwhile.
func TestCatchUpRefusesReadsAndKeepsClientWrites(t *testing.T) {
	ctx := context.Background()
	n, err := New(Config{PollInterval: 10 * time.Millisecond})
	require.NoError(t, err)
	cu := n.BeginCatchUp()
	require.Same(t, cu, n.BeginCatchUp(), "a second call returns the catch-up in progress")
	require.True(t, n.CatchingUp())
	require.NoError(t, n.Start())
	t.Cleanup(func() { require.NoError(t, n.Close()) })
	req := reqSocket(t, n)
	push := pushSocket(t, n)

	jv := func(s string) store.Value {
		return store.Value{Codec: uint8(protocol.JSON), Data: []byte(`"` + s + `"`)}
	}
	require.NoError(t, n.Store().Put(ctx, "deleted", jv("old")))

	for _, r := range []protocol.Request{
		{Op: protocol.OpGetOne, Key: "k"},
		{Op: protocol.OpGetAll},
		{Op: protocol.OpScan},
		{Op: protocol.OpDigest, Partitions: 8, Bitmap: []byte{0xff}},
	} {
		mustErr(t, call(t, req, protocol.JSON, r), protocol.CodeNotReady)
	}
	rep := mustOK(t, call(t, req, protocol.JSON, protocol.Request{Op: protocol.OpBatch, Ops: []protocol.Request{
		{Op: protocol.OpPut, Key: "batched", Value: []byte(`"new"`)},
		{Op: protocol.OpGetOne, Key: "batched"},
	}}))
	require.Equal(t, protocol.StatusOK, rep.Results[0].Status)
	require.Equal(t, protocol.CodeNotReady, rep.Results[1].Err.Code)

	// Client writes on both endpoints.
	mustOK(t, call(t, req, protocol.JSON, protocol.Request{Op: protocol.OpPut, Key: "put", Value: []byte(`"new"`)}))
	mustOK(t, call(t, req, protocol.JSON, protocol.Request{Op: protocol.OpDelete, Key: "deleted"}))
	_, err = push.SendBytes(encodeReq(t, protocol.JSON, protocol.Request{Op: protocol.OpBatch, Ops: []protocol.Request{
		{Op: protocol.OpPut, Key: "pushed", Value: []byte(`"new"`)},
		{Op: protocol.OpSync, Token: "t1"},
	}}), 0)
	require.NoError(t, err)
	mustOK(t, call(t, req, protocol.JSON, protocol.Request{Op: protocol.OpSync, Token: "t1"}))

	// The replicas' older entries: applied only where no client wrote.
	for _, k := range []string{"put", "deleted", "pushed", "batched"} {
		require.True(t, cu.Dirty(k), k)
		applied, err := cu.Put(ctx, k, jv("old"))
		require.NoError(t, err)
		require.False(t, applied, k)
	}
	applied, err := cu.Put(ctx, "untouched", jv("copied"))
	require.NoError(t, err)
	require.True(t, applied)
	applied, err = cu.Delete(ctx, "batched")
	require.NoError(t, err)
	require.False(t, applied)
	require.NoError(t, cu.Sync())

	cu.Finish()
	cu.Finish()
	require.False(t, n.CatchingUp())
	get := func(k string) protocol.Reply {
		return call(t, req, protocol.JSON, protocol.Request{Op: protocol.OpGetOne, Key: k})
	}
	for k, want := range map[string]string{"put": `"new"`, "pushed": `"new"`, "batched": `"new"`, "untouched": `"copied"`} {
		require.Equal(t, want, string(mustOK(t, get(k)).Value), k)
	}
	mustErr(t, get("deleted"), protocol.CodeNotFound)
	// Writes after Finish are not tracked.
	mustOK(t, call(t, req, protocol.JSON, protocol.Request{Op: protocol.OpPut, Key: "later", Value: []byte(`1`)}))
}
