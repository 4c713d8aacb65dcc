package durable

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/store"
	"github.com/zshard/zshard/internal/store/storetest"
	"github.com/zshard/zshard/sharding"
)

var ctx = context.Background()

// TestMain doubles as the crash writer of the torn-tail tests: with
// DURABLE_CRASH_WRITER=<dir> it writes keys to <dir>, each followed by Sync,
// and exits without closing the store, as a killed node would.
func TestMain(m *testing.M) {
	if dir := os.Getenv("DURABLE_CRASH_WRITER"); dir != "" {
		n, _ := strconv.Atoi(os.Getenv("DURABLE_CRASH_KEYS"))
		s, err := Open(dir, Options{})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		for i := range n {
			if err := s.Put(ctx, crashKey(i), store.Value{Codec: 1, Data: []byte(crashVal(i))}); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			if err := s.Sync(ctx); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}
		os.Exit(0) // no Close: an unclean end
	}
	os.Exit(m.Run())
}

func crashKey(i int) string { return "crash-" + strconv.Itoa(i) }
func crashVal(i int) string {
	return fmt.Sprintf(`"value of key %d, padded to make the record longer"`, i)
}

func open(t *testing.T, dir string, opts Options) *Store {
	t.Helper()
	s, err := Open(dir, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// scanAll returns every entry of s in r, read with Scan limit entries at a
// time.
func scanAll(t *testing.T, s store.Store, r sharding.HashRange, limit int) []store.Entry {
	t.Helper()
	return storetest.CollectPages(t, limit, func(c store.Cursor) (store.Page, error) { return s.Scan(ctx, c, r, limit) })
}

// TestAgainstMemory runs the same random operations on a durable store and
// the in-memory engine and compares every read, scan and count, also
// after the durable store is closed and reopened.
func TestAgainstMemory(t *testing.T) {
	dir := t.TempDir()
	d := open(t, dir, Options{})
	m := store.NewMemory(store.MemoryOptions{})
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 20000 {
		k := "k" + strconv.Itoa(rng.IntN(5000))
		switch rng.IntN(10) {
		case 0, 1:
			e1, err1 := d.Delete(ctx, k)
			e2, err2 := m.Delete(ctx, k)
			require.NoError(t, err1)
			require.NoError(t, err2)
			require.Equal(t, e2, e1, "delete %s", k)
		case 2:
			v1, ok1, err := d.Get(ctx, k)
			require.NoError(t, err)
			v2, ok2, _ := m.Get(ctx, k)
			require.Equal(t, ok2, ok1)
			if ok2 {
				require.Equal(t, v2.Codec, v1.Codec)
				require.Equal(t, string(v2.Data), string(v1.Data))
			}
		default:
			v := store.Value{Codec: uint8(i % 2), Data: []byte(fmt.Sprintf("v%d-%d", i, rng.IntN(1000)))}
			require.NoError(t, d.Put(ctx, k, v))
			require.NoError(t, m.Put(ctx, k, v))
		}
	}
	check := func(d *Store) {
		require.Equal(t, m.Stats(), d.Stats())
		for _, r := range []sharding.HashRange{{}, sharding.PartitionRange(3, 7), sharding.PartitionRange(6, 7), sharding.PartitionRange(0, 64)} {
			for _, limit := range []int{0, 1, 97} {
				got := scanAll(t, d, r, limit)
				want := scanAll(t, m, r, limit)
				require.Equal(t, len(want), len(got), "range %+v limit %d", r, limit)
				for i := range want {
					require.Equal(t, want[i].Key, got[i].Key)
					require.Equal(t, want[i].Hash, got[i].Hash)
					require.Equal(t, string(want[i].Value.Data), string(got[i].Value.Data))
				}
			}
		}
	}
	check(d)
	require.NoError(t, d.Close())
	require.NoError(t, d.Close(), "Close is idempotent")
	_, _, err := d.Get(ctx, "k1")
	require.ErrorIs(t, err, store.ErrClosed)
	check(open(t, dir, Options{}))
}

func TestEmptyKeyAndLargeValue(t *testing.T) {
	s := open(t, t.TempDir(), Options{})
	require.ErrorIs(t, s.Put(ctx, "", store.Value{}), store.ErrEmptyKey)
	big := make([]byte, 4<<20)
	for i := range big {
		big[i] = byte(i)
	}
	require.NoError(t, s.Put(ctx, "big", store.Value{Codec: 2, Data: big}))
	v, ok, err := s.Get(ctx, "big")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, big, v.Data)
	require.Equal(t, uint8(2), v.Codec)
}

// crashWrite writes n keys in a child process that exits without closing
// the store, and returns the last WAL file.
func crashWrite(t *testing.T, dir string, n int) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "DURABLE_CRASH_WRITER="+dir, "DURABLE_CRASH_KEYS="+strconv.Itoa(n))
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	wals, err := WALFiles(dir)
	require.NoError(t, err)
	require.NotEmpty(t, wals)
	slices.Sort(wals)
	return wals[len(wals)-1]
}

