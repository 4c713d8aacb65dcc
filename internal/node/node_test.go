package node

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/internal/testcluster"
)

func TestEveryOperation(t *testing.T) {
	n := startNode(t, Config{Name: "node-7"})
	for _, c := range codecs {
		t.Run(c.String(), func(t *testing.T) {
			req := reqSocket(t, n)
			p := c.String() + "-"
			v1 := val(t, c, map[string]any{"name": "x", "n": []any{1, 2.5, nil, true}})
			mustOK(t, call(t, req, c, protocol.Request{Op: protocol.OpPut, Key: p + "a", Value: v1}))
			mustOK(t, call(t, req, c, protocol.Request{Op: protocol.OpPut, Key: p + "b", Value: val(t, c, "v")}))

			rep := mustOK(t, call(t, req, c, protocol.Request{Op: protocol.OpGetOne, Key: p + "a"}))
			require.Equal(t, p+"a", rep.Key)
			require.Equal(t, v1, rep.Value, "value comes back byte for byte")

			mustErr(t, call(t, req, c, protocol.Request{Op: protocol.OpGetOne, Key: p + "missing"}), protocol.CodeNotFound)

			rep = mustOK(t, call(t, req, c, protocol.Request{Op: protocol.OpGetAll}))
			got := map[string][]byte{}
			for _, e := range rep.Collection {
				got[e.Key] = e.Value
			}
			require.Equal(t, v1, got[p+"a"])
			require.Equal(t, val(t, c, "v"), got[p+"b"])

			rep = mustOK(t, call(t, req, c, protocol.Request{Op: protocol.OpDelete, Key: p + "b"}))
			require.True(t, rep.Deleted)
			rep = mustOK(t, call(t, req, c, protocol.Request{Op: protocol.OpDelete, Key: p + "b"}))
			require.False(t, rep.Deleted)
			mustErr(t, call(t, req, c, protocol.Request{Op: protocol.OpGetOne, Key: p + "b"}), protocol.CodeNotFound)

			// SCAN walks everything in pages of one.
			var keys []string
			cursor := ""
			for {
				rep = mustOK(t, call(t, req, c, protocol.Request{Op: protocol.OpScan, Cursor: cursor, Limit: 1}))
				require.LessOrEqual(t, len(rep.Collection), 1)
				for _, e := range rep.Collection {
					keys = append(keys, e.Key)
				}
				if rep.Cursor == "" {
					break
				}
				cursor = rep.Cursor
			}
			require.Contains(t, keys, p+"a")
			require.Len(t, keys, len(mustOK(t, call(t, req, c, protocol.Request{Op: protocol.OpGetAll})).Collection))

			rep = mustOK(t, call(t, req, c, protocol.Request{Op: protocol.OpBatch, Ops: []protocol.Request{
				{Op: protocol.OpPut, Key: p + "c", Value: val(t, c, 3)},
				{Op: protocol.OpGetOne, Key: p + "c"},
				{Op: protocol.OpGetOne, Key: p + "nope"},
				{Op: protocol.OpDelete, Key: p + "c"},
			}}))
			require.Len(t, rep.Results, 4)
			mustOK(t, rep.Results[0])
			require.Equal(t, val(t, c, 3), mustOK(t, rep.Results[1]).Value)
			mustErr(t, rep.Results[2], protocol.CodeNotFound)
			require.True(t, mustOK(t, rep.Results[3]).Deleted)

			rep = mustOK(t, call(t, req, c, protocol.Request{Op: protocol.OpPing, ID: val(t, c, "ping-1")}))
			require.Equal(t, "node-7", rep.Node)
			require.Equal(t, protocol.Version, rep.Protocol)
			require.Equal(t, val(t, c, "ping-1"), rep.ID, "id is echoed")

			rep = mustOK(t, call(t, req, c, protocol.Request{Op: protocol.OpStats}))
			require.NotNil(t, rep.Stats)
			require.Equal(t, "node-7", rep.Stats.Node)
			require.Equal(t, n.Store().Stats().Keys, rep.Stats.Keys)
			require.Positive(t, rep.Stats.Ops["PUT"])
			require.Positive(t, rep.Stats.Errors["not_found"])
			require.Positive(t, rep.Stats.Endpoints[EndpointRequest].Messages)
		})
	}
}

