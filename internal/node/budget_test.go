package node

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"
	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/internal/store"
	"github.com/zshard/zshard/internal/store/durable"
)

func TestBudgetShares(t *testing.T) {
	b := newBudget(400)
	require.True(t, b.reserve("a", 150), "a peer holding nothing gets a reply over its share")
	require.False(t, b.reserve("a", 1), "a peer over its share gets nothing more")
	require.True(t, b.reserve("b", 90))
	require.True(t, b.reserve("c", 100))
	require.False(t, b.reserve("d", 100), "the budget is spent")
	require.True(t, b.reserve("b", 10), "b's share holds 100")
	b.adjust("c", -40) // c's reply came out smaller than its estimate
	require.True(t, b.reserve("d", 40))
	require.Equal(t, uint64(2), b.rejected.Load())
	for peer, n := range map[string]int64{"a": 150, "b": 100, "c": 60, "d": 40} {
		b.release(peer, n)
	}
	st := b.stats()
	require.Equal(t, protocol.MemoryStats{BudgetBytes: 400, InUseBytes: 0, PeakBytes: 350, Rejected: 2}, *st)
	require.Empty(t, b.peers)
	require.True(t, b.reserve("e", 1000), "a reply over the whole budget when nothing is held")
}

func TestHWM(t *testing.T) {
	require.Equal(t, 64, hwm(1, 16<<20))
	require.Equal(t, 64, hwm(128<<20, 16<<20))
	require.Equal(t, 128, hwm(128<<20, 1<<20))
	require.Equal(t, 1000, hwm(1<<40, 1))
	require.Equal(t, 1000, hwm(1, 0))
}

// TestSendOwned: a reply handed to ZeroMQ without a copy arrives whole, and
// its ticket reports it released.
func TestSendOwned(t *testing.T) {
	router, err := zmq.NewSocket(zmq.ROUTER)
	require.NoError(t, err)
	defer closeSocket(router, 0)
	require.NoError(t, router.Bind("tcp://127.0.0.1:*"))
	ep, err := router.GetLastEndpoint()
	require.NoError(t, err)
	dealer, err := zmq.NewSocket(zmq.DEALER)
	require.NoError(t, err)
	defer closeSocket(dealer, 0)
	require.NoError(t, dealer.SetRcvtimeo(safety))
	require.NoError(t, dealer.Connect(ep))
	_, err = dealer.SendBytes([]byte("hello"), 0)
	require.NoError(t, err)
	require.NoError(t, router.SetRcvtimeo(safety))
	frames, err := router.RecvMessageBytes(0)
	require.NoError(t, err)

	body := bytes.Repeat([]byte("0123456789"), 100_000)
	tk, err := sendOwned(router, frames[:1], newCReply(body))
	require.NoError(t, err)
	got, err := dealer.RecvBytes(0)
	require.NoError(t, err)
	require.Equal(t, body, got)
	require.Eventually(t, tk.done, safety, time.Millisecond)
	tk.free()
}