// recovered returns the number of crash keys 0..m-1 present, and checks
// they form a prefix of the write order with their values intact.
func recoveredPrefix(t *testing.T, s *Store, n int) int {
	t.Helper()
	m := 0
	for m < n {
		v, ok, err := s.Get(ctx, crashKey(m))
		require.NoError(t, err)
		if !ok {
			break
		}
		require.Equal(t, crashVal(m), string(v.Data))
		m++
	}
	for i := m; i < n; i++ {
		_, ok, err := s.Get(ctx, crashKey(i))
		require.NoError(t, err)
		require.False(t, ok, "key %d present after a gap at %d: not a prefix", i, m)
	}
	require.Equal(t, int64(m), s.Stats().Keys)
	return m
}

func TestTornTail(t *testing.T) {
	const n = 500
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, wal string)
		// minKept is the least number of keys that must survive.
		minKept func(size int64) int
	}{
		{"intact", func(*testing.T, string) {}, func(int64) int { return n }},
		{"last bytes cut", func(t *testing.T, wal string) {
			fi, err := os.Stat(wal)
			require.NoError(t, err)
			require.NoError(t, os.Truncate(wal, fi.Size()-5))
		}, func(int64) int { return n - 1 }},
		{"cut mid-log", func(t *testing.T, wal string) {
			fi, err := os.Stat(wal)
			require.NoError(t, err)
			require.NoError(t, os.Truncate(wal, fi.Size()/2+3))
		}, func(int64) int { return 1 }},
		{"garbage appended", func(t *testing.T, wal string) {
			f, err := os.OpenFile(wal, os.O_APPEND|os.O_WRONLY, 0)
			require.NoError(t, err)
			junk := make([]byte, 1000)
			for i := range junk {
				junk[i] = byte(i*7 + 3)
			}
			_, err = f.Write(junk)
			require.NoError(t, err)
			require.NoError(t, f.Close())
		}, func(int64) int { return n }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "node-0")
			wal := crashWrite(t, dir, n)
			tc.damage(t, wal)
			s := open(t, dir, Options{})
			m := recoveredPrefix(t, s, n)
			require.GreaterOrEqual(t, m, tc.minKept(0))
			if tc.name == "cut mid-log" {
				require.Less(t, m, n, "half the log is gone")
			}
			// The node writes on after recovery, and that survives a reopen.
			require.NoError(t, s.Put(ctx, "after", store.Value{Data: []byte("x")}))
			require.NoError(t, s.Sync(ctx))
			require.NoError(t, s.Close())
			s2 := open(t, dir, Options{})
			_, ok, err := s2.Get(ctx, "after")
			require.NoError(t, err)
			require.True(t, ok)
			require.Equal(t, int64(m+1), s2.Stats().Keys)
		})
	}
}

// lowDiskFS reports a nearly full disk while low is set.
type lowDiskFS struct {
	vfs.FS
	low *bool
}

func (f lowDiskFS) GetDiskUsage(path string) (vfs.DiskUsage, error) {
	du, err := f.FS.GetDiskUsage(path)
	if *f.low {
		du.AvailBytes = 1 << 20
	}
	return du, err
}

