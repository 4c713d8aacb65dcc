package durable

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/store"
	"github.com/zshard/zshard/internal/store/storetest"
	"github.com/zshard/zshard/sharding"
)

// TestVersions runs the conformance tests of versions and tombstones.
func TestVersions(t *testing.T) {
	storetest.Versions(t, func(t *testing.T) store.Store { return open(t, t.TempDir(), Options{}) })
}

// TestVersionsSurviveReopen checks that versions and tombstones are on
// disk: the records, and the counters recounted at Open, are the same
// after a reopen.
func TestVersionsSurviveReopen(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{})
	rng := rand.New(rand.NewPCG(8, 9))
	ref := storetest.Model(t, s, rng, 4000)
	require.Positive(t, s.Stats().Tombstones)
	require.NoError(t, s.Close())
	s = open(t, dir, Options{})
	storetest.RequireStats(t, s, ref)
	storetest.RequireRecords(t, s, ref, rng)
	// The key filter was refilled with the tombstones' keys: an older
	// write of one is refused.
	for k, v := range ref {
		if v.Tombstone && !v.Version.IsZero() {
			applied, err := s.Apply(ctx, k, storetest.Val("older", storetest.Ver(v.Version.Millis()-1, 0)))
			require.NoError(t, err)
			require.False(t, applied, k)
		}
	}
}

func TestVersionsClosedAndReadOnly(t *testing.T) {
	s := open(t, t.TempDir(), Options{})
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
