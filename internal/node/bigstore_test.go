package node

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/internal/store"
)

// TestMillionKeys: a node holding 1M keys answers SCAN pages (the whole
// store, each key exactly once) and a single GET_ALL.
func TestMillionKeys(t *testing.T) {
	if testing.Short() {
		t.Skip("1M keys: skipped under -short")
	}
	if raceEnabled {
		t.Skip("1M keys: skipped under -race (run it without -race)")
	}
	const keys = 1_000_000
	n := startNode(t, Config{})
	value := []byte(`"` + string(make100()) + `"`)
	ctx := context.Background()
	for i := range keys {
		require.NoError(t, n.Store().Put(ctx, fmt.Sprintf("key-%07d", i), store.Value{Codec: uint8(protocol.JSON), Data: value}))
	}
	req := reqSocket(t, n)

	seen := make(map[string]struct{}, keys)
	cursor, pages := "", 0
	for {
		rep := mustOK(t, call(t, req, protocol.Msgpack, protocol.Request{Op: protocol.OpScan, Cursor: cursor, Limit: 10000}))
		require.LessOrEqual(t, len(rep.Collection), 10000)
		for _, e := range rep.Collection {
			_, dup := seen[e.Key]
			require.False(t, dup, e.Key)
			seen[e.Key] = struct{}{}
		}
		pages++
		if rep.Cursor == "" {
			break
		}
		cursor = rep.Cursor
	}
	require.Len(t, seen, keys)
	require.GreaterOrEqual(t, pages, keys/10000)

	b := rawCall(t, req, `{"op":"GET_ALL"}`)
	rep, _, err := protocol.DecodeReply(b)
	require.NoError(t, err)
	mustOK(t, rep)
	require.Len(t, rep.Collection, keys)
	require.Equal(t, value, rep.Collection[0].Value)
}

func make100() []byte {
	b := make([]byte, 98)
	for i := range b {
		b[i] = 'a' + byte(i%26)
	}
	return b
}
