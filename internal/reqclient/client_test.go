package reqclient_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"
	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/hlc"
	"github.com/zshard/zshard/internal/node"
	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/internal/reqclient"
	"github.com/zshard/zshard/internal/store"
	"github.com/zshard/zshard/sharding"
)

// safety bounds a call to a node that answers, so a broken node fails a
// test instead of hanging it; it is never a performance threshold.
const safety = 20 * time.Second

func startNode(t *testing.T) *node.Node {
	t.Helper()
	n, err := node.New(node.Config{Name: "n1", Bind: "127.0.0.1", PollInterval: 10 * time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, n.Start())
	t.Cleanup(func() { require.NoError(t, n.Close()) })
	return n
}

func TestCallPing(t *testing.T) {
	n := startNode(t)
	c := reqclient.New(n.RequestEndpoint(), safety)
	defer c.Close()
	for range 3 { // the socket is reused between calls
		rep, err := c.Call(context.Background(), &protocol.Request{Op: protocol.OpPing})
		require.NoError(t, err)
		require.Equal(t, protocol.StatusOK, rep.Status)
		require.Equal(t, "n1", rep.Node)
	}
	require.Equal(t, n.RequestEndpoint(), c.Endpoint())
}

func TestCallErrorReply(t *testing.T) {
	n := startNode(t)
	c := reqclient.New(n.RequestEndpoint(), safety)
	defer c.Close()
	rep, err := c.Call(context.Background(), &protocol.Request{Op: protocol.OpGetOne, Key: "missing"})
	require.Error(t, err)
	require.NotEqual(t, protocol.StatusOK, rep.Status)
	require.Contains(t, err.Error(), "to "+n.RequestEndpoint())
}

// TestCallRecoversAfterTimeout: a server that swallows the first request
// times the call out (its context's deadline is nearer than the client's
// timeout); the next call goes out on a new socket (the old one lost its
// reply and could not send again) and gets its answer.
func TestCallRecoversAfterTimeout(t *testing.T) {
	srv, err := zmq.NewSocket(zmq.ROUTER)
	require.NoError(t, err)
	defer srv.Close()
	require.NoError(t, srv.SetLinger(0))
	require.NoError(t, srv.SetRcvtimeo(safety))
	require.NoError(t, srv.Bind("tcp://127.0.0.1:*"))
	ep, err := srv.GetLastEndpoint()
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() {
		if _, err := srv.RecvMessageBytes(0); err != nil { // swallowed
			served <- err
			return
		}
		frames, err := srv.RecvMessageBytes(0)
		if err != nil {
			served <- err
			return
		}
		ok, err := protocol.AppendReply(nil, protocol.JSON, &protocol.Reply{Op: protocol.OpPing, Status: protocol.StatusOK, Node: "late"})
		if err == nil {
			_, err = srv.SendMessage(frames[0], frames[1], ok)
		}
		served <- err
	}()

	c := reqclient.New(ep, safety)
	defer c.Close()
	short, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = c.Call(short, &protocol.Request{Op: protocol.OpPing})
	require.ErrorContains(t, err, "no reply within")
	rep, err := c.Call(context.Background(), &protocol.Request{Op: protocol.OpPing})
	require.NoError(t, err)
	require.Equal(t, "late", rep.Node)
	require.NoError(t, <-served)
}

func TestCallCancelledContext(t *testing.T) {
	c := reqclient.New("tcp://127.0.0.1:1", safety)
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Call(ctx, &protocol.Request{Op: protocol.OpPing})
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorIs(t, c.ScanRaw(ctx, 0, 0, 10, func(protocol.Entry) { t.Fatal("no entry expected") }), context.Canceled)
	c.Close()
	c.Close() // twice is fine
}

// TestScanRaw: a paged SCAN of a hash range returns every key of the range
// once, with the value's bytes and codec as stored.
func TestScanRaw(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	const keys = 250
	want := map[string]store.Value{}
	for i := range keys {
		k := fmt.Sprintf("k%03d", i)
		v := store.Value{Codec: uint8(protocol.JSON), Data: fmt.Appendf(nil, "%d", i)}
		if i%2 == 1 {
			v = store.Value{Codec: uint8(protocol.Msgpack), Data: []byte{byte(i % 100)}} // a positive fixint
		}
		require.NoError(t, n.Store().Put(ctx, k, v))
		want[k] = v
	}
	for _, tc := range []struct {
		name     string
		from, to uint64
	}{
		{"everything", 0, 0},
		{"lower half", 0, 1 << 63},
		{"upper half", 1 << 63, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := reqclient.New(n.RequestEndpoint(), safety)
			defer c.Close()
			got := map[string]store.Value{}
			err := c.ScanRaw(ctx, tc.from, tc.to, 7, func(e protocol.Entry) {
				_, dup := got[e.Key]
				require.False(t, dup, e.Key)
				got[e.Key] = store.Value{Codec: uint8(e.Codec), Data: e.Value}
			})
			require.NoError(t, err)
			expect := map[string]store.Value{}
			for k, v := range want {
				if h := sharding.KeyHash(k); h >= tc.from && (tc.to == 0 || h < tc.to) {
					expect[k] = v
				}
			}
			require.Equal(t, expect, got)
		})
	}
}

// TestScanRecords: a paged SCAN of a hash range and a partition set
// returns every record of the range and the set once: values with their
// bytes, codec and version, tombstones with theirs.
func TestScanRecords(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	const keys, partitions = 250, 8
	want := map[string]store.Value{}
	for i := range keys {
		k := fmt.Sprintf("k%03d", i)
		v := store.Value{Codec: uint8(protocol.JSON), Data: fmt.Appendf(nil, "%d", i), Version: hlc.Version{Time: uint64(i + 1), Writer: 3}}
		switch i % 3 {
		case 1:
			v.Codec, v.Data = uint8(protocol.Msgpack), []byte{byte(i % 100)} // a positive fixint
		case 2:
			v.Codec, v.Data, v.Tombstone = 0, nil, true
		}
		_, err := n.Store().Apply(ctx, k, v)
		require.NoError(t, err)
		want[k] = v
	}
	evens := sharding.NewPartitionSet(partitions)
	for p := 0; p < partitions; p += 2 {
		evens.Add(p)
	}
	for _, tc := range []struct {
		name     string
		from, to uint64
		set      *sharding.PartitionSet
	}{
		{"everything", 0, 0, nil},
		{"upper half", 1 << 63, 0, nil},
		{"even partitions of the lower half", 0, 1 << 63, evens},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := reqclient.New(n.RequestEndpoint(), safety)
			defer c.Close()
			got := map[string]store.Value{}
			err := c.ScanRecords(ctx, tc.from, tc.to, tc.set, 7, func(page []protocol.Entry) error {
				require.LessOrEqual(t, len(page), 7)
				for _, e := range page {
					_, dup := got[e.Key]
					require.False(t, dup, e.Key)
					got[e.Key] = store.Value{Codec: uint8(e.Codec), Data: e.Value, Version: e.Version, Tombstone: e.Deleted}
				}
				return nil
			})
			require.NoError(t, err)
			expect := map[string]store.Value{}
			for k, v := range want {
				h := sharding.KeyHash(k)
				if h >= tc.from && (tc.to == 0 || h < tc.to) && (tc.set == nil || tc.set.Contains(h)) {
					expect[k] = v
				}
			}
			require.Equal(t, expect, got)
		})
	}
}
