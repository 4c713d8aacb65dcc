package protocol

import (
	"testing"

	"github.com/zshard/zshard/internal/hlc"

	"github.com/stretchr/testify/require"
)

// fastFields keeps the fields fastMsgpackReply decodes, for comparison.
// An empty raw value and the msgpack nil (c0) compare equal: the msgpack
// library decodes a raw nil as empty, where fastMsgpackReply keeps its
// byte as the JSON decoders keep null.
func fastFields(r Reply) Reply {
	out := Reply{Status: r.Status, ID: r.ID, Key: r.Key, Value: r.Value, Version: r.Version, Deleted: r.Deleted,
		Superseded: r.Superseded, Token: r.Token, Cursor: r.Cursor, Count: r.Count, Collection: r.Collection, Digests: r.Digests}
	if len(out.Collection) == 0 {
		out.Collection = nil
	}
	if len(out.ID) == 0 || string(out.ID) == "\xc0" {
		out.ID = nil
	}
	if len(out.Value) == 0 || string(out.Value) == "\xc0" {
		out.Value = nil
	}
	if r.Err != nil {
		out.Err = &Error{Code: r.Err.Code, Message: r.Err.Message}
	}
	for _, x := range r.Results {
		out.Results = append(out.Results, fastFields(x))
	}
	return out
}

// sampleMsgpackReplies are replies of the request path, in msgpack.
func sampleMsgpackReplies(t testing.TB) [][]byte {
	c := Msgpack
	val := enc(t, c, map[string]any{"a": []any{1, -2, 3.5, "x", nil, true}, "b": map[string]any{}})
	id := enc(t, c, 77)
	reps := []Reply{
		{Op: OpGetOne, Status: StatusOK, ID: id, Key: "k", Value: val},
		{Op: OpGetOne, Status: StatusOK, Key: "long-" + string(make([]byte, 300)), Value: enc(t, c, string(make([]byte, 70000)))},
		{Op: OpPut, Status: StatusOK, ID: id},
		{Op: OpDelete, Status: StatusOK, Deleted: true},
		{Op: OpDelete, Status: StatusOK},
		{Op: OpSync, Status: StatusOK, Token: "t-1"},
		ErrorReply(Errorf(CodeNotFound, "key %q not found", "k")),
		{Op: OpBatch, Status: StatusOK, ID: id, Results: []Reply{
			{Op: OpGetOne, Status: StatusOK, Key: "a", Value: val},
			ErrorReply(Errorf(CodeNotFound, "nope")),
			{Op: OpPut, Status: StatusOK},
			{Op: OpDelete, Status: StatusOK, Deleted: true},
		}},
	}
	reps = append(reps, versionedReplies(c, val)...)
	v1 := hlc.Version{Time: 1 << 40, Writer: 7}
	reps = append(reps,
		Reply{Op: OpScan, Status: StatusOK, Cursor: "00000000000000ffk", Collection: []Entry{
			{Key: "a", Value: val}, {Key: "b", Value: enc(t, c, 1), Version: v1}, {Key: "c", Deleted: true, Version: v1},
			{Key: "d", Value: []byte(`{"j": 1}`), Codec: JSON}, {Key: "e", Value: []byte{0xc4, 1, 0}, Codec: Msgpack, Version: v1},
		}},
		Reply{Op: OpScan, Status: StatusOK, Collection: []Entry{}},
		Reply{Op: OpGetAll, Status: StatusOK, Collection: []Entry{{Key: "x", Value: val}}},
		Reply{Op: OpDeletePartitions, Status: StatusOK, Count: 12345},
		Reply{Op: OpDigest, Status: StatusOK, Digests: []Digest{{Partition: 3, Keys: 2, Sum: 1 << 63}, {Partition: 70000, Keys: 1, Sum: 9}}},
	)
	var out [][]byte
	for _, r := range reps {
		b, err := AppendReply(nil, c, &r)
		require.NoError(t, err)
		out = append(out, b)
	}
	return out
}

func TestFastMsgpackReply(t *testing.T) {
	for i, b := range sampleMsgpackReplies(t) {
		want, err := decodeReply(b, Msgpack)
		require.NoError(t, err)
		got, ok := fastMsgpackReply(b)
		require.True(t, ok, "sample %d", i)
		require.Equal(t, fastFields(want), fastFields(got), "sample %d", i)
		// Every truncation is refused, never a panic.
		for n := range len(b) {
			_, ok := fastMsgpackReply(b[:n])
			require.False(t, ok, "sample %d cut at %d", i, n)
		}
	}
	// Replies with other fields go to the general decoder.
	st := Reply{Op: OpStats, Status: StatusOK, Stats: &Stats{Node: "n"}}
	b, err := AppendReply(nil, Msgpack, &st)
	require.NoError(t, err)
	_, ok := fastMsgpackReply(b)
	require.False(t, ok)
	rep, _, err := DecodeReply(b)
	require.NoError(t, err)
	require.Equal(t, "n", rep.Stats.Node)
}

// FuzzFastMsgpackReply: whatever the input, no panic, and an accepted
// message decodes as the general decoder decodes it.
func FuzzFastMsgpackReply(f *testing.F) {
	for _, b := range sampleMsgpackReplies(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want, ok := fastAndStd(t, b, Msgpack, fastMsgpackReply); ok {
			require.Equal(t, fastFields(want), fastFields(got))
		}
	})
}

// versionedReplies are replies of the request path with versions, in
// codec c, val a value in c.
func versionedReplies(c Codec, val []byte) []Reply {
	id := []byte("7")
	if c == Msgpack {
		id = []byte{7}
	}
	return []Reply{
		{Op: OpGetOne, Status: StatusOK, ID: id, Key: "k", Value: val, Version: testVersion},
		{Op: OpPut, Status: StatusOK, Superseded: true},
		{Op: OpDelete, Status: StatusOK, Superseded: true},
		tombstoneNotFound("k", testVersion),
		{Op: OpBatch, Status: StatusOK, Results: []Reply{
			{Op: OpPut, Status: StatusOK, Superseded: true},
			{Op: OpPut, Status: StatusOK},
			{Op: OpDelete, Status: StatusOK, Deleted: true, Superseded: true},
			{Op: OpGetOne, Status: StatusOK, Key: "a", Value: val, Version: testVersion.Add(1)},
			tombstoneNotFound("b", testVersion.Add(2)),
		}},
	}
}
