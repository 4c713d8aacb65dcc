package store

import (
	"context"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/hlc"
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

// TestMemoryCompactionKeepsRecords overwrites versioned values and
// tombstones many times over, so that the stripes compact again and
// again, and checks that every record keeps its version and tombstone
// flag, and the counters stay exact.
func TestMemoryCompactionKeepsRecords(t *testing.T) {
	s := NewMemory(MemoryOptions{Stripes: 2})
	ref := map[string]Value{}
	rng := rand.New(rand.NewPCG(5, 6))
	compactions := 0
	for round := range 100 {
		for i := range 300 {
			k := "key-" + strconv.Itoa(i)
			v := Value{Codec: 1, Data: []byte(strings.Repeat("v", rng.IntN(200))), Version: hlc.Version{Time: uint64(round+1) << 16, Writer: uint64(i)}}
			switch rng.IntN(4) {
			case 0:
				v = Value{Tombstone: true, Version: v.Version}
			case 1:
				v.Version = hlc.Version{Time: uint64(round) << 16} // older: refused
			}
			applied, err := s.Apply(ctx, k, v)
			require.NoError(t, err)
			old, ok := ref[k]
			require.Equal(t, !ok || v.Version.Compare(old.Version) >= 0, applied)
			if applied {
				ref[k] = v
			}
		}
		for i := range s.stripes {
			st := &s.stripes[i]
			before := st.total
			st.mu.Lock()
			st.maybeCompact(round%10 == 0)
			st.mu.Unlock()
			if st.total < before {
				compactions++
			}
		}
	}
	require.Positive(t, compactions)
	var want Stats
	for k, v := range ref {
		got, ok, err := s.Lookup(ctx, k)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, v.Version, got.Version, k)
		require.Equal(t, v.Tombstone, got.Tombstone, k)
		require.Equal(t, string(v.Data), string(got.Data), k)
		if v.Tombstone {
			want.Tombstones++
		} else {
			want.Keys++
			want.Bytes += int64(len(k) + len(v.Data))
		}
	}
	require.Equal(t, want, s.Stats())
}
