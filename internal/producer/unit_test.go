package producer

import (
	"errors"
	"math"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"
	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/layout"
	"github.com/zshard/zshard/sharding"
)

func TestIDRoundTrip(t *testing.T) {
	for _, c := range []protocol.Codec{protocol.JSON, protocol.Msgpack} {
		for _, n := range []uint64{0, 1, 255, 1 << 32, math.MaxUint64} {
			id := appendID(nil, c, n)
			// The id travels inside a request and comes back in the reply.
			msg, err := protocol.AppendRequest(nil, c, &protocol.Request{Op: protocol.OpPing, ID: id})
			require.NoError(t, err)
			req, _, err := protocol.DecodeRequest(msg, protocol.Limits{})
			require.NoError(t, err)
			rep, err := protocol.AppendReply(nil, c, &protocol.Reply{Op: protocol.OpPing, Status: protocol.StatusOK, ID: req.ID})
			require.NoError(t, err)
			back, _, err := protocol.DecodeReply(rep)
			require.NoError(t, err)
			got, ok := parseID(back.ID, c)
			require.True(t, ok, "%s %d", c, n)
			require.Equal(t, n, got)
		}
	}
	_, ok := parseID([]byte(`"x"`), protocol.JSON)
	require.False(t, ok)
	_, ok = parseID([]byte{0x01}, protocol.Msgpack)
	require.False(t, ok)
}

func TestSettingsDiff(t *testing.T) {
	base := layout.Settings{Algorithm: "hrw", Partitions: 1024, Replicas: 2}
	tests := []struct {
		name string
		got  layout.Settings
		diff bool
	}{
		{"same", base, false},
		{"epoch only", layout.Settings{Algorithm: "hrw", Partitions: 1024, Replicas: 2, Epoch: 7}, false},
		{"algorithm", layout.Settings{Algorithm: "consistent", Partitions: 1024, Replicas: 2}, true},
		{"partitions", layout.Settings{Algorithm: "hrw", Partitions: 2048, Replicas: 2}, true},
		{"replicas", layout.Settings{Algorithm: "hrw", Partitions: 1024}, true},
	}
	// Zero partitions and vnodes mean the defaults.
	require.Empty(t, SettingsDiff(layout.Settings{Algorithm: "consistent"},
		layout.Settings{Algorithm: "consistent", Partitions: sharding.DefaultPartitions, VNodes: sharding.DefaultVNodes}))
	require.NotEmpty(t, SettingsDiff(layout.Settings{Algorithm: "consistent", VNodes: 100},
		layout.Settings{Algorithm: "consistent", Partitions: sharding.DefaultPartitions}))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.diff, SettingsDiff(base, tc.got) != "")
		})
	}
}

func TestConfigValidate(t *testing.T) {
	require.NoError(t, DefaultConfig().Validate())
	require.NoError(t, Config{}.Validate())
	bad := []struct {
		name string
		cfg  Config
	}{
		{"codec", Config{Codec: 9}},
		{"algorithm", Config{Settings: layout.Settings{Algorithm: "nope"}}},
		{"negative replicas", Config{Settings: layout.Settings{Replicas: -1}}},
		{"batch ops", Config{BatchOps: protocol.DefaultMaxBatchOps + 1}},
		{"window", Config{Window: -1}},
		{"scan page", Config{ScanPage: protocol.DefaultMaxScanLimit + 1}},
		{"consistency", Config{WriteConsistency: All + 1}},
		{"timeout", Config{RequestTimeout: -1}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			require.Error(t, tc.cfg.Validate())
		})
	}
}

// TestBatchEncoding checks that the BATCH messages a Bulk builds by hand
// decode as the node decodes them, in both codecs.
func TestBatchEncoding(t *testing.T) {
	for _, c := range []protocol.Codec{protocol.JSON, protocol.Msgpack} {
		for _, n := range []int{1, 2, 17, 70000 % protocol.DefaultMaxBatchOps} {
			t.Run(c.String(), func(t *testing.T) {
				p := &Producer{codec: c}
				b := &Bulk{p: p}
				bn := &bulkNode{}
				bn.msg = b.openBatch(nil)
				for i := range n {
					if i > 0 && c == protocol.JSON {
						bn.msg = append(bn.msg, ',')
					}
					op := protocol.Request{Op: protocol.OpPut, Key: "k\"\u00e9", Value: mustEncode(t, c, []any{"v", i})}
					if i%3 == 2 {
						op = protocol.Request{Op: protocol.OpDelete, Key: "d"}
					}
					var err error
					bn.msg, err = protocol.AppendRequest(bn.msg, c, &op)
					require.NoError(t, err)
					bn.n++
				}
				b.closeBatch(bn)
				req, gotC, err := protocol.DecodeRequest(bn.msg, protocol.Limits{})
				require.NoError(t, err)
				require.Equal(t, c, gotC)
				require.Equal(t, protocol.OpBatch, req.Op)
				require.Len(t, req.Ops, n)
				for i, op := range req.Ops {
					if i%3 == 2 {
						require.Equal(t, protocol.OpDelete, op.Op)
						continue
					}
					require.Equal(t, protocol.OpPut, op.Op)
					require.Equal(t, "k\"\u00e9", op.Key)
					var v []any
					require.NoError(t, DecodeValue(c, op.Value, &v))
					require.Len(t, v, 2)
				}
			})
		}
	}
}

// A bulk push to a node whose connection is not up yet waits for it (within
// its patience) instead of failing the node: the first push of a new Bulk
// always races the TCP connect.
func TestPushSendWaitsForALateConnection(t *testing.T) {
	ctx, err := zmq.NewContext()
	require.NoError(t, err)
	defer ctx.Term()
	ep := freeEndpoint(t)

	push, err := ctx.NewSocket(zmq.PUSH)
	require.NoError(t, err)
	defer push.Close()
	require.NoError(t, push.SetLinger(0))
	require.NoError(t, push.SetImmediate(true))
	require.NoError(t, push.SetSndtimeo(50*time.Millisecond))
	require.NoError(t, push.Connect(ep))

	// Nobody there: the push gives up after its patience.
	require.ErrorIs(t, pushSend(push, []byte("lost"), 200*time.Millisecond), ErrTimeout)

	// The node comes up while the push waits: it is delivered.
	pull, err := ctx.NewSocket(zmq.PULL)
	require.NoError(t, err)
	defer pull.Close()
	require.NoError(t, pull.SetLinger(0))
	require.NoError(t, pull.SetRcvtimeo(30*time.Second))
	bound := make(chan error, 1)
	go func() {
		time.Sleep(300 * time.Millisecond)
		bound <- pull.Bind(ep)
	}()
	require.NoError(t, pushSend(push, []byte("hello"), 30*time.Second))
	require.NoError(t, <-bound)
	got, err := pull.RecvBytes(0)
	require.NoError(t, err)
	require.Equal(t, "hello", string(got))
}

// TestNodesErrorNamesEachNodeOnce: a node's own NodeError is not prefixed
// with its name a second time.
func TestNodesErrorNamesEachNodeOnce(t *testing.T) {
	err := &NodesError{Op: `GET_ONE "k"`, Kind: ErrUnavailable, Failed: map[string]error{
		"node-0": &NodeError{Node: "node-0", Err: errors.New("not authorized (CURVE)")},
		"node-1": errDown,
	}}
	require.Equal(t, `GET_ONE "k": `+ErrUnavailable.Error()+`: node-0: not authorized (CURVE); node-1: `+errDown.Error(), err.Error())
}
