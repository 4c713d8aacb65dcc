package producer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"
	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/node"
	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/internal/store"
	"github.com/zshard/zshard/internal/testcluster"
	"github.com/zshard/zshard/layout"
	"github.com/zshard/zshard/sharding"
)

// testBusy: a node whose memory budget is held by a client that does not
// read answers the producer's SCANs busy; the producer sends them again
// after a pause, protocol.BusyRetries times, then reports the busy error;
// once the budget is free again its scan succeeds.
func testBusy(t *testing.T, c *testcluster.Consul) {
	const keys, valueBytes = 16, 512 << 10 // an 8 MiB store
	cl := newCluster(t, c)
	n := cl.addNodeConfig(node.Config{Name: "busy-node", MemoryBudget: 4 << 20})
	cl.waitMembers("busy-node")
	value := []byte(`"` + string(bytes.Repeat([]byte("v"), valueBytes-2)) + `"`)
	for i := range keys {
		require.NoError(t, n.Store().Put(context.Background(), fmt.Sprintf("k%02d", i), store.Value{Codec: uint8(protocol.JSON), Data: value}))
	}
	p := cl.producerFor(layout.Settings{Algorithm: sharding.Rendezvous, Partitions: 64}, protocol.JSON)
	waitTable(t, p, 1)

	// A client that keeps one message and a small TCP window: once it
	// holds two GET_ALL replies, the next one cannot be written out and
	// keeps its bytes in the budget.
	hog, err := zmq.NewSocket(zmq.DEALER)
	require.NoError(t, err)
	require.NoError(t, hog.SetLinger(0))
	require.NoError(t, hog.SetRcvhwm(1))
	require.NoError(t, hog.SetRcvbuf(64<<10))
	require.NoError(t, hog.Connect(n.RequestEndpoint()))
	defer hog.Close()
	stuck := func(sent int) bool {
		require.Eventually(t, func() bool { return n.Stats().Ops["GET_ALL"] >= uint64(sent) }, safety, time.Millisecond)
		// A reply the hog cannot take stays in the budget for good.
		deadline := time.Now().Add(2 * time.Second)
		for time.Now().Before(deadline) {
			if n.Stats().Memory.InUseBytes == 0 {
				return false
			}
			time.Sleep(20 * time.Millisecond)
		}
		return true
	}
	for i := 0; ; i++ {
		require.Less(t, i, 10, "the greedy client's replies never got stuck")
		_, err := hog.SendBytes([]byte(`{"op":"GET_ALL"}`), 0)
		require.NoError(t, err)
		if stuck(i + 1) {
			break
		}
	}

	before := n.Stats().Memory.Rejected
	_, err = p.GetAll(ctxT(t))
	var re *ReplyError
	require.True(t, errors.As(err, &re) && re.Code == protocol.CodeBusy, "%v", err)
	require.Equal(t, uint64(1+protocol.BusyRetries), n.Stats().Memory.Rejected-before, "sent again after each busy reply")

	hog.Close()
	require.Eventually(t, func() bool { return n.Stats().Memory.InUseBytes == 0 }, safety, 10*time.Millisecond)
	all, err := p.GetAll(ctxT(t))
	require.NoError(t, err)
	require.Len(t, all, keys)
}
