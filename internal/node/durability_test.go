package node

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/internal/store"
)

// syncingStore is a Memory store with a Sync method that tests can block
// and make fail. It records how many writes each Sync covered.
type syncingStore struct {
	*store.Memory
	writes atomic.Int64 // writes applied
	synced atomic.Int64 // writes covered by the last successful Sync
	syncs  atomic.Int64
	mu     sync.Mutex
	gate   chan struct{} // when not nil, Sync waits for it to close
	fail   atomic.Bool
}

func newSyncingStore() *syncingStore {
	return &syncingStore{Memory: store.NewMemory(store.MemoryOptions{})}
}

func (s *syncingStore) Put(ctx context.Context, k string, v store.Value) error {
	s.writes.Add(1)
	return s.Memory.Put(ctx, k, v)
}

func (s *syncingStore) Apply(ctx context.Context, k string, v store.Value) (bool, error) {
	s.writes.Add(1)
	return s.Memory.Apply(ctx, k, v)
}

func (s *syncingStore) Sync(context.Context) error {
	s.mu.Lock()
	gate := s.gate
	s.mu.Unlock()
	if gate != nil {
		<-gate
	}
	s.syncs.Add(1)
	if s.fail.Load() {
		return errors.New("injected: no space left on device")
	}
	s.synced.Store(s.writes.Load())
	return nil
}

func TestSyncAlwaysRepliesAfterSync(t *testing.T) {
	st := newSyncingStore()
	defer st.Close()
	n := startNode(t, Config{Store: st})
	req := dealerSocket(t, n)

	// A PUT is not answered while the sync is held up.
	gate := make(chan struct{})
	st.mu.Lock()
	st.gate = gate
	st.mu.Unlock()
	_, err := req.SendMessage("", encodeReq(t, protocol.JSON, protocol.Request{Op: protocol.OpPut, Key: "k", Value: []byte(`"v"`)}))
	require.NoError(t, err)
	require.NoError(t, req.SetRcvtimeo(300*time.Millisecond))
	_, err = req.RecvMessageBytes(0)
	require.Error(t, err, "a PUT was acknowledged before its sync returned")
	close(gate)
	require.NoError(t, req.SetRcvtimeo(safety))
	reply, err := req.RecvMessageBytes(0)
	require.NoError(t, err)
	rep, _, err := protocol.DecodeReply(reply[len(reply)-1])
	require.NoError(t, err)
	mustOK(t, rep)
	st.mu.Lock()
	st.gate = nil
	st.mu.Unlock()

	// Pipelined writes and reads: replies come back in order, each write
	// covered by a sync when answered, with at most one sync per write.
	const k = 200
	for i := range k {
		r := protocol.Request{Op: protocol.OpPut, Key: "p" + strconv.Itoa(i), Value: []byte(`1`), ID: []byte(strconv.Itoa(i))}
		if i%3 == 0 {
			r = protocol.Request{Op: protocol.OpGetOne, Key: "k", ID: []byte(strconv.Itoa(i))}
		}
		_, err := req.SendMessage("", encodeReq(t, protocol.JSON, r))
		require.NoError(t, err)
	}
	before := st.syncs.Load()
	for i := range k {
		reply, err := req.RecvMessageBytes(0)
		require.NoError(t, err)
		rep, _, err := protocol.DecodeReply(reply[len(reply)-1])
		require.NoError(t, err)
		mustOK(t, rep)
		require.Equal(t, strconv.Itoa(i), string(rep.ID), "replies in request order")
	}
	require.Equal(t, st.writes.Load(), st.synced.Load(), "every acknowledged write was synced")
	require.LessOrEqual(t, st.syncs.Load()-before, int64(k-k/3))
}

func TestSyncFailureIsAnErrorToWritersNotReaders(t *testing.T) {
	st := newSyncingStore()
	defer st.Close()
	n := startNode(t, Config{Store: st})
	req := reqSocket(t, n)
	mustOK(t, call(t, req, protocol.JSON, protocol.Request{Op: protocol.OpPut, Key: "a", Value: []byte(`1`)}))

	st.fail.Store(true)
	rep := call(t, req, protocol.JSON, protocol.Request{Op: protocol.OpPut, Key: "b", Value: []byte(`2`)})
	mustErr(t, rep, protocol.CodeInternal)
	require.Contains(t, rep.Err.Message, "not durable")
	mustOK(t, call(t, req, protocol.JSON, protocol.Request{Op: protocol.OpGetOne, Key: "a"}))

	// The ingest path: a SYNC barrier is not completed by a failed sync.
	push := pushSocket(t, n)
	_, err := push.SendBytes(encodeReq(t, protocol.JSON, protocol.Request{Op: protocol.OpBatch, Ops: []protocol.Request{
		{Op: protocol.OpPut, Key: "c", Value: []byte(`3`)}, {Op: protocol.OpSync, Token: "t1"}}}), 0)
	require.NoError(t, err)
	mustErr(t, call(t, req, protocol.JSON, protocol.Request{Op: protocol.OpSync, Token: "t1", TimeoutMS: 300}), protocol.CodeTimeout)

	st.fail.Store(false)
	_, err = push.SendBytes(encodeReq(t, protocol.JSON, protocol.Request{Op: protocol.OpSync, Token: "t2"}), 0)
	require.NoError(t, err)
	mustOK(t, call(t, req, protocol.JSON, protocol.Request{Op: protocol.OpSync, Token: "t2", TimeoutMS: int(safety.Milliseconds())}))
	require.Equal(t, st.writes.Load(), st.synced.Load())
}

func TestSyncNoneNeverSyncs(t *testing.T) {
	st := newSyncingStore()
	defer st.Close()
	n := startNode(t, Config{Store: st, Sync: SyncNone})
	req := reqSocket(t, n)
	mustOK(t, call(t, req, protocol.JSON, protocol.Request{Op: protocol.OpPut, Key: "a", Value: []byte(`1`)}))
	require.Zero(t, st.syncs.Load())

	_, err := ParseSyncPolicy("sometimes")
	require.Error(t, err)
	require.Error(t, Config{Sync: "sometimes"}.Validate())
}
