package protocol

import (
	"bytes"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestFastJSONBatchReply: the BATCH replies a pipelined client reads are
// decoded by the hand-written JSON decoder, as the standard one decodes
// them, and an error inside a result does not alias the message.
func TestFastJSONBatchReply(t *testing.T) {
	val := enc(t, JSON, map[string]any{"a": []any{1, -2, 3.5, "x", nil, true}})
	batch := Reply{Op: OpBatch, Status: StatusOK, ID: enc(t, JSON, 77), Results: []Reply{
		{Op: OpGetOne, Status: StatusOK, Key: "a", Value: val},
		ErrorReply(Errorf(CodeNotFound, "key %q not found", "b")),
		{Op: OpPut, Status: StatusOK},
		{Op: OpDelete, Status: StatusOK, Deleted: true},
	}}
	reps := append([]Reply{batch}, versionedReplies(JSON, val)...)
	for i, r := range reps {
		b, err := AppendReply(nil, JSON, &r)
		require.NoError(t, err)
		got, ok := fastJSONReply(b)
		require.True(t, ok, "sample %d: %s", i, b)
		want, err := decodeReply(b, JSON)
		require.NoError(t, err)
		require.True(t, repliesEqual(got, want), "sample %d: %s\nfast %#v\n std %#v", i, b, got, want)
		for n := range len(b) {
			_, ok := fastJSONReply(b[:n])
			require.False(t, ok, "sample %d cut at %d", i, n)
		}
	}

	b, err := AppendReply(nil, JSON, &batch)
	require.NoError(t, err)
	got, ok := fastJSONReply(b)
	require.True(t, ok)
	require.Len(t, got.Results, 4)
	copy(b, bytes.Repeat([]byte{'#'}, len(b))) // the message is reused
	require.Equal(t, Error{Code: CodeNotFound, Message: `key "b" not found`}, *got.Results[1].Err)
	require.Equal(t, StatusOK, got.Results[0].Status)
}

// TestJSONBatchOneAllocation: a JSON BATCH of PUTs decodes with one
// allocation, its slice of requests at its size, as a msgpack one does
// (growing the slice cost a BATCH of 512 nine copies of its requests).
func TestJSONBatchOneAllocation(t *testing.T) {
	for _, n := range []int{1, 128, 512} {
		bb := NewBatchBuilder(JSON, nil)
		for i := range n {
			bb.Put("key-"+strconv.Itoa(i), []byte(`{"op":"PUT","n":1}`))
		}
		msg := bb.Bytes()
		var got Request
		allocs := testing.AllocsPerRun(20, func() {
			var err error
			got, _, err = DecodeRequest(msg, Limits{})
			require.NoError(t, err)
		})
		require.Len(t, got.Ops, n)
		require.LessOrEqual(t, cap(got.Ops), n+n/8+1, "elements alike: the guess from the first one is close")
		require.Equal(t, 1.0, allocs, "BATCH of %d", n)
	}
}
