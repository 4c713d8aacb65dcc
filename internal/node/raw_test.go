package node

import (
	"path"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/internal/store"
	"github.com/zshard/zshard/internal/store/durable"
	"github.com/zshard/zshard/sharding"
)

// rawValues are stored values a conversion would change or refuse: bytes
// and codec must survive a raw PUT and come back from a raw SCAN as they
// were.
var rawValues = map[string]store.Value{
	"bin":     {Codec: uint8(protocol.Msgpack), Data: []byte{0xc4, 0x02, 0xff, 0x00}},        // no JSON form
	"intkeys": {Codec: uint8(protocol.Msgpack), Data: []byte{0x81, 0x01, 0xa1, 'x'}},         // no JSON form
	"wide":    {Codec: uint8(protocol.Msgpack), Data: []byte{0xcd, 0x00, 0x01}},              // 1 in a uint16
	"f32":     {Codec: uint8(protocol.Msgpack), Data: []byte{0xca, 0x3f, 0xc0, 0x00, 0x00}},  // 1.5 as float32
	"huge":    {Codec: uint8(protocol.JSON), Data: []byte(`123456789012345678901234567890`)}, // no msgpack form
	"spaced":  {Codec: uint8(protocol.JSON), Data: []byte(`{"b": 1,  "a": [2]}`)},
}

// TestRawValues: a PUT with "raw_value" stores exactly its bytes with its
// "value_codec", on both endpoints, alone, if_absent and in BATCHes (whose
// runs of PUTs are one commit on a durable store), whatever the codec of
// the request; a raw SCAN and a raw DIGEST read them as stored, and a read
// in the value's own codec returns the same bytes.
func TestRawValues(t *testing.T) {
	for _, durableStore := range []bool{false, true} {
		for _, c := range codecs {
			name := c.String()
			if durableStore {
				name += "/durable"
			}
			t.Run(name, func(t *testing.T) {
				cfg := Config{}
				if durableStore {
					st, err := durable.Open(t.TempDir(), durable.Options{})
					require.NoError(t, err)
					t.Cleanup(func() { require.NoError(t, st.Close()) })
					cfg.Store = st
				}
				n, req, push := startWithClients(t, cfg)
				require.Equal(t, []string{protocol.FeatureRaw, protocol.FeatureVersions}, mustOK(t, call(t, req, c, protocol.Request{Op: protocol.OpPing})).Features)

				var batch, ingest []protocol.Request
				for k, v := range rawValues {
					put := func(prefix string, ifAbsent bool) protocol.Request {
						return protocol.Request{Op: protocol.OpPut, Key: prefix + k, Value: v.Data, ValueCodec: protocol.Codec(v.Codec), IfAbsent: ifAbsent}
					}
					mustOK(t, call(t, req, c, put("one/", false)))
					mustOK(t, call(t, req, c, put("absent/", true)))
					batch = append(batch, put("batch/", false))
					ingest = append(ingest, put("ingest/", false), put("ingest-absent/", true))
				}
				for _, res := range mustOK(t, call(t, req, c, protocol.Request{Op: protocol.OpBatch, Ops: batch})).Results {
					mustOK(t, res)
				}
				_, err := push.SendBytes(encodeReq(t, c, protocol.Request{Op: protocol.OpBatch, Ops: ingest}), 0)
				require.NoError(t, err)
				syncIngest(t, push, req, "raw-"+name)
				// if_absent keeps a value that is there.
				mustOK(t, call(t, req, c, protocol.Request{Op: protocol.OpPut, Key: "absent/bin", Value: []byte{0x01}, ValueCodec: protocol.Msgpack, IfAbsent: true}))

				prefixes := []string{"one/", "absent/", "batch/", "ingest/", "ingest-absent/"}
				for _, p := range prefixes {
					for k, v := range rawValues {
						got, ok, err := n.store.Get(n.ctx, p+k)
						require.NoError(t, err)
						require.True(t, ok, p+k)
						require.False(t, got.Version.IsZero(), "%s: the node versions a write without version", p+k)
						got.Version = v.Version
						require.Equal(t, v, got, p+k)
						own := protocol.Codec(v.Codec)
						rep := mustOK(t, call(t, req, own, protocol.Request{Op: protocol.OpGetOne, Key: p + k}))
						require.Equal(t, v.Data, rep.Value, p+k)
					}
				}

				scan := mustOK(t, call(t, req, c, protocol.Request{Op: protocol.OpScan, Raw: true, Limit: 1000}))
				require.Len(t, scan.Collection, len(prefixes)*len(rawValues))
				set := sharding.NewPartitionSet(1)
				set.Add(0)
				var sum uint64
				for _, e := range scan.Collection {
					want := rawValues[path.Base(e.Key)]
					own := protocol.Codec(want.Codec)
					if own == c {
						require.Zero(t, e.Codec, "%s: a value stored in the request's codec travels as \"value\"", e.Key)
					} else {
						require.Equal(t, own, e.Codec, e.Key)
					}
					require.Equal(t, want.Data, e.Value, e.Key)
					sum += protocol.RawEntryHash(e.Key, own, e.Value)
				}
				dg := mustOK(t, call(t, req, c, protocol.Request{Op: protocol.OpDigest, Raw: true, Partitions: 1, Bitmap: set.Bits}))
				require.Equal(t, []protocol.Digest{{Partition: 0, Keys: uint64(len(scan.Collection)), Sum: sum}}, dg.Digests)
				// Without "raw", reads still convert, and refuse what has no form.
				mustErr(t, call(t, req, protocol.JSON, protocol.Request{Op: protocol.OpScan, Limit: 1000}), protocol.CodeUnconvertible)
			})
		}
	}
}

