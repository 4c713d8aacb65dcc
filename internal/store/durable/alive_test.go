package durable

import (
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/store"
	"github.com/zshard/zshard/internal/store/storetest"
	"github.com/zshard/zshard/sharding"
)

// TestAlive checks MarkAlive and LastAlive, and that the meta record stays
// out of the key space: not counted, scanned, purged or deleted.
func TestAlive(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{})
	at, err := s.LastAlive()
	require.NoError(t, err)
	require.True(t, at.IsZero(), "never recorded")

	t1 := time.Unix(1_700_000_000, 123_456_789)
	require.NoError(t, s.MarkAlive(t1))
	at, err = s.LastAlive()
	require.NoError(t, err)
	require.True(t, t1.Equal(at), "%v != %v", t1, at)

	require.NoError(t, s.Put(ctx, "k", storetest.Tomb(storetest.Ver(1, 1))))
	require.Equal(t, store.Stats{Tombstones: 1}, s.Stats())
	p, err := s.ScanRecords(ctx, store.Cursor{}, sharding.HashRange{}, nil, 0)
	require.NoError(t, err)
	require.Len(t, p.Entries, 1)
	n, err := s.PurgeTombstones(ctx, 1<<40)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	n, _, _, err = s.DeletePartitions(ctx, store.Cursor{}, sharding.HashRange{}, nil, 0)
	require.NoError(t, err)
	require.Zero(t, n)
	require.Equal(t, store.Stats{}, s.Stats())

	t2 := t1.Add(time.Hour)
	require.NoError(t, s.MarkAlive(t2))
	require.NoError(t, s.Close())
	_, err = s.LastAlive()
	require.ErrorIs(t, err, store.ErrClosed)
	require.ErrorIs(t, s.MarkAlive(t2), store.ErrClosed)

	s = open(t, dir, Options{})
	require.Equal(t, store.Stats{}, s.Stats(), "the meta record is not counted at Open")
	at, err = s.LastAlive()
	require.NoError(t, err)
	require.True(t, t2.Equal(at), "survives a reopen")
	require.NoError(t, s.MarkAlive(time.Time{}))
	at, err = s.LastAlive()
	require.NoError(t, err)
	require.True(t, at.IsZero(), "erased")
}

func TestAliveReadOnly(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{})
	t1 := time.Unix(1_700_000_000, 0)
	require.NoError(t, s.MarkAlive(t1))
	require.NoError(t, s.Close())
	failWrites := errorfs.InjectorFunc(func(op errorfs.Op) error {
		switch op.Kind {
		case errorfs.OpLock, errorfs.OpFileClose:
			return nil
		}
		if op.Kind.ReadOrWrite() == errorfs.OpIsWrite {
			return errorfs.ErrInjected
		}
		return nil
	})
	ro := open(t, dir, Options{FS: errorfs.Wrap(vfs.Default, failWrites)})
	require.True(t, ro.ReadOnly())
	at, err := ro.LastAlive()
	require.NoError(t, err)
	require.True(t, t1.Equal(at))
	require.ErrorIs(t, ro.MarkAlive(time.Now()), ErrReadOnly)
	_, err = ro.Apply(ctx, "k", store.Value{})
	require.ErrorIs(t, err, ErrReadOnly)
	require.ErrorIs(t, ro.ApplyMany(ctx, []store.Entry{{Key: "k"}}, nil), ErrReadOnly)
	_, err = ro.PurgeTombstones(ctx, 1)
	require.ErrorIs(t, err, ErrReadOnly)
}
