package storetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/hlc"
	"github.com/zshard/zshard/internal/store"
	"github.com/zshard/zshard/sharding"
)

// Ver returns the version of Unix millisecond ms and writer w.
func Ver(ms int64, w uint64) hlc.Version {
	return hlc.Version{Time: uint64(ms) << 16, Writer: w}
}

// Val returns a value of data s (codec 1) and version v.
func Val(s string, v hlc.Version) store.Value {
	return store.Value{Codec: 1, Data: []byte(s), Version: v}
}

// Tomb returns a tombstone of version v.
func Tomb(v hlc.Version) store.Value {
	return store.Value{Tombstone: true, Version: v}
}

// RequireValue checks that got is want: the same codec, data, version and
// tombstone flag (a nil and an empty Data are the same).
func RequireValue(t testing.TB, want, got store.Value, msgAndArgs ...any) {
	t.Helper()
	require.Equal(t, want.Tombstone, got.Tombstone, msgAndArgs...)
	require.Equal(t, want.Version, got.Version, msgAndArgs...)
	require.Equal(t, want.Codec, got.Codec, msgAndArgs...)
	require.Equal(t, string(want.Data), string(got.Data), msgAndArgs...)
}

// Versions runs the conformance tests of versions and tombstones: Apply,
// ApplyMany, Lookup, ScanRecords, PurgeTombstones, Stats and the older
// methods in the presence of tombstones. open returns a new, empty, open
// store for each subtest.
func Versions(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("Apply", func(t *testing.T) { testApply(t, open) })
	t.Run("ApplyMany", func(t *testing.T) { testApplyMany(t, open(t)) })
	t.Run("Lookup", func(t *testing.T) { testLookup(t, open(t)) })
	t.Run("ScanRecords", func(t *testing.T) { testScanRecords(t, open(t)) })
	t.Run("PurgeTombstones", func(t *testing.T) { testPurge(t, open(t)) })
	t.Run("Stats", func(t *testing.T) { testStats(t, open(t)) })
	t.Run("PutIfAbsent", func(t *testing.T) { testPutIfAbsentTombstone(t, open(t)) })
	t.Run("Put", func(t *testing.T) { testPutOverwrites(t, open(t)) })
	t.Run("Model", func(t *testing.T) {
		for seed := range uint64(3) {
			t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
				Model(t, open(t), rand.New(rand.NewPCG(seed, 11)), 3000)
			})
		}
	})
}