func TestClassLabJSONExact(t *testing.T) {
	n := startNode(t, Config{})
	req := reqSocket(t, n)
	for _, tc := range []struct{ in, want string }{
		{`{"op":"PUT","key":"k","value":"v"}`, `{"status":"OK"}`},
		{`{"op":"GET_ONE","key":"k"}`, `{"status":"OK","key":"k","value":"v"}`},
		{`{"op":"GET_ALL"}`, `{"status":"OK","collection":[{"key":"k","value":"v"}]}`},
		{`{"op": "PUT", "key": "k", "value": {"nested": [1, 2.0, "x"]}}`, `{"status":"OK"}`},
		{`{"op":"GET_ONE","key":"k"}`, `{"status":"OK","key":"k","value":{"nested": [1, 2.0, "x"]}}`},
		{`{"op":"DELETE","key":"k"}`, `{"status":"OK","deleted":true}`},
		{`{"op":"GET_ONE","key":"k"}`, `{"status":"error","error":"not_found","message":"key \"k\" not found"}`},
	} {
		require.Equal(t, tc.want, string(rawCall(t, req, tc.in)), tc.in)
	}
}

func TestCrossCodecValues(t *testing.T) {
	n := startNode(t, Config{})
	req := reqSocket(t, n)
	mustOK(t, call(t, req, protocol.JSON, protocol.Request{Op: protocol.OpPut, Key: "j", Value: []byte(`{"a": [1, -2, 2.5, "s", null]}`)}))
	rep := mustOK(t, call(t, req, protocol.Msgpack, protocol.Request{Op: protocol.OpGetOne, Key: "j"}))
	want, err := protocol.ConvertValue([]byte(`{"a":[1,-2,2.5,"s",null]}`), protocol.JSON, protocol.Msgpack)
	require.NoError(t, err)
	require.Equal(t, want, rep.Value)

	mustOK(t, call(t, req, protocol.Msgpack, protocol.Request{Op: protocol.OpPut, Key: "m", Value: val(t, protocol.Msgpack, map[string]any{"x": 1})}))
	rep = mustOK(t, call(t, req, protocol.JSON, protocol.Request{Op: protocol.OpGetOne, Key: "m"}))
	require.JSONEq(t, `{"x":1}`, string(rep.Value))

	// A msgpack map with integer keys has no JSON form.
	mustOK(t, call(t, req, protocol.Msgpack, protocol.Request{Op: protocol.OpPut, Key: "ik", Value: val(t, protocol.Msgpack, map[int]int{1: 2})}))
	mustErr(t, call(t, req, protocol.JSON, protocol.Request{Op: protocol.OpGetOne, Key: "ik"}), protocol.CodeUnconvertible)
	mustOK(t, call(t, req, protocol.Msgpack, protocol.Request{Op: protocol.OpGetOne, Key: "ik"}))
}

// TestDealerPipelining sends many requests before reading any reply, as a
// pipelining DEALER client does; every reply comes back with its id.
func TestDealerPipelining(t *testing.T) {
	n := startNode(t, Config{})
	d := dealerSocket(t, n)
	const count = 500
	for i := range count {
		r := protocol.Request{Op: protocol.OpPut, Key: "k" + strconv.Itoa(i), Value: []byte(strconv.Itoa(i)), ID: []byte(strconv.Itoa(i))}
		if i%2 == 1 {
			// REQ-style envelope with an empty delimiter works on a DEALER too.
			_, err := d.SendMessage("", encodeReq(t, protocol.JSON, r))
			require.NoError(t, err)
			continue
		}
		_, err := d.SendBytes(encodeReq(t, protocol.JSON, r), 0)
		require.NoError(t, err)
	}
	seen := map[string]bool{}
	for i := range count {
		frames, err := d.RecvMessageBytes(0)
		require.NoError(t, err)
		if i%2 == 1 {
			require.Len(t, frames, 2)
			require.Empty(t, frames[0])
		} else {
			require.Len(t, frames, 1)
		}
		rep, _, err := protocol.DecodeReply(frames[len(frames)-1])
		require.NoError(t, err)
		mustOK(t, rep)
		seen[string(rep.ID)] = true
	}
	require.Len(t, seen, count)
	require.EqualValues(t, count, n.Store().Stats().Keys)
}

