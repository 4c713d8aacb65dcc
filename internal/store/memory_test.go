package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/store"
	"github.com/zshard/zshard/internal/store/storetest"
	"github.com/zshard/zshard/sharding"
)

var ctx = context.Background()

type refEntry struct {
	h   uint64
	k   string
	val store.Value
}

func sortedRef(ref map[string]store.Value, r sharding.HashRange) []refEntry {
	var out []refEntry
	for k, v := range ref {
		if h := sharding.KeyHash(k); r.Contains(h) {
			out = append(out, refEntry{h, k, v})
		}
	}
	slices.SortFunc(out, func(a, b refEntry) int {
		if store.Less(a.h, a.k, b.h, b.k) {
			return -1
		}
		return 1
	})
	return out
}

func scanAll(t *testing.T, s store.Store, r sharding.HashRange, limit int) []store.Entry {
	t.Helper()
	return storetest.CollectPages(t, limit, func(c store.Cursor) (store.Page, error) { return s.Scan(ctx, c, r, limit) })
}

// TestMemoryAgainstReference drives random operations against the store
// and a plain map, then compares every kind of scan with the sorted map.
func TestMemoryAgainstReference(t *testing.T) {
	for _, stripes := range []int{1, 3, 16, store.DefaultStripes} {
		t.Run(fmt.Sprintf("stripes=%d", stripes), func(t *testing.T) {
			s := store.NewMemory(store.MemoryOptions{Stripes: stripes})
			ref := map[string]store.Value{}
			rng := rand.New(rand.NewPCG(1, uint64(stripes)))
			for range 5000 {
				k := "k" + strconv.Itoa(rng.IntN(2000))
				switch rng.IntN(4) {
				case 0, 1:
					v := store.Value{Codec: uint8(rng.IntN(3)), Data: []byte(strconv.Itoa(rng.Int()))}
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
			require.Equal(t, store.Stats{Keys: int64(len(ref)), Bytes: bytes}, s.Stats())

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
	s := store.NewMemory(store.MemoryOptions{})
	data := []byte{0, 1, 2, 0xff, '"'}
	require.NoError(t, s.Put(ctx, "k", store.Value{Codec: 2, Data: data}))
	data[0] = 9 // the store copied the input
	v, ok, err := s.Get(ctx, "k")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, store.Value{Codec: 2, Data: []byte{0, 1, 2, 0xff, '"'}}, v)
	// Returned data stays valid after overwrite and delete.
	require.NoError(t, s.Put(ctx, "k", store.Value{Codec: 1, Data: []byte("new")}))
	_, err = s.Delete(ctx, "k")
	require.NoError(t, err)
	require.Equal(t, []byte{0, 1, 2, 0xff, '"'}, v.Data)
	// Empty values are values.
	require.NoError(t, s.Put(ctx, "e", store.Value{Codec: 1}))
	v, ok, _ = s.Get(ctx, "e")
	require.True(t, ok)
	require.Empty(t, v.Data)
	require.ErrorIs(t, s.Put(ctx, "", store.Value{}), store.ErrEmptyKey)
}

func TestCursorParse(t *testing.T) {
	for _, c := range []store.Cursor{{}, {Hash: 0, Key: "", Started: true}, {Hash: ^uint64(0), Key: "x y\x00", Started: true}} {
		got, err := store.ParseCursor(c.String())
		require.NoError(t, err)
		require.Equal(t, c, got)
	}
	for _, bad := range []string{"x", "0123456789abcdeg", "0123456789ABCDEFk", "0123"} {
		_, err := store.ParseCursor(bad)
		require.ErrorIs(t, err, store.ErrBadCursor, bad)
	}
}

// TestMemoryScanWhileWriting checks the scan guarantee under concurrent
// writes: every key present for the whole scan is returned exactly once.
func TestMemoryScanWhileWriting(t *testing.T) {
	s := store.NewMemory(store.MemoryOptions{Stripes: 64})
	const stable = 5000
	for i := range stable {
		require.NoError(t, s.Put(ctx, "stable-"+strconv.Itoa(i), store.Value{Data: []byte("v")}))
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
					_ = s.Put(ctx, k, store.Value{Data: []byte("x")})
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
	s := store.NewMemory(store.MemoryOptions{})
	require.NoError(t, s.Close())
	require.NoError(t, s.Close())
	require.ErrorIs(t, s.Put(ctx, "k", store.Value{}), store.ErrClosed)
	_, _, err := s.Get(ctx, "k")
	require.ErrorIs(t, err, store.ErrClosed)
	_, err = s.Delete(ctx, "k")
	require.ErrorIs(t, err, store.ErrClosed)
	_, err = s.Scan(ctx, store.Cursor{}, sharding.HashRange{}, 1)
	require.ErrorIs(t, err, store.ErrClosed)
}

func TestMemoryPutIfAbsent(t *testing.T) {
	s := store.NewMemory(store.MemoryOptions{})
	storetest.PutIfAbsent(t, s)
	require.NoError(t, s.Close())
	_, err := s.PutIfAbsent(ctx, "x", store.Value{})
	require.ErrorIs(t, err, store.ErrClosed)
}

// TestMemoryVersions runs the conformance tests of versions and tombstones;
// one stripe makes the purges and deletes shift long probe runs.
func TestMemoryVersions(t *testing.T) {
	for _, stripes := range []int{1, store.DefaultStripes} {
		t.Run(fmt.Sprintf("stripes=%d", stripes), func(t *testing.T) {
			storetest.Versions(t, func(*testing.T) store.Store {
				return store.NewMemory(store.MemoryOptions{Stripes: stripes})
			})
		})
	}
}

func TestMemoryVersionsClosed(t *testing.T) {
	s := store.NewMemory(store.MemoryOptions{})
	require.NoError(t, s.Close())
	_, err := s.Apply(ctx, "k", store.Value{})
	require.ErrorIs(t, err, store.ErrClosed)
	require.ErrorIs(t, s.ApplyMany(ctx, []store.Entry{{Key: "k"}}, nil), store.ErrClosed)
	_, _, err = s.Lookup(ctx, "k")
	require.ErrorIs(t, err, store.ErrClosed)
	_, err = s.ScanRecords(ctx, store.Cursor{}, sharding.HashRange{}, nil, 1)
	require.ErrorIs(t, err, store.ErrClosed)
	_, err = s.PurgeTombstones(ctx, 1)
	require.ErrorIs(t, err, store.ErrClosed)
}