func testApply(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		stored  *store.Value // nil: no record
		write   store.Value
		applied bool
		want    store.Value // the record after the write
	}{
		{"no record, zero version", nil, Val("a", hlc.Version{}), true, Val("a", hlc.Version{})},
		{"no record, versioned", nil, Val("a", Ver(10, 1)), true, Val("a", Ver(10, 1))},
		{"no record, tombstone", nil, Tomb(Ver(10, 1)), true, Tomb(Ver(10, 1))},
		{"zero over zero", ptr(Val("old", hlc.Version{})), Val("new", hlc.Version{}), true, Val("new", hlc.Version{})},
		{"versioned over zero", ptr(Val("old", hlc.Version{})), Val("new", Ver(1, 1)), true, Val("new", Ver(1, 1))},
		{"zero under versioned", ptr(Val("old", Ver(1, 1))), Val("new", hlc.Version{}), false, Val("old", Ver(1, 1))},
		{"older", ptr(Val("old", Ver(10, 1))), Val("new", Ver(5, 1)), false, Val("old", Ver(10, 1))},
		{"equal re-applies", ptr(Val("old", Ver(10, 1))), Val("new", Ver(10, 1)), true, Val("new", Ver(10, 1))},
		{"newer", ptr(Val("old", Ver(10, 1))), Val("new", Ver(20, 1)), true, Val("new", Ver(20, 1))},
		{"same time, greater writer", ptr(Val("old", Ver(10, 1))), Val("new", Ver(10, 2)), true, Val("new", Ver(10, 2))},
		{"same time, smaller writer", ptr(Val("old", Ver(10, 2))), Val("new", Ver(10, 1)), false, Val("old", Ver(10, 2))},
		{"logical counter orders", ptr(Val("old", Ver(10, 1).Add(1))), Val("new", Ver(10, 9)), false, Val("old", Ver(10, 1).Add(1))},
		{"tombstone over value", ptr(Val("old", Ver(10, 1))), Tomb(Ver(20, 1)), true, Tomb(Ver(20, 1))},
		{"older tombstone under value", ptr(Val("old", Ver(10, 1))), Tomb(Ver(5, 1)), false, Val("old", Ver(10, 1))},
		{"value over tombstone", ptr(Tomb(Ver(20, 1))), Val("new", Ver(30, 1)), true, Val("new", Ver(30, 1))},
		{"older value under tombstone", ptr(Tomb(Ver(20, 1))), Val("new", Ver(10, 1)), false, Tomb(Ver(20, 1))},
		{"zero value under tombstone", ptr(Tomb(Ver(20, 1))), Val("new", hlc.Version{}), false, Tomb(Ver(20, 1))},
		{"equal tombstone re-applies", ptr(Tomb(Ver(20, 1))), Tomb(Ver(20, 1)), true, Tomb(Ver(20, 1))},
		{"tombstone drops data and codec", nil, store.Value{Tombstone: true, Codec: 2, Data: []byte("x"), Version: Ver(3, 1)}, true, Tomb(Ver(3, 1))},
		{"empty value", nil, store.Value{Codec: 2, Version: Ver(3, 1)}, true, store.Value{Codec: 2, Version: Ver(3, 1)}},
		{"codec with the high bit", nil, store.Value{Codec: 0x81, Data: []byte("x")}, true, store.Value{Codec: 0x81, Data: []byte("x")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			if tc.stored != nil {
				require.NoError(t, s.Put(ctx, "k", *tc.stored))
			}
			applied, err := s.Apply(ctx, "k", tc.write)
			require.NoError(t, err)
			require.Equal(t, tc.applied, applied)
			got, ok, err := s.Lookup(ctx, "k")
			require.NoError(t, err)
			require.True(t, ok)
			RequireValue(t, tc.want, got)
			got, ok, err = s.Get(ctx, "k")
			require.NoError(t, err)
			require.Equal(t, !tc.want.Tombstone, ok, "Get finds values, not tombstones")
			if ok {
				RequireValue(t, tc.want, got)
			}
			RequireStats(t, s, map[string]store.Value{"k": tc.want})
			_, err = s.Apply(ctx, "", tc.write)
			require.ErrorIs(t, err, store.ErrEmptyKey)
		})
	}
}

func ptr(v store.Value) *store.Value { return &v }

// RequireStats checks that the Stats of s are those of the records of ref.
func RequireStats(t testing.TB, s store.Store, ref map[string]store.Value) {
	t.Helper()
	var want store.Stats
	for k, v := range ref {
		if v.Tombstone {
			want.Tombstones++
			continue
		}
		want.Keys++
		want.Bytes += int64(len(k) + len(v.Data))
	}
	require.Equal(t, want, s.Stats())
}

