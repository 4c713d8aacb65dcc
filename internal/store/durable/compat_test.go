package durable

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/hlc"
	"github.com/zshard/zshard/internal/store"
	"github.com/zshard/zshard/internal/store/storetest"
	"github.com/zshard/zshard/sharding"
)

// v0Records is what testdata/v0-store holds: a store written, and closed
// cleanly, by the store before versions existed (records of a codec byte
// and the data) with PutMany of batch-0..9, Put of put-0..9 and empty,
// Put over put-0 and Delete of put-9.
func v0Records() map[string]store.Value {
	ref := map[string]store.Value{}
	for i := range 10 {
		ref[fmt.Sprintf("batch-%d", i)] = store.Value{Codec: 1, Data: []byte(fmt.Sprintf(`{"n":%d}`, i))}
	}
	for i := range 9 {
		ref[fmt.Sprintf("put-%d", i)] = store.Value{Codec: 2, Data: []byte{0x80 | byte(i), 0xff, byte(i)}}
	}
	ref["put-0"] = store.Value{Codec: 1, Data: []byte(`"overwritten"`)}
	ref["empty"] = store.Value{Codec: 1}
	return ref
}

// copyDir copies the files of testdata directory src to a new temporary
// directory (opening a store writes to its directory).
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	require.NoError(t, err)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644))
	}
	return dst
}

// TestOpensPreVersionStore opens the data directory written by the store
// before versions: its records read as values of zero version, not
// tombstones, with the same counters, and take versioned writes.
func TestOpensPreVersionStore(t *testing.T) {
	s := open(t, copyDir(t, filepath.Join("testdata", "v0-store")), Options{})
	checkPreVersion(t, s, v0Records())
}

// TestReadsPreVersionRecords writes records in the encoding of the store
// before versions straight into Pebble, codecs 0 to 127 and data of every
// first byte, and reads them through the store.
func TestReadsPreVersionRecords(t *testing.T) {
	dir := t.TempDir()
	db, err := pebble.Open(dir, &pebble.Options{})
	require.NoError(t, err)
	ref := map[string]store.Value{}
	for i := range 256 {
		k := fmt.Sprintf("key-%d", i)
		v := store.Value{Codec: uint8(i % 128), Data: []byte{byte(i), byte(255 - i)}}
		if i%10 == 0 {
			v.Data = nil
		}
		require.NoError(t, db.Set(encodeKey(nil, sharding.KeyHash(k), k), append([]byte{v.Codec}, v.Data...), pebble.NoSync))
		ref[k] = v
	}
	require.NoError(t, db.Close())
	checkPreVersion(t, open(t, dir, Options{}), ref)
}

func checkPreVersion(t *testing.T, s *Store, ref map[string]store.Value) {
	t.Helper()
	storetest.RequireStats(t, s, ref)
	require.Zero(t, s.Stats().Tombstones)
	for k, want := range ref {
		v, ok, err := s.Get(ctx, k)
		require.NoError(t, err)
		require.True(t, ok, k)
		storetest.RequireValue(t, want, v, k) // zero version, not a tombstone
	}
	storetest.RequireRecords(t, s, ref, rand.New(rand.NewPCG(1, 2)))

	// An unversioned write is still written as before versions.
	k := "empty"
	require.NoError(t, s.Put(ctx, k, store.Value{Codec: 2, Data: []byte("again")}))
	raw, closer, err := s.db.Get(encodeKey(nil, sharding.KeyHash(k), k))
	require.NoError(t, err)
	require.Equal(t, "\x02again", string(raw))
	require.NoError(t, closer.Close())
	ref[k] = store.Value{Codec: 2, Data: []byte("again")}

	// A versioned write and a tombstone win over the unversioned values.
	for k := range ref {
		if k == "empty" {
			continue
		}
		applied, err := s.Apply(ctx, k, storetest.Tomb(hlc.Version{Time: 1 << 20, Writer: 1}))
		require.NoError(t, err)
		require.True(t, applied, k)
		ref[k] = storetest.Tomb(hlc.Version{Time: 1 << 20, Writer: 1})
		break
	}
	applied, err := s.Apply(ctx, k, storetest.Val("versioned", hlc.Version{Time: 1 << 20}))
	require.NoError(t, err)
	require.True(t, applied)
	ref[k] = storetest.Val("versioned", hlc.Version{Time: 1 << 20})
	storetest.RequireStats(t, s, ref)
}