// TestLargeRepliesBudget: a client that asks for GET_ALL again and again and
// does not read its replies holds at most its share of the budget and is
// answered busy beyond; the other clients are all served, PING is answered
// meanwhile, STATS shows the rejections, and once the greedy client is
// gone the budget is all free again.
func TestLargeRepliesBudget(t *testing.T) {
	const keys, valueBytes = 32, 256 << 10 // an 8 MiB GET_ALL
	n := startNode(t, Config{MemoryBudget: 32 << 20})
	value := []byte(`"` + string(bytes.Repeat([]byte("v"), valueBytes-2)) + `"`)
	for i := range keys {
		require.NoError(t, n.Store().Put(context.Background(), fmt.Sprintf("k%02d", i), store.Value{Codec: uint8(protocol.JSON), Data: value}))
	}

	// The greedy client keeps at most one message and a small TCP window,
	// so the node cannot write its replies out.
	hog, err := zmq.NewSocket(zmq.DEALER)
	require.NoError(t, err)
	require.NoError(t, hog.SetLinger(0))
	require.NoError(t, hog.SetRcvhwm(1))
	require.NoError(t, hog.SetRcvbuf(64<<10))
	require.NoError(t, hog.Connect(n.RequestEndpoint()))
	for range 10 {
		_, err := hog.SendBytes([]byte(`{"op":"GET_ALL"}`), 0)
		require.NoError(t, err)
	}

	var wg sync.WaitGroup
	const clients = 4
	served := make([]int, clients)
	busy := make([]int, clients)
	for i := range clients {
		s := reqSocket(t, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for served[i] == 0 {
				b, err := roundTrip(s, []byte(`{"op":"GET_ALL"}`))
				if err != nil {
					t.Error(err)
					return
				}
				rep, _, err := protocol.DecodeReply(b)
				if err != nil {
					t.Error(err)
					return
				}
				switch {
				case rep.Status == protocol.StatusOK:
					served[i] = len(rep.Collection)
				case rep.Err != nil && rep.Err.Code == protocol.CodeBusy:
					busy[i]++
					time.Sleep(10 * time.Millisecond)
				default:
					t.Errorf("GET_ALL: %+v", rep.Err)
					return
				}
			}
		}()
	}
	ping := reqSocket(t, n)
	mustOK(t, call(t, ping, protocol.JSON, protocol.Request{Op: protocol.OpPing}))
	wg.Wait()
	for i := range clients {
		require.Equal(t, keys, served[i], "client %d (busy %d times) gets the whole collection", i, busy[i])
	}
	mustOK(t, call(t, ping, protocol.JSON, protocol.Request{Op: protocol.OpPing}))

	st := mustOK(t, call(t, ping, protocol.JSON, protocol.Request{Op: protocol.OpStats})).Stats
	require.NotNil(t, st.Memory)
	require.Equal(t, int64(32<<20), st.Memory.BudgetBytes)
	require.Positive(t, st.Memory.Rejected, "the greedy client was answered busy")
	require.Equal(t, st.Memory.Rejected, st.Errors[string(protocol.CodeBusy)])
	require.LessOrEqual(t, st.Memory.PeakBytes, int64(32<<20)+int64(9<<20), "within the budget and one reply")

	closeSocket(hog, 0)
	require.Eventually(t, func() bool { return n.large.budget.inUse() == 0 }, safety, 10*time.Millisecond,
		"the replies of a client that is gone return to the budget")
}

// roundTrip sends msg on the REQ socket s and returns the reply body.
func roundTrip(s *zmq.Socket, msg []byte) ([]byte, error) {
	if _, err := s.SendBytes(msg, 0); err != nil {
		return nil, err
	}
	return s.RecvBytes(0)
}

// TestScanBusy: a SCAN the budget cannot take is answered busy, in both
// codecs, with its id, and the node serves the next one.
func TestScanBusy(t *testing.T) {
	n := startNode(t, Config{MemoryBudget: 1})
	for i := range 10 {
		require.NoError(t, n.Store().Put(context.Background(), fmt.Sprintf("k%d", i), store.Value{Codec: uint8(protocol.JSON), Data: []byte("1")}))
	}
	// Hold the whole budget as a reply in flight would.
	require.True(t, n.large.budget.reserve("someone", 1))
	for _, c := range codecs {
		s := dealerSocket(t, n)
		rep := call(t, s, c, protocol.Request{Op: protocol.OpScan, ID: val(t, c, 7)})
		mustErr(t, rep, protocol.CodeBusy)
		require.Equal(t, val(t, c, 7), rep.ID)
		require.Contains(t, rep.Err.Message, "retry")
	}
	n.large.budget.release("someone", 1)
	rep := mustOK(t, call(t, reqSocket(t, n), protocol.JSON, protocol.Request{Op: protocol.OpScan}))
	require.Len(t, rep.Collection, 10)
	require.Eventually(t, func() bool { return n.large.budget.inUse() == 0 }, safety, time.Millisecond)
}