func testApplyMany(t *testing.T, s store.Store) {
	ctx := context.Background()
	require.NoError(t, s.Put(ctx, "v10", Val("stored", Ver(10, 1))))
	require.NoError(t, s.Put(ctx, "t10", Tomb(Ver(10, 1))))
	entries := []store.Entry{
		{Key: "new", Value: Val("n", Ver(1, 1))},
		{Key: "v10", Value: Val("older", Ver(5, 1))},
		{Key: "t10", Value: Val("older", Ver(9, 1))},
		{Key: "t10", Value: Val("newer", Ver(11, 1))}, // applies over the tombstone
		{Key: "rep", Value: Val("first", Ver(50, 1))},
		{Key: "rep", Value: Val("second, older", Ver(40, 1))}, // loses to the first
		{Key: "rep", Value: Tomb(Ver(60, 1))},                 // wins over the first
		{Key: "rep", Value: Val("equal", Ver(60, 1))},         // re-applies at an equal version
		{Key: "newtomb", Value: Tomb(Ver(7, 1))},
		{Key: "zero", Value: Val("z1", hlc.Version{})},
		{Key: "zero", Value: Val("z2", hlc.Version{})}, // zero over zero: as Put
	}
	applied := make([]bool, len(entries))
	for i := range applied {
		applied[i] = i%2 == 0 // overwritten either way
	}
	require.NoError(t, s.ApplyMany(ctx, entries, applied))
	require.Equal(t, []bool{true, false, false, true, true, false, true, true, true, true, true}, applied)
	want := map[string]store.Value{
		"new":     Val("n", Ver(1, 1)),
		"v10":     Val("stored", Ver(10, 1)),
		"t10":     Val("newer", Ver(11, 1)),
		"rep":     Val("equal", Ver(60, 1)),
		"newtomb": Tomb(Ver(7, 1)),
		"zero":    Val("z2", hlc.Version{}),
	}
	for k, v := range want {
		got, ok, err := s.Lookup(ctx, k)
		require.NoError(t, err)
		require.True(t, ok, k)
		RequireValue(t, v, got, k)
	}
	RequireStats(t, s, want)

	// A nil applied is allowed; a slice of another length is not.
	require.NoError(t, s.ApplyMany(ctx, []store.Entry{{Key: "new", Value: Tomb(Ver(2, 1))}}, nil))
	want["new"] = Tomb(Ver(2, 1))
	err := s.ApplyMany(ctx, entries, make([]bool, 1))
	require.ErrorIs(t, err, store.ErrResultsLength)
	// An empty key stores nothing.
	err = s.ApplyMany(ctx, []store.Entry{{Key: "x", Value: Val("x", Ver(1, 1))}, {Key: "", Value: Val("y", Ver(1, 1))}}, nil)
	require.ErrorIs(t, err, store.ErrEmptyKey)
	_, ok, err := s.Lookup(ctx, "x")
	require.NoError(t, err)
	require.False(t, ok, "nothing stored when a key is empty")
	require.NoError(t, s.ApplyMany(ctx, nil, nil))
	RequireStats(t, s, want)
}

func testLookup(t *testing.T, s store.Store) {
	ctx := context.Background()
	_, ok, err := s.Lookup(ctx, "absent")
	require.NoError(t, err)
	require.False(t, ok)
	require.NoError(t, s.Put(ctx, "v", Val("x", Ver(4, 2))))
	require.NoError(t, s.Put(ctx, "t", Tomb(Ver(5, 3))))
	v, ok, err := s.Lookup(ctx, "v")
	require.NoError(t, err)
	require.True(t, ok)
	RequireValue(t, Val("x", Ver(4, 2)), v)
	v, ok, err = s.Lookup(ctx, "t")
	require.NoError(t, err)
	require.True(t, ok, "Lookup returns a tombstone")
	RequireValue(t, Tomb(Ver(5, 3)), v)
	require.Empty(t, v.Data)
	_, ok, err = s.Get(ctx, "t")
	require.NoError(t, err)
	require.False(t, ok, "Get does not")
}

// sortedRecords returns the records of ref in r and set (nil: all) in
// scan order; with live, only the values.
func sortedRecords(ref map[string]store.Value, r sharding.HashRange, set *sharding.PartitionSet, live bool) []store.Entry {
	var out []store.Entry
	for k, v := range ref {
		h := sharding.KeyHash(k)
		if !r.Contains(h) || !set.Contains(h) || (live && v.Tombstone) {
			continue
		}
		out = append(out, store.Entry{Key: k, Hash: h, Value: v})
	}
	slices.SortFunc(out, func(a, b store.Entry) int {
		if store.Less(a.Hash, a.Key, b.Hash, b.Key) {
			return -1
		}
		return 1
	})
	return out
}

