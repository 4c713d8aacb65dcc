package node

import (
	"fmt"
	"testing"

	zmq "github.com/pebbe/zmq4"
	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/sharding"
)

// TestPartitionOps checks SCAN with a partition set, DIGEST and
// DELETE_PARTITIONS against what the keys' hashes say, in both codecs, and
// that the digests of two nodes agree exactly when their keys do.
func TestPartitionOps(t *testing.T) {
	const parts = 64
	set := sharding.NewPartitionSet(parts)
	for p := 0; p < parts; p += 3 {
		set.Add(p)
	}
	for _, c := range codecs {
		t.Run(c.String(), func(t *testing.T) {
			a := startNode(t, Config{Name: "a"})
			b := startNode(t, Config{Name: "b"})
			ra := socket(t, zmq.REQ, a.RequestEndpoint())
			rb := socket(t, zmq.REQ, b.RequestEndpoint())
			want := map[string]bool{}
			for i := range 500 {
				k := fmt.Sprintf("key-%d", i)
				v := val(t, c, map[string]any{"i": i})
				for _, s := range []*zmq.Socket{ra, rb} {
					mustOK(t, call(t, s, c, protocol.Request{Op: protocol.OpPut, Key: k, Value: v}))
				}
				if set.Contains(sharding.KeyHash(k)) {
					want[k] = true
				}
			}
			// SCAN with the set, in pages.
			got := map[string]bool{}
			cursor := ""
			for {
				rep := mustOK(t, call(t, ra, c, protocol.Request{Op: protocol.OpScan, Cursor: cursor, Limit: 7, Partitions: parts, Bitmap: set.Bits}))
				for _, e := range rep.Collection {
					require.False(t, got[e.Key], "no key twice")
					got[e.Key] = true
				}
				if cursor = rep.Cursor; cursor == "" {
					break
				}
			}
			require.Equal(t, want, got)

			digest := func(s *zmq.Socket, hr sharding.HashRange) []protocol.Digest {
				return mustOK(t, call(t, s, c, protocol.Request{Op: protocol.OpDigest, Partitions: parts, Bitmap: set.Bits, HashFrom: hr.From, HashTo: hr.To})).Digests
			}
			da := digest(ra, sharding.HashRange{})
			require.Equal(t, da, digest(rb, sharding.HashRange{}), "same keys, same digests")
			var keys uint64
			for i, d := range da {
				require.True(t, set.Has(d.Partition))
				if i > 0 {
					require.Greater(t, d.Partition, da[i-1].Partition)
				}
				keys += d.Keys
			}
			require.EqualValues(t, len(want), keys)
			// A range of partitions sees those partitions' digests only.
			hr := sharding.HashRange{From: sharding.PartitionRange(3, parts).From, To: sharding.PartitionRange(10, parts).To}
			var sub []protocol.Digest
			for _, d := range da {
				if d.Partition >= 3 && d.Partition <= 10 {
					sub = append(sub, d)
				}
			}
			require.Equal(t, sub, digest(ra, hr))

			// One changed value and one missing key change exactly their
			// partitions' digests.
			var changed, removed string
			for k := range want {
				if changed == "" {
					changed = k
				} else if set.Of(sharding.KeyHash(k)) != set.Of(sharding.KeyHash(changed)) {
					removed = k
					break
				}
			}
			mustOK(t, call(t, rb, c, protocol.Request{Op: protocol.OpPut, Key: changed, Value: val(t, c, "new")}))
			mustOK(t, call(t, rb, c, protocol.Request{Op: protocol.OpDelete, Key: removed}))
			db := digest(rb, sharding.HashRange{})
			differ := map[int]bool{}
			for i := range da {
				if da[i] != db[i] {
					differ[da[i].Partition] = true
				}
			}
			require.Equal(t, map[int]bool{set.Of(sharding.KeyHash(changed)): true, set.Of(sharding.KeyHash(removed)): true}, differ)

			// DELETE_PARTITIONS in pages removes exactly the set's keys.
			deleted := 0
			cursor = ""
			for {
				rep := mustOK(t, call(t, ra, c, protocol.Request{Op: protocol.OpDeletePartitions, Cursor: cursor, Limit: 50, Partitions: parts, Bitmap: set.Bits}))
				require.LessOrEqual(t, rep.Count, 50)
				deleted += rep.Count
				if cursor = rep.Cursor; cursor == "" {
					break
				}
			}
			require.Equal(t, len(want), deleted)
			rep := mustOK(t, call(t, ra, c, protocol.Request{Op: protocol.OpGetAll}))
			require.Len(t, rep.Collection, 500-len(want))
			for _, e := range rep.Collection {
				require.False(t, want[e.Key], "%s was deleted", e.Key)
			}
			require.Empty(t, digest(ra, sharding.HashRange{}))

			mustErr(t, call(t, ra, c, protocol.Request{Op: protocol.OpDigest}), protocol.CodeBadRequest)
			mustErr(t, call(t, ra, c, protocol.Request{Op: protocol.OpDeletePartitions, Partitions: parts, Bitmap: set.Bits, Cursor: "x"}), protocol.CodeBadRequest)
			big := sharding.NewPartitionSet(MaxDigestPartitions + 1)
			for p := range big.N {
				big.Add(p)
			}
			mustErr(t, call(t, ra, c, protocol.Request{Op: protocol.OpDigest, Partitions: big.N, Bitmap: big.Bits}), protocol.CodeTooLarge)
		})
	}
}

// TestPutIfAbsent checks "if_absent" on both endpoints: a present key
// keeps its value, an absent one is written.
func TestPutIfAbsent(t *testing.T) {
	for _, c := range codecs {
		t.Run(c.String(), func(t *testing.T) {
			n := startNode(t, Config{})
			req := socket(t, zmq.REQ, n.RequestEndpoint())
			push := socket(t, zmq.PUSH, n.IngestEndpoint())
			mustOK(t, call(t, req, c, protocol.Request{Op: protocol.OpPut, Key: "a", Value: val(t, c, "newer")}))
			mustOK(t, call(t, req, c, protocol.Request{Op: protocol.OpPut, Key: "a", Value: val(t, c, "copy"), IfAbsent: true}))
			mustOK(t, call(t, req, c, protocol.Request{Op: protocol.OpPut, Key: "b", Value: val(t, c, "copy"), IfAbsent: true}))
			batch := protocol.Request{Op: protocol.OpBatch, Ops: []protocol.Request{
				{Op: protocol.OpPut, Key: "a", Value: val(t, c, "copy 2"), IfAbsent: true},
				{Op: protocol.OpPut, Key: "c", Value: val(t, c, "copy 2"), IfAbsent: true},
				{Op: protocol.OpSync, Token: "t-" + c.String()},
			}}
			_, err := push.SendBytes(encodeReq(t, c, batch), 0)
			require.NoError(t, err)
			mustOK(t, call(t, req, c, protocol.Request{Op: protocol.OpSync, Token: "t-" + c.String(), TimeoutMS: int(safety.Milliseconds())}))
			for k, want := range map[string]string{"a": "newer", "b": "copy", "c": "copy 2"} {
				rep := mustOK(t, call(t, req, c, protocol.Request{Op: protocol.OpGetOne, Key: k}))
				require.Equal(t, val(t, c, want), rep.Value, k)
			}
		})
	}
}
