package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/sharding"
)

var ctx = context.Background()

type refEntry struct {
	h   uint64
	k   string
	val Value
}

func sortedRef(ref map[string]Value, r sharding.HashRange) []refEntry {
	var out []refEntry
	for k, v := range ref {
		if h := sharding.KeyHash(k); r.Contains(h) {
			out = append(out, refEntry{h, k, v})
		}
	}
	slices.SortFunc(out, func(a, b refEntry) int {
		if Less(a.h, a.k, b.h, b.k) {
			return -1
		}
		return 1
	})
	return out
}

func scanAll(t *testing.T, s Store, r sharding.HashRange, limit int) []Entry {
	t.Helper()
	var all []Entry
	var c Cursor
	for pages := 0; ; pages++ {
		require.Less(t, pages, 1_000_000)
		p, err := s.Scan(ctx, c, r, limit)
		require.NoError(t, err)
		if limit > 0 {
			require.LessOrEqual(t, len(p.Entries), limit)
		}
		all = append(all, p.Entries...)
		if p.Done {
			return all
		}
		require.NotEmpty(t, p.Entries, "a page that is not Done must advance")
		// The cursor survives the wire.
		c, err = ParseCursor(p.Next.String())
		require.NoError(t, err)
		require.Equal(t, p.Next, c)
	}
}

// TestMemoryAgainstReference drives random operations against the store
// and a plain map, then compares every kind of scan with the sorted map.
func TestMemoryAgainstReference(t *testing.T) {
	for _, stripes := range []int{1, 3, 16, DefaultStripes} {
		t.Run(fmt.Sprintf("stripes=%d", stripes), func(t *testing.T) {
			s := NewMemory(MemoryOptions{Stripes: stripes})
			ref := map[string]Value{}
			rng := rand.New(rand.NewPCG(1, uint64(stripes)))
			for range 5000 {
				k := "k" + strconv.Itoa(rng.IntN(2000))
				switch rng.IntN(4) {
				case 0, 1:
					v := Value{Codec: uint8(rng.IntN(3)), Data: []byte(strconv.Itoa(rng.Int()))}
					require.NoError(t, s.Put(ctx, k, v))
					ref[k] = v
				case 2:
					existed, err := s.Delete(ctx, k)
					require.NoError(t, err)
					_, want := ref[k]
					require.Equal(t, want, existed)
					delete(ref, k)
				case 3:
					v, ok, err := s.Get(ctx, k)
					require.NoError(t, err)
					want, wantOK := ref[k]
					require.Equal(t, wantOK, ok)
					if ok {
						require.Equal(t, want, v)
					}
				}
			}
			var bytes int64
			for k, v := range ref {
				bytes += int64(len(k) + len(v.Data))
			}
			require.Equal(t, Stats{Keys: int64(len(ref)), Bytes: bytes}, s.Stats())

			for _, r := range []sharding.HashRange{{}, {From: 1 << 62}, {To: 1 << 63}, {From: 1 << 60, To: 3 << 61}, {From: 12345, To: 12346}} {
				want := sortedRef(ref, r)
				for _, limit := range []int{0, 1, 7, 100, 10000} {
					got := scanAll(t, s, r, limit)
					require.Len(t, got, len(want), "range %v limit %d", r, limit)
					for i, e := range got {
						require.Equal(t, want[i].k, e.Key)
						require.Equal(t, want[i].h, e.Hash)
						require.Equal(t, want[i].val, e.Value)
					}
				}
			}
		})
	}
}

func TestMemoryValuesExact(t *testing.T) {
	s := NewMemory(MemoryOptions{})
	data := []byte{0, 1, 2, 0xff, '"'}
	require.NoError(t, s.Put(ctx, "k", Value{Codec: 2, Data: data}))
	data[0] = 9 // the store copied the input
	v, ok, err := s.Get(ctx, "k")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, Value{Codec: 2, Data: []byte{0, 1, 2, 0xff, '"'}}, v)
	// Returned data stays valid after overwrite and delete.
	require.NoError(t, s.Put(ctx, "k", Value{Codec: 1, Data: []byte("new")}))
	_, err = s.Delete(ctx, "k")
	require.NoError(t, err)
	require.Equal(t, []byte{0, 1, 2, 0xff, '"'}, v.Data)
	// Empty values are values.
	require.NoError(t, s.Put(ctx, "e", Value{Codec: 1}))
	v, ok, _ = s.Get(ctx, "e")
	require.True(t, ok)
	require.Empty(t, v.Data)
	require.ErrorIs(t, s.Put(ctx, "", Value{}), ErrEmptyKey)
}

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