// RequireRecords checks every kind of scan of s (ScanRecords,
// ScanPartitions, Scan) against the records of ref, over a few ranges,
// partition sets (one drawn from rng) and page sizes.
func RequireRecords(t testing.TB, s store.Store, ref map[string]store.Value, rng *rand.Rand) {
	t.Helper()
	ctx := context.Background()
	sets := []*sharding.PartitionSet{nil, RandomPartitionSet(rng, 13)}
	limits := []int{0, 7, 1000}
	if len(ref) <= 1000 {
		limits = append(limits, 1) // a page per key: quadratic for some engines
	}
	for _, r := range []sharding.HashRange{{}, {From: 1 << 62}, {From: 1 << 60, To: 3 << 61}} {
		for _, set := range sets {
			for _, limit := range limits {
				check := func(what string, got, want []store.Entry) {
					t.Helper()
					require.Len(t, got, len(want), "%s range %v limit %d", what, r, limit)
					for i := range want {
						require.Equal(t, want[i].Key, got[i].Key, what)
						require.Equal(t, want[i].Hash, got[i].Hash, what)
						RequireValue(t, want[i].Value, got[i].Value, "%s %s", what, want[i].Key)
					}
				}
				check("ScanRecords", CollectPages(t, limit, func(c store.Cursor) (store.Page, error) {
					return s.ScanRecords(ctx, c, r, set, limit)
				}), sortedRecords(ref, r, set, false))
				check("ScanPartitions", CollectPages(t, limit, func(c store.Cursor) (store.Page, error) {
					return s.ScanPartitions(ctx, c, r, set, limit)
				}), sortedRecords(ref, r, set, true))
				if set == nil {
					check("Scan", CollectPages(t, limit, func(c store.Cursor) (store.Page, error) {
						return s.Scan(ctx, c, r, limit)
					}), sortedRecords(ref, r, nil, true))
				}
			}
		}
	}
}

func testScanRecords(t *testing.T, s store.Store) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(5, 6))
	ref := map[string]store.Value{}
	for i := range 2000 {
		k := "k" + strconv.Itoa(i)
		v := Val(strconv.Itoa(rng.Int()), Ver(int64(100+i), uint64(i%3)))
		switch {
		case i%3 == 0:
			v = Tomb(v.Version)
		case i < 1000 && i%5 != 0:
			// Runs of tombstones: most of the first half.
			v = Tomb(v.Version)
		case i%7 == 0:
			v.Version = hlc.Version{} // unversioned values among them
		}
		applied, err := s.Apply(ctx, k, v)
		require.NoError(t, err)
		require.True(t, applied)
		ref[k] = v
	}
	RequireRecords(t, s, ref, rng)

	// A store of tombstones only: a page of values is empty and Done.
	only := map[string]store.Value{}
	for k, v := range ref {
		if v.Tombstone {
			only[k] = v
		} else {
			_, err := s.Delete(ctx, k)
			require.NoError(t, err)
		}
	}
	p, err := s.ScanPartitions(ctx, store.Cursor{}, sharding.HashRange{}, nil, 10)
	require.NoError(t, err)
	require.Empty(t, p.Entries)
	require.True(t, p.Done)
	RequireRecords(t, s, only, rng)

	// DeletePartitions removes tombstones too, and counts them.
	n := DeletePages(t, 100, func(c store.Cursor) (int, store.Cursor, bool, error) {
		return s.DeletePartitions(ctx, c, sharding.HashRange{}, nil, 100)
	})
	require.Equal(t, len(only), n)
	require.Equal(t, store.Stats{}, s.Stats())
	p, err = s.ScanRecords(ctx, store.Cursor{}, sharding.HashRange{}, nil, 0)
	require.NoError(t, err)
	require.Empty(t, p.Entries)
}

func testPurge(t *testing.T, s store.Store) {
	ctx := context.Background()
	ref := map[string]store.Value{}
	put := func(k string, v store.Value) {
		require.NoError(t, s.Put(ctx, k, v))
		ref[k] = v
	}
	// 5000 tombstones at 1000..1999 ms, and values (old, new, unversioned)
	// among them.
	for i := range 5000 {
		put("t"+strconv.Itoa(i), Tomb(Ver(int64(1000+i%1000), 1)))
	}
	for i := range 300 {
		put("v"+strconv.Itoa(i), Val("x", Ver(int64(i), 1)))
	}
	put("zero", Val("z", hlc.Version{}))
	put("zerotomb", Tomb(hlc.Version{}))

	n, err := s.PurgeTombstones(ctx, 0)
	require.NoError(t, err)
	require.Zero(t, n, "no version is below 0 ms")
	n, err = s.PurgeTombstones(ctx, 1)
	require.NoError(t, err)
	require.Equal(t, 1, n, "the zero-version tombstone: 0 ms")
	delete(ref, "zerotomb")

	n, err = s.PurgeTombstones(ctx, 1500)
	require.NoError(t, err)
	require.Equal(t, 2500, n, "the tombstones below 1500 ms")
	for k, v := range ref {
		if v.Tombstone && v.Version.Millis() < 1500 {
			delete(ref, k)
		}
	}
	RequireStats(t, s, ref)
	RequireRecords(t, s, ref, rand.New(rand.NewPCG(1, 1)))

	// A purged key has no record: any write applies to it again.
	applied, err := s.Apply(ctx, "t0", Val("back", Ver(1, 1)))
	require.NoError(t, err)
	require.True(t, applied)
	ref["t0"] = Val("back", Ver(1, 1))

	n, err = s.PurgeTombstones(ctx, 1<<40)
	require.NoError(t, err)
	require.Equal(t, 2500, n)
	for k, v := range ref {
		if v.Tombstone {
			delete(ref, k)
		}
	}
	RequireStats(t, s, ref)
	require.Zero(t, s.Stats().Tombstones)
	RequireRecords(t, s, ref, rand.New(rand.NewPCG(1, 1)))
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	put("late", Tomb(Ver(1, 1)))
	_, err = s.PurgeTombstones(cctx, 1<<40)
	require.ErrorIs(t, err, context.Canceled)
}