// TestRawValueRejected: a raw PUT whose value is malformed in its codec, or
// whose codec is unknown, is bad_request (in a BATCH, the whole message, as
// any malformed element), stores nothing, and the node keeps serving.
func TestRawValueRejected(t *testing.T) {
	n := startNode(t, Config{})
	req := reqSocket(t, n)
	for _, c := range codecs {
		for _, bad := range []protocol.Request{
			{Op: protocol.OpPut, Key: "k", Value: []byte{0xc4, 0x05, 0x01}, ValueCodec: protocol.Msgpack},
			{Op: protocol.OpPut, Key: "k", Value: []byte{0x01, 0x02}, ValueCodec: protocol.Msgpack},
			{Op: protocol.OpPut, Key: "k", Value: []byte(`{"a":`), ValueCodec: protocol.JSON, IfAbsent: true},
			{Op: protocol.OpPut, Key: "k", Value: []byte(` 1`), ValueCodec: protocol.JSON},
		} {
			mustErr(t, call(t, req, c, bad), protocol.CodeBadRequest)
			mustErr(t, call(t, req, c, protocol.Request{Op: protocol.OpBatch, Ops: []protocol.Request{bad}}), protocol.CodeBadRequest)
			mustOK(t, call(t, req, c, protocol.Request{Op: protocol.OpPing}))
		}
		mustErr(t, call(t, req, c, protocol.Request{Op: protocol.OpGetOne, Key: "k"}), protocol.CodeNotFound)
	}
	rep := rawCall(t, req, `{"op":"PUT","key":"k","raw_value":"MQ==","value_codec":"yaml"}`)
	r, _, err := protocol.DecodeReply(rep)
	require.NoError(t, err)
	mustErr(t, r, protocol.CodeBadRequest)
	mustOK(t, call(t, req, protocol.JSON, protocol.Request{Op: protocol.OpPut, Key: "k", Value: []byte("1"), ValueCodec: protocol.JSON}))
	require.Equal(t, "1", string(mustOK(t, call(t, req, protocol.JSON, protocol.Request{Op: protocol.OpGetOne, Key: "k"})).Value))
}