func TestCursorParse(t *testing.T) {
	for _, c := range []Cursor{{}, {Hash: 0, Key: "", Started: true}, {Hash: ^uint64(0), Key: "x y\x00", Started: true}} {
		got, err := ParseCursor(c.String())
		require.NoError(t, err)
		require.Equal(t, c, got)
	}
	for _, bad := range []string{"x", "0123456789abcdeg", "0123456789ABCDEFk", "0123"} {
		_, err := ParseCursor(bad)
		require.ErrorIs(t, err, ErrBadCursor, bad)
	}
}

// TestMemoryScanWhileWriting checks the scan guarantee under concurrent
// writes: every key present for the whole scan is returned exactly once.
func TestMemoryScanWhileWriting(t *testing.T) {
	s := NewMemory(MemoryOptions{Stripes: 64})
	const stable = 5000
	for i := range stable {
		require.NoError(t, s.Put(ctx, "stable-"+strconv.Itoa(i), Value{Data: []byte("v")}))
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 2 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := fmt.Sprintf("churn-%d-%d", w, i%3000)
				if i%2 == 0 {
					_ = s.Put(ctx, k, Value{Data: []byte("x")})
				} else {
					_, _ = s.Delete(ctx, k)
				}
			}
		})
	}
	seen := map[string]int{}
	for _, e := range scanAll(t, s, sharding.HashRange{}, 37) {
		seen[e.Key]++
	}
	close(stop)
	wg.Wait()
	for k, n := range seen {
		require.Equal(t, 1, n, k)
	}
	for i := range stable {
		require.Equal(t, 1, seen["stable-"+strconv.Itoa(i)])
	}
}

func TestMemoryClosed(t *testing.T) {
	s := NewMemory(MemoryOptions{})
	require.NoError(t, s.Close())
	require.NoError(t, s.Close())
	require.ErrorIs(t, s.Put(ctx, "k", Value{}), ErrClosed)
	_, _, err := s.Get(ctx, "k")
	require.ErrorIs(t, err, ErrClosed)
	_, err = s.Delete(ctx, "k")
	require.ErrorIs(t, err, ErrClosed)
	_, err = s.Scan(ctx, Cursor{}, sharding.HashRange{}, 1)
	require.ErrorIs(t, err, ErrClosed)
}

func TestMemoryPutIfAbsent(t *testing.T) {
	s := NewMemory(MemoryOptions{})
	ok, err := s.PutIfAbsent(ctx, "k", Value{Codec: 1, Data: []byte("first")})
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = s.PutIfAbsent(ctx, "k", Value{Codec: 2, Data: []byte("second")})
	require.NoError(t, err)
	require.False(t, ok, "present: not stored")
	v, _, _ := s.Get(ctx, "k")
	require.Equal(t, Value{Codec: 1, Data: []byte("first")}, v)
	require.Equal(t, Stats{Keys: 1, Bytes: 6}, s.Stats())
	_, _ = s.Delete(ctx, "k")
	ok, err = s.PutIfAbsent(ctx, "k", Value{Codec: 1, Data: []byte("third")})
	require.NoError(t, err)
	require.True(t, ok, "deleted: stored again")
	require.Equal(t, Stats{Keys: 1, Bytes: 6}, s.Stats())
	_, err = s.PutIfAbsent(ctx, "", Value{})
	require.ErrorIs(t, err, ErrEmptyKey)
	require.NoError(t, s.Close())
	_, err = s.PutIfAbsent(ctx, "x", Value{})
	require.ErrorIs(t, err, ErrClosed)
}
