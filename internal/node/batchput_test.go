package node

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/internal/store"
	"github.com/zshard/zshard/internal/store/durable"
)

// TestIngestBatchOnDurableStore: runs of PUTs in a pushed BATCH go to a
// durable store in one commit each, interleaved with DELETEs in order, and
// are counted.
func TestIngestBatchOnDurableStore(t *testing.T) {
	st, err := durable.Open(t.TempDir(), durable.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	n, err := New(Config{Store: st, PollInterval: 10 * time.Millisecond})
	require.NoError(t, err)
	require.NotNil(t, n.batcher)
	require.NoError(t, n.Start())
	t.Cleanup(func() { require.NoError(t, n.Close()) })
	push := pushSocket(t, n)
	req := reqSocket(t, n)

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

// countingBatcher counts the ApplyMany calls a node makes on a durable
// store.
type countingBatcher struct {
	*durable.Store
	calls, puts int
}

func (b *countingBatcher) ApplyMany(ctx context.Context, entries []store.Entry, applied []bool) error {
	b.calls++
	b.puts += len(entries)
	return b.Store.ApplyMany(ctx, entries, applied)
}

// TestRequestBatchOnDurableStore: runs of plain PUTs in an acknowledged
// BATCH are one store commit each; every op still gets its own reply, in
// order, and ops around the runs see their effects.
func TestRequestBatchOnDurableStore(t *testing.T) {
	st, err := durable.Open(t.TempDir(), durable.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	cb := &countingBatcher{Store: st}
	n, err := New(Config{Store: cb, PollInterval: 10 * time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, n.Start())
	t.Cleanup(func() { require.NoError(t, n.Close()) })
	req := reqSocket(t, n)

	ops := []protocol.Request{
		{Op: protocol.OpPut, Key: "a", Value: []byte(`1`)},
		{Op: protocol.OpPut, Key: "b", Value: []byte(`2`)},
		{Op: protocol.OpPut, Key: "e", Value: []byte(`9`)},
		{Op: protocol.OpDelete, Key: "a"},
		{Op: protocol.OpPut, Key: "c", Value: []byte(`3`)},
		{Op: protocol.OpPut, Key: "c", Value: []byte(`4`)},
		{Op: protocol.OpPut, Key: "b", Value: []byte(`5`), IfAbsent: true},
		{Op: protocol.OpPut, Key: "d", Value: []byte(`6`)},
	}
	rep := call(t, req, protocol.JSON, protocol.Request{Op: protocol.OpBatch, Ops: ops})
	mustOK(t, rep)
	require.Len(t, rep.Results, len(ops))
	for i, r := range rep.Results {
		require.Equal(t, protocol.StatusOK, r.Status, "op %d: %+v", i, r.Err)
	}
	require.True(t, rep.Results[3].Deleted, "the DELETE sees the PUT of its run")
	require.Equal(t, 2, cb.calls, "runs a,b,e and c,c are one commit each; d alone is a plain Apply")
	require.Equal(t, 5, cb.puts)

	want := map[string]string{"b": "2", "c": "4", "d": "6", "e": "9"}
	for k, v := range want {
		got := call(t, req, protocol.JSON, protocol.Request{Op: protocol.OpGetOne, Key: k})
		mustOK(t, got)
		require.Equal(t, v, string(got.Value), k)
	}
	require.Equal(t, int64(len(want)), st.Stats().Keys)
	require.Equal(t, uint64(7), n.Stats().Ops["PUT"])
}

// gatedBatcher is a durable store whose first ApplyMany waits for release,
// so that messages pile up on the ingest socket meanwhile, and whose
// BulkBytes is set by the test.
type gatedBatcher struct {
	*durable.Store
	bulk    int
	release chan struct{}
	mu      sync.Mutex
	calls   []int // entries per ApplyMany
}

func (b *gatedBatcher) BulkBytes() int { return b.bulk }

func (b *gatedBatcher) ApplyMany(ctx context.Context, entries []store.Entry, applied []bool) error {
	b.mu.Lock()
	first := len(b.calls) == 0
	b.calls = append(b.calls, len(entries))
	b.mu.Unlock()
	if first {
		<-b.release
	}
	return b.Store.ApplyMany(ctx, entries, applied)
}

// TestIngestGathersPutsAcrossMessages: PUTs of messages queued on the
// ingest socket are applied in one commit, up to the store's BulkBytes;
// a DELETE between them keeps its place; a SYNC covers all of them; and
// PUTs with no SYNC after them are applied once nothing more is queued.
func TestIngestGathersPutsAcrossMessages(t *testing.T) {
	const messages, perMessage = 20, 10
	for _, tc := range []struct {
		name string
		bulk int
		want []int // entries per ApplyMany; nil: gathered (see below)
	}{
		{"gathered", 1 << 20, nil},
		// A commit per message: each reaches BulkBytes alone.
		{"bulk-reached", 1, []int{10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 9, 10, 10, 10, 10, 10, 10, 10, 10, 10}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := durable.Open(t.TempDir(), durable.Options{})
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, st.Close()) })
			gb := &gatedBatcher{Store: st, bulk: tc.bulk, release: make(chan struct{})}
			n, req, push := startWithClients(t, Config{Store: gb})

			for m := range messages {
				ops := make([]protocol.Request, perMessage)
				for i := range ops {
					ops[i] = protocol.Request{Op: protocol.OpPut, Key: fmt.Sprintf("k-%d-%d", m, i), Value: []byte(strconv.Itoa(m))}
				}
				if m == messages/2 {
					ops[0] = protocol.Request{Op: protocol.OpDelete, Key: "k-0-0"} // between gathered PUTs
				}
				_, err := push.SendBytes(encodeReq(t, protocol.JSON, protocol.Request{Op: protocol.OpBatch, Ops: ops}), 0)
				require.NoError(t, err)
			}
			require.Eventually(t, func() bool { gb.mu.Lock(); defer gb.mu.Unlock(); return len(gb.calls) == 1 },
				10*time.Second, time.Millisecond, "the first message's PUTs never reached the store")
			time.Sleep(100 * time.Millisecond) // the other messages queue behind the held commit
			close(gb.release)

			// Without a SYNC the PUTs are applied once the socket is drained.
			last := fmt.Sprintf("k-%d-%d", messages-1, perMessage-1)
			require.Eventually(t, func() bool {
				_, ok, err := st.Get(context.Background(), last)
				return err == nil && ok
			}, 10*time.Second, time.Millisecond, "PUTs with no SYNC after them were never applied")
			syncIngest(t, push, req, "gather")

			gb.mu.Lock()
			calls := slices.Clone(gb.calls)
			gb.mu.Unlock()
			if tc.want != nil {
				require.Equal(t, tc.want, calls, "entries per commit")
			} else {
				// Messages 0-9 (or those the loop found queued with the
				// first) in one commit, the rest of them up to the DELETE
				// opening message 10 in a second, the 99 PUTs after it in
				// one: the messages piled up behind the held commit.
				require.LessOrEqual(t, len(calls), 3, "entries per commit: %v", calls)
				require.Equal(t, 99, calls[len(calls)-1], "entries per commit: %v", calls)
			}
			_, ok, err := st.Get(context.Background(), "k-0-0")
			require.NoError(t, err)
			require.False(t, ok, "the DELETE was applied after the PUT of an earlier message")
			require.Equal(t, int64(messages*perMessage-2), st.Stats().Keys) // k-0-0 deleted, one op of message 10 was the DELETE
			require.Equal(t, uint64(messages*perMessage-1), n.Stats().Ops["PUT"])
		})
	}
}
