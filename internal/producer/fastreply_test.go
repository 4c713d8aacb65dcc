package producer

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/protocol"
)

// normal keeps the fields fastMsgpackReply decodes, for comparison.
func normal(r protocol.Reply) protocol.Reply {
	out := protocol.Reply{Status: r.Status, ID: r.ID, Key: r.Key, Value: r.Value, Deleted: r.Deleted, Token: r.Token}
	if len(out.ID) == 0 {
		out.ID = nil
	}
	if len(out.Value) == 0 {
		out.Value = nil
	}
	if r.Err != nil {
		out.Err = &protocol.Error{Code: r.Err.Code, Message: r.Err.Message}
	}
	for _, x := range r.Results {
		out.Results = append(out.Results, normal(x))
	}
	return out
}

func sampleReplies(t testing.TB) [][]byte {
	c := protocol.Msgpack
	val := mustEncode(t, c, map[string]any{"a": []any{1, -2, 3.5, "x", nil, true}, "b": map[string]any{}})
	id := appendID(nil, c, 77)
	reps := []protocol.Reply{
		{Op: protocol.OpGetOne, Status: protocol.StatusOK, ID: id, Key: "k", Value: val},
		{Op: protocol.OpGetOne, Status: protocol.StatusOK, Key: "long-" + string(make([]byte, 300)), Value: mustEncode(t, c, string(make([]byte, 70000)))},
		{Op: protocol.OpPut, Status: protocol.StatusOK, ID: id},
		{Op: protocol.OpDelete, Status: protocol.StatusOK, Deleted: true},
		{Op: protocol.OpDelete, Status: protocol.StatusOK},
		{Op: protocol.OpSync, Status: protocol.StatusOK, Token: "t-1"},
		protocol.ErrorReply(protocol.Errorf(protocol.CodeNotFound, "key %q not found", "k")),
		{Op: protocol.OpBatch, Status: protocol.StatusOK, ID: id, Results: []protocol.Reply{
			{Op: protocol.OpGetOne, Status: protocol.StatusOK, Key: "a", Value: val},
			protocol.ErrorReply(protocol.Errorf(protocol.CodeNotFound, "nope")),
			{Op: protocol.OpPut, Status: protocol.StatusOK},
			{Op: protocol.OpDelete, Status: protocol.StatusOK, Deleted: true},
		}},
	}
	var out [][]byte
	for _, r := range reps {
		b, err := protocol.AppendReply(nil, c, &r)
		require.NoError(t, err)
		out = append(out, b)
	}
	return out
}

func TestFastMsgpackReply(t *testing.T) {
	for i, b := range sampleReplies(t) {
		want, _, err := protocol.DecodeReply(b)
		require.NoError(t, err)
		got, ok := fastMsgpackReply(b)
		require.True(t, ok, "sample %d", i)
		require.Equal(t, normal(want), normal(got), "sample %d", i)
		// Every truncation is refused, never a panic.
		for n := range len(b) {
			_, ok := fastMsgpackReply(b[:n])
			require.False(t, ok, "sample %d cut at %d", i, n)
		}
	}
	// Replies with other fields go to the general decoder.
	st := protocol.Reply{Op: protocol.OpStats, Status: protocol.StatusOK, Stats: &protocol.Stats{Node: "n"}}
	b, err := protocol.AppendReply(nil, protocol.Msgpack, &st)
	require.NoError(t, err)
	_, ok := fastMsgpackReply(b)
	require.False(t, ok)
	rep, err := decodeReply(b)
	require.NoError(t, err)
	require.Equal(t, "n", rep.Stats.Node)
}

// FuzzFastMsgpackReply: whatever the input, no panic, and an accepted
// message decodes as the general decoder decodes it.
func FuzzFastMsgpackReply(f *testing.F) {
	for _, b := range sampleReplies(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := fastMsgpackReply(b)
		if !ok {
			return
		}
		want, c, err := protocol.DecodeReply(b)
		if err != nil || c != protocol.Msgpack {
			return // the fast path is more lenient about unknown status values etc.
		}
		require.Equal(t, normal(want), normal(got))
	})
}