func testStats(t *testing.T, s store.Store) {
	ctx := context.Background()
	ref := map[string]store.Value{}
	step := func(k string, v store.Value) {
		t.Helper()
		_, err := s.Apply(ctx, k, v)
		require.NoError(t, err)
		ref[k] = v
		RequireStats(t, s, ref)
	}
	step("a", Val("12345", Ver(1, 1)))
	step("bb", Val("1", Ver(1, 1)))
	step("a", Tomb(Ver(2, 1)))         // value to tombstone
	step("c", Tomb(Ver(2, 1)))         // a new tombstone
	step("c", Tomb(Ver(3, 1)))         // tombstone over tombstone
	step("a", Val("123", Ver(3, 1)))   // tombstone to value
	step("bb", Val("1234", Ver(3, 1))) // value over value
	require.Equal(t, store.Stats{Keys: 2, Bytes: 4 + 6, Tombstones: 1}, s.Stats())

	// Delete removes a tombstone for good and reports no value.
	existed, err := s.Delete(ctx, "c")
	require.NoError(t, err)
	require.False(t, existed, "a tombstone is no value")
	delete(ref, "c")
	RequireStats(t, s, ref)
	_, ok, err := s.Lookup(ctx, "c")
	require.NoError(t, err)
	require.False(t, ok)
	existed, err = s.Delete(ctx, "a")
	require.NoError(t, err)
	require.True(t, existed)
	delete(ref, "a")
	RequireStats(t, s, ref)
}

func testPutIfAbsentTombstone(t *testing.T, s store.Store) {
	ctx := context.Background()
	require.NoError(t, s.Put(ctx, "k", Tomb(Ver(5, 1))))
	stored, err := s.PutIfAbsent(ctx, "k", Val("x", Ver(9, 1)))
	require.NoError(t, err)
	require.False(t, stored, "a tombstone is a record: a delete happened")
	v, ok, err := s.Lookup(ctx, "k")
	require.NoError(t, err)
	require.True(t, ok)
	RequireValue(t, Tomb(Ver(5, 1)), v)
	RequireStats(t, s, map[string]store.Value{"k": Tomb(Ver(5, 1))})
	_, err = s.Delete(ctx, "k")
	require.NoError(t, err)
	stored, err = s.PutIfAbsent(ctx, "k", Val("x", Ver(9, 1)))
	require.NoError(t, err)
	require.True(t, stored, "no record after Delete")
	v, _, err = s.Get(ctx, "k")
	require.NoError(t, err)
	RequireValue(t, Val("x", Ver(9, 1)), v)
}

func testPutOverwrites(t *testing.T, s store.Store) {
	ctx := context.Background()
	require.NoError(t, s.Put(ctx, "k", Val("new", Ver(20, 1))))
	require.NoError(t, s.Put(ctx, "k", Val("old", Ver(10, 1))))
	v, _, err := s.Get(ctx, "k")
	require.NoError(t, err)
	RequireValue(t, Val("old", Ver(10, 1)), v, "Put stores whatever is stored")
	require.NoError(t, s.Put(ctx, "k", Tomb(hlc.Version{})))
	v, ok, err := s.Lookup(ctx, "k")
	require.NoError(t, err)
	require.True(t, ok)
	RequireValue(t, Tomb(hlc.Version{}), v)
	RequireStats(t, s, map[string]store.Value{"k": Tomb(hlc.Version{})})
}