func TestScanHashRange(t *testing.T) {
	n := startNode(t, Config{})
	req := reqSocket(t, n)
	for i := range 200 {
		mustOK(t, call(t, req, protocol.Msgpack, protocol.Request{Op: protocol.OpPut, Key: fmt.Sprint("k", i), Value: []byte{0xc0}}))
	}
	// Four quarter ranges partition the key space.
	total := 0
	q := uint64(1) << 62
	for i := range uint64(4) {
		cursor := ""
		for {
			rep := mustOK(t, call(t, req, protocol.Msgpack, protocol.Request{Op: protocol.OpScan, Cursor: cursor, Limit: 7, HashFrom: i * q, HashTo: (i + 1) * q}))
			total += len(rep.Collection)
			if rep.Cursor == "" {
				break
			}
			cursor = rep.Cursor
		}
	}
	require.Equal(t, 200, total)
	mustErr(t, call(t, req, protocol.JSON, protocol.Request{Op: protocol.OpScan, Cursor: "zz"}), protocol.CodeBadRequest)
}

func TestGetAllReplyLimit(t *testing.T) {
	n := startNode(t, Config{MaxReplyBytes: 1000})
	req := reqSocket(t, n)
	for i := range 50 {
		mustOK(t, call(t, req, protocol.JSON, protocol.Request{Op: protocol.OpPut, Key: fmt.Sprint("key-", i), Value: []byte(`"0123456789"`)}))
	}
	mustErr(t, call(t, req, protocol.JSON, protocol.Request{Op: protocol.OpGetAll}), protocol.CodeTooLarge)
	mustOK(t, call(t, req, protocol.JSON, protocol.Request{Op: protocol.OpScan, Limit: 10}))
}

func TestStartClose(t *testing.T) {
	// A port below the ephemeral range, which an outgoing connection could
	// take between the Close and the second bind.
	port := testcluster.FreePortRange(t, 1)
	n, err := New(Config{PollInterval: 5 * 1e6, RequestPort: port})
	require.NoError(t, err)
	require.NoError(t, n.Start())
	require.ErrorIs(t, n.Start(), ErrStarted)
	ep := n.RequestEndpoint()
	require.NoError(t, n.Close())
	require.NoError(t, n.Close())
	require.ErrorIs(t, n.Start(), ErrClosed)

	// The port is free again: a new node can bind it.
	n2 := startNode(t, Config{RequestPort: port})
	require.Equal(t, ep, n2.RequestEndpoint())

	// Close without Start.
	n3, err := New(Config{})
	require.NoError(t, err)
	require.NoError(t, n3.Close())
}

func TestConfigValidate(t *testing.T) {
	require.NoError(t, DefaultConfig().Validate())
	for _, bad := range []Config{
		{RequestPort: -1},
		{IngestPort: 70000},
		{RequestPort: 2000, IngestPort: 2000},
		{Limits: protocol.Limits{MaxKeyBytes: -1}},
		{TransportMaxBytes: 10, Limits: protocol.Limits{MaxMessageBytes: 100}},
		{SyncTimeout: -1},
	} {
		require.Error(t, bad.Validate(), "%+v", bad)
		_, err := New(bad)
		require.Error(t, err)
	}
	d := DefaultConfig()
	require.Equal(t, "127.0.0.1", d.Bind)
	require.Equal(t, protocol.DefaultLimits(), d.Limits)
}