func TestDiskFullRefusesWritesServesReads(t *testing.T) {
	low := false
	s := open(t, t.TempDir(), Options{FS: lowDiskFS{vfs.Default, &low}})
	require.NoError(t, s.Put(ctx, "a", store.Value{Data: []byte("1")}))
	low = true
	s.diskChecked = s.diskChecked.Add(-time.Hour)
	err := s.Put(ctx, "b", store.Value{Data: []byte("2")})
	require.ErrorIs(t, err, ErrDiskFull)
	_, err = s.Delete(ctx, "a")
	require.ErrorIs(t, err, ErrDiskFull)
	v, ok, err := s.Get(ctx, "a")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "1", string(v.Data))
	require.Len(t, scanAll(t, s, sharding.HashRange{}, 0), 1)

	low = false
	s.diskChecked = s.diskChecked.Add(-time.Hour)
	require.NoError(t, s.Put(ctx, "b", store.Value{Data: []byte("2")}))
}

// TestUnwritableDirOpensReadOnly injects a failure into every write the
// engine attempts (as a read-only mount or a full disk would fail them):
// the store opens read-only, serves what it holds and refuses writes
// with ErrReadOnly. Root ignores permission bits, so chmod cannot stand in.
func TestUnwritableDirOpensReadOnly(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{})
	require.NoError(t, s.Put(ctx, "a", store.Value{Data: []byte("1")}))
	require.NoError(t, s.Close())

	failWrites := errorfs.InjectorFunc(func(op errorfs.Op) error {
		switch op.Kind {
		case errorfs.OpLock, errorfs.OpFileClose: // a read-only mount allows these
			return nil
		}
		if op.Kind.ReadOrWrite() == errorfs.OpIsWrite {
			return errorfs.ErrInjected
		}
		return nil
	})
	ro := open(t, dir, Options{FS: errorfs.Wrap(vfs.Default, failWrites)})
	require.True(t, ro.ReadOnly())
	v, ok, err := ro.Get(ctx, "a")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "1", string(v.Data))
	require.ErrorIs(t, ro.Put(ctx, "b", store.Value{Data: []byte("2")}), ErrReadOnly)
	require.NoError(t, ro.Close())

	// A directory that never held a store and cannot be created is an
	// error at Open, not an empty read-only store.
	_, err = Open(filepath.Join(dir, "new"), Options{FS: errorfs.Wrap(vfs.Default, failWrites)})
	require.Error(t, err)
}

// The background sync of the batch policy fsyncs only when something was
// written since its last sync: an idle node does not fsync every interval.
func TestBackgroundSyncSkipsIdleIntervals(t *testing.T) {
	var syncs atomic.Int64
	countSyncs := errorfs.InjectorFunc(func(op errorfs.Op) error {
		switch op.Kind {
		case errorfs.OpFileSync, errorfs.OpFileSyncData, errorfs.OpFileSyncTo:
			if strings.HasSuffix(op.Path, ".log") { // the WAL
				syncs.Add(1)
			}
		}
		return nil
	})
	s := open(t, t.TempDir(), Options{SyncInterval: time.Millisecond, FS: errorfs.Wrap(vfs.Default, countSyncs)})
	require.NoError(t, s.Put(ctx, "a", store.Value{Data: []byte("1")}))
	require.Eventually(t, func() bool { return syncs.Load() > 0 }, 10*time.Second, time.Millisecond,
		"the write was never synced in the background")

	time.Sleep(50 * time.Millisecond) // let a sync already running finish
	idle := syncs.Load()
	time.Sleep(200 * time.Millisecond) // about 200 intervals with nothing written
	require.Equal(t, idle, syncs.Load(), "WAL fsynced while nothing was written")

	require.NoError(t, s.Put(ctx, "b", store.Value{Data: []byte("2")}))
	require.Eventually(t, func() bool { return syncs.Load() > idle }, 10*time.Second, time.Millisecond,
		"the second write was never synced in the background")
}