// Model drives ops random operations of every kind on s, which must be
// empty, and on a reference map, comparing every result, then the stats
// and every scan. Versions are drawn from a few milliseconds and writers,
// so that older, equal and newer versions all occur.
func Model(t testing.TB, s store.Store, rng *rand.Rand, ops int) map[string]store.Value {
	t.Helper()
	ctx := context.Background()
	ref := map[string]store.Value{}
	randKey := func() string { return "k" + strconv.Itoa(rng.IntN(300)) }
	randValue := func() store.Value {
		ver := hlc.Version{}
		if rng.IntN(10) > 0 {
			ver = Ver(int64(rng.IntN(20)), uint64(rng.IntN(2)))
		}
		if rng.IntN(3) == 0 {
			return Tomb(ver)
		}
		return store.Value{Codec: uint8(rng.IntN(3)), Data: []byte(strconv.Itoa(rng.IntN(1 << rng.IntN(30)))), Version: ver}
	}
	admits := func(k string, v store.Value) bool {
		old, ok := ref[k]
		return !ok || v.Version.Compare(old.Version) >= 0
	}
	for op := range ops {
		k := randKey()
		switch rng.IntN(12) {
		case 0, 1, 2:
			v := randValue()
			want := admits(k, v)
			applied, err := s.Apply(ctx, k, v)
			require.NoError(t, err)
			require.Equal(t, want, applied, "op %d Apply %s %+v over %+v", op, k, v, ref[k])
			if want {
				ref[k] = v
			}
		case 3, 4:
			entries := make([]store.Entry, 1+rng.IntN(20))
			want := make([]bool, len(entries))
			for i := range entries {
				entries[i] = store.Entry{Key: randKey(), Value: randValue()}
				if rng.IntN(4) == 0 && i > 0 { // a repeated key
					entries[i].Key = entries[rng.IntN(i)].Key
				}
				e := entries[i]
				if want[i] = admits(e.Key, e.Value); want[i] {
					ref[e.Key] = e.Value
				}
			}
			applied := make([]bool, len(entries))
			require.NoError(t, s.ApplyMany(ctx, entries, applied))
			require.Equal(t, want, applied, "op %d ApplyMany", op)
		case 5:
			v := randValue()
			require.NoError(t, s.Put(ctx, k, v))
			ref[k] = v
		case 6:
			existed, err := s.Delete(ctx, k)
			require.NoError(t, err)
			old, ok := ref[k]
			require.Equal(t, ok && !old.Tombstone, existed, "op %d Delete %s", op, k)
			delete(ref, k)
		case 7:
			v := randValue()
			stored, err := s.PutIfAbsent(ctx, k, v)
			require.NoError(t, err)
			_, ok := ref[k]
			require.Equal(t, !ok, stored, "op %d PutIfAbsent %s", op, k)
			if !ok {
				ref[k] = v
			}
		case 8, 9:
			got, ok, err := s.Lookup(ctx, k)
			require.NoError(t, err)
			want, wantOK := ref[k]
			require.Equal(t, wantOK, ok, "op %d Lookup %s", op, k)
			if ok {
				RequireValue(t, want, got, "op %d Lookup %s", op, k)
			}
			got, ok, err = s.Get(ctx, k)
			require.NoError(t, err)
			require.Equal(t, wantOK && !want.Tombstone, ok, "op %d Get %s", op, k)
			if ok {
				RequireValue(t, want, got, "op %d Get %s", op, k)
			}
		case 10:
			if rng.IntN(10) == 0 {
				before := int64(rng.IntN(22))
				want := 0
				for k, v := range ref {
					if v.Tombstone && v.Version.Millis() < before {
						delete(ref, k)
						want++
					}
				}
				n, err := s.PurgeTombstones(ctx, before)
				require.NoError(t, err)
				require.Equal(t, want, n, "op %d PurgeTombstones %d", op, before)
			}
		case 11:
			RequireStats(t, s, ref)
		}
	}
	RequireStats(t, s, ref)
	RequireRecords(t, s, ref, rng)
	return ref
}