// TestLargeRepliesKeepOrder: replies to one DEALER come back in request
// order although GET_ALL and SCAN are built on workers of their own.
func TestLargeRepliesKeepOrder(t *testing.T) {
	t.Run("memory", func(t *testing.T) { testLargeRepliesKeepOrder(t, Config{}) })
	t.Run("durable", func(t *testing.T) {
		// Write replies wait for the group commit (SyncAlways).
		st, err := durable.Open(t.TempDir(), durable.Options{})
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, st.Close()) })
		testLargeRepliesKeepOrder(t, Config{Store: st})
	})
}

func testLargeRepliesKeepOrder(t *testing.T, cfg Config) {
	n := startNode(t, cfg)
	for i := range 2000 {
		require.NoError(t, n.Store().Put(context.Background(), fmt.Sprintf("k%04d", i), store.Value{Codec: uint8(protocol.JSON), Data: []byte(`"a value"`)}))
	}
	s := dealerSocket(t, n)
	ops := []protocol.Op{protocol.OpPut, protocol.OpGetAll, protocol.OpPing, protocol.OpScan, protocol.OpGetOne, protocol.OpPut,
		protocol.OpGetAll, protocol.OpStats, protocol.OpPing}
	const rounds = 20
	for r := range rounds {
		for i, op := range ops {
			req := protocol.Request{Op: op, ID: val(t, protocol.JSON, r*100+i)}
			switch op {
			case protocol.OpGetOne:
				req.Key = "k0001"
			case protocol.OpPut:
				req.Key, req.Value = fmt.Sprintf("w%d-%d", r, i), []byte("1")
			}
			_, err := s.SendBytes(encodeReq(t, protocol.JSON, req), 0)
			require.NoError(t, err)
		}
	}
	for r := range rounds {
		for i, op := range ops {
			b, err := s.RecvBytes(0)
			require.NoError(t, err)
			rep, _, err := protocol.DecodeReply(b)
			require.NoError(t, err)
			mustOK(t, rep)
			require.Equal(t, val(t, protocol.JSON, r*100+i), rep.ID, "reply %d of round %d (%v)", i, r, op)
		}
	}
	require.Eventually(t, func() bool { return n.large.budget.inUse() == 0 }, safety, time.Millisecond)
}

// TestLargeGetOneCounted: a GET_ONE reply over countedReplyBytes is held in
// the budget until sent, and answered busy when the budget cannot hold it;
// small replies are never refused.
func TestLargeGetOneCounted(t *testing.T) {
	n := startNode(t, Config{MemoryBudget: 1})
	big := bytes.Repeat([]byte("x"), 2*countedReplyBytes)
	ctx := context.Background()
	require.NoError(t, n.Store().Put(ctx, "big", store.Value{Codec: uint8(protocol.JSON), Data: fmt.Appendf(nil, "%q", big)}))
	require.NoError(t, n.Store().Put(ctx, "small", store.Value{Codec: uint8(protocol.JSON), Data: []byte("1")}))

	require.True(t, n.large.budget.reserve("someone", 1))
	for _, c := range codecs {
		s := dealerSocket(t, n)
		rep := call(t, s, c, protocol.Request{Op: protocol.OpGetOne, Key: "big", ID: val(t, c, 3)})
		mustErr(t, rep, protocol.CodeBusy)
		require.Equal(t, val(t, c, 3), rep.ID)
		mustOK(t, call(t, s, c, protocol.Request{Op: protocol.OpGetOne, Key: "small"}))
	}
	n.large.budget.release("someone", 1)

	rep := mustOK(t, call(t, reqSocket(t, n), protocol.JSON, protocol.Request{Op: protocol.OpGetOne, Key: "big"}))
	require.Len(t, rep.Value, len(big)+2)
	require.Eventually(t, func() bool { return n.large.budget.inUse() == 0 }, safety, time.Millisecond)
	st := n.large.budget.stats()
	require.GreaterOrEqual(t, st.PeakBytes, int64(len(big)))
	require.Equal(t, uint64(2), st.Rejected)
}
