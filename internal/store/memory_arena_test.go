package store

import (
	"context"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// These tests read the arena of a Memory store, so they live inside the
// package; the behaviour tests are in memory_test.go.

var ctx = context.Background()

// TestMemoryCompaction overwrites and deletes keys many times over and
// checks that the arena stays within its bound (garbage at most the larger
// of the live bytes and compactMin, plus the unused tail of the last
// chunk) while every value stays right.
func TestMemoryCompaction(t *testing.T) {
	s := NewMemory(MemoryOptions{Stripes: 2})
	ref := map[string]string{}
	rng := rand.New(rand.NewPCG(3, 4))
	for round := range 200 {
		for i := range 300 {
			k := "key-" + strconv.Itoa(i)
			if rng.IntN(5) == 0 {
				_, err := s.Delete(ctx, k)
				require.NoError(t, err)
				delete(ref, k)
				continue
			}
			v := strconv.Itoa(round) + strings.Repeat("v", rng.IntN(200))
			require.NoError(t, s.Put(ctx, k, Value{Codec: 1, Data: []byte(v)}))
			ref[k] = v
		}
		for i := range s.stripes {
			st := &s.stripes[i]
			require.LessOrEqual(t, st.total-st.live, max(st.live, compactMin)+300, "garbage bounded")
			allocated := 0
			for _, c := range st.chunks {
				allocated += cap(c)
			}
			require.LessOrEqual(t, allocated, st.total+maxChunk)
		}
	}
	for k, v := range ref {
		got, ok, err := s.Get(ctx, k)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, v, string(got.Data))
	}
	require.EqualValues(t, len(ref), s.Stats().Keys)
}

// TestMemoryLargeValue: a record bigger than a chunk gets its own chunk.
func TestMemoryLargeValue(t *testing.T) {
	s := NewMemory(MemoryOptions{})
	big := []byte(strings.Repeat("x", 3*maxChunk))
	require.NoError(t, s.Put(ctx, "big", Value{Codec: 2, Data: big}))
	require.NoError(t, s.Put(ctx, "small", Value{Codec: 2, Data: []byte("s")}))
	v, ok, err := s.Get(ctx, "big")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, big, v.Data)
}
