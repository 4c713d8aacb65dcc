package node

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/hlc"
	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/internal/store"
)

// TestCatchUpRefusesReadsAndAppliesByVersion: while catching up a node
// answers reads with not_ready and takes writes; the records copied from a
// replica are applied by version, so an older copy never replaces a client
// write made meanwhile, a newer one does, tombstones are copied too, and a
// record the node already holds is not written again.
func TestCatchUpRefusesReadsAndAppliesByVersion(t *testing.T) {
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

	// The replicas' records were written before the catch-up began; the
	// client writes below are newer (the node versions them now).
	old := hlc.Version{Time: hlc.At(time.Now().Add(-time.Minute)), Writer: 7}
	ahead := hlc.Version{Time: hlc.At(time.Now().Add(30 * time.Second)), Writer: 7}
	mustOK(t, call(t, req, protocol.JSON, protocol.Request{Op: protocol.OpPut, Key: "put", Value: []byte(`"new"`)}))
	mustOK(t, call(t, req, protocol.JSON, protocol.Request{Op: protocol.OpDelete, Key: "deleted"}))
	_, err = push.SendBytes(encodeReq(t, protocol.JSON, protocol.Request{Op: protocol.OpBatch, Ops: []protocol.Request{
		{Op: protocol.OpPut, Key: "pushed", Value: []byte(`"new"`)},
		{Op: protocol.OpSync, Token: "t1"},
	}}), 0)
	require.NoError(t, err)
	mustOK(t, call(t, req, protocol.JSON, protocol.Request{Op: protocol.OpSync, Token: "t1"}))

	jv := func(s string, v hlc.Version) store.Value {
		return store.Value{Codec: uint8(protocol.JSON), Data: []byte(`"` + s + `"`), Version: v}
	}
	copied := []store.Entry{
		{Key: "put", Value: jv("old", old)},
		{Key: "deleted", Value: jv("old", old)},
		{Key: "pushed", Value: jv("old", old)},
		{Key: "batched", Value: store.Value{Tombstone: true, Version: old}},
		{Key: "untouched", Value: jv("copied", old)},
		{Key: "gone", Value: store.Value{Tombstone: true, Version: old}},
		// Newer than the client's write: from a clock 30 s ahead.
		{Key: "overtaken", Value: jv("replica", ahead)},
	}
	mustOK(t, call(t, req, protocol.JSON, protocol.Request{Op: protocol.OpPut, Key: "overtaken", Value: []byte(`"new"`)}))
	applied, err := cu.Apply(ctx, append([]store.Entry(nil), copied...))
	require.NoError(t, err)
	require.Equal(t, 3, applied, "untouched, gone and overtaken")
	applied, err = cu.Apply(ctx, append([]store.Entry(nil), copied...))
	require.NoError(t, err)
	require.Zero(t, applied, "the same records again")
	require.NoError(t, cu.Sync())

	cu.Finish()
	cu.Finish()
	require.False(t, n.CatchingUp())
	get := func(k string) protocol.Reply {
		return call(t, req, protocol.JSON, protocol.Request{Op: protocol.OpGetOne, Key: k, Versions: true})
	}
	for k, want := range map[string]string{"put": `"new"`, "pushed": `"new"`, "batched": `"new"`, "untouched": `"copied"`, "overtaken": `"replica"`} {
		require.Equal(t, want, string(mustOK(t, get(k)).Value), k)
	}
	mustErr(t, get("deleted"), protocol.CodeNotFound)
	gone := get("gone")
	mustErr(t, gone, protocol.CodeNotFound)
	require.Equal(t, old, gone.Version, "the copied tombstone")
	require.Equal(t, int64(2), n.Stats().Tombstones, "deleted and gone")

	// The clock observed the replica's version: the node's next version
	// orders after it.
	mustOK(t, call(t, req, protocol.JSON, protocol.Request{Op: protocol.OpPut, Key: "overtaken", Value: []byte(`"later"`)}))
	later := mustOK(t, get("overtaken"))
	require.Equal(t, `"later"`, string(later.Value))
	require.True(t, later.Version.Newer(ahead))
	require.Equal(t, hlc.WriterOf(DefaultName), later.Version.Writer)
}
