package durable

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/zshard/zshard/internal/store"
	"github.com/zshard/zshard/sharding"
)

// Sentinel errors, wrapped with %w.
var (
	// ErrReadOnly is returned by every write (Put, Apply, Delete,
	// MarkAlive...) of a store opened read-only because its directory
	// could not be written (see Open).
	ErrReadOnly = errors.New("durable: data directory not writable; store is read-only, reads are served")
	// ErrDiskFull is returned by every write while the free space of the
	// data directory's file system is below Options.MinFreeBytes.
	ErrDiskFull = errors.New("durable: disk full; writes refused, reads are served")
	// ErrCorrupt is returned for a record the store cannot decode.
	ErrCorrupt = errors.New("durable: malformed record")
)

// Defaults.
const (
	DefaultMinFreeBytes = 64 << 20
	DefaultSyncInterval = 10 * time.Millisecond
	// DefaultCacheBytes holds the blocks of a node of a few million small
	// keys: a GET or an overwrite that misses the cache reads and
	// decompresses its index and data blocks again.
	DefaultCacheBytes = 128 << 20
	lockStripes       = 256
	memTableSize      = 16 << 20
	cleanMarker       = "ZSHARD_CLEAN_SHUTDOWN"
)

// Options configures a Store. The zero value is valid.
type Options struct {
	// SyncInterval, when > 0, makes a background goroutine fsync the WAL
	// this often, skipping intervals in which nothing was written (the
	// "batch" sync policy). Default 0: only Sync fsyncs.
	SyncInterval time.Duration
	// MinFreeBytes is the free space below which writes are refused with
	// ErrDiskFull instead of letting the engine reach ENOSPC (Pebble stops
	// the process on a failed WAL write). Checked at most every 100ms.
	// Default DefaultMinFreeBytes; negative disables the check.
	MinFreeBytes int64
	// CacheBytes is the block cache size, filled as reads need it.
	// Default DefaultCacheBytes.
	CacheBytes int64
	// FS replaces the file system (tests inject errors with it). Default:
	// the OS file system.
	FS vfs.FS
	// Logger receives recovery and error events. Default: discard.
	Logger *slog.Logger
}

// Store is a store.Store kept on disk in a Pebble database.
//
// Layout: the Pebble key of a zshard key is the 8-byte big-endian key hash
// followed by the key bytes, so Pebble's bytewise order is the store's scan
// order (hash, key) and a hash range (a partition) is one contiguous key
// range. The Pebble value is the record: the codec byte followed by the
// value bytes for a value written without a version, else a flags byte
// (tombstone or value), the codec byte, the 16-byte version and the value
// bytes (record.go). The keys shorter than 8 bytes made of zero bytes sort
// before every record; they hold the store's own metadata (LastAlive) and
// are outside the key space.
//
// Durability: Put and Delete apply to Pebble's memtable and WAL without
// waiting for an fsync; Sync makes every write applied before it durable.
// Concurrent Syncs (the node's request and ingest loops) share fsyncs: Pebble's
// WAL writer syncs once for all the commits queued behind it (group commit).
//
// Key count, byte size and tombstone count are kept exact: each write
// reads the previous record under a lock striped by key hash, unless the
// in-memory key filter says the key was never stored (a new key: nothing to
// read). The same read gives Apply the stored version to compare with, so
// last-writer-wins costs no read of its own. They are counted, and the
// filter filled, at Open by one pass over the database.
type Store struct {
	db       *pebble.DB
	dir      string
	fs       vfs.FS
	opts     Options
	log      *slog.Logger
	readOnly bool

	closeMu sync.RWMutex // held shared by every operation, exclusively by Close
	closed  bool
	locks   [lockStripes]sync.Mutex

	keys, bytes, tombs atomic.Int64
	filter             *keyFilter

	diskMu      sync.Mutex
	diskChecked time.Time
	diskLow     atomic.Bool

	stopSync chan struct{}
	syncDone chan struct{}
	unsynced atomic.Bool // a write was applied since the background loop last synced
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the store in dir. A database left by a
// crash is recovered from its WAL; a torn last WAL record (a write cut
// short by the crash) is dropped and the intact prefix kept, and the
// unclean shutdown is logged. When dir exists but cannot be written, the
// store is opened read-only: reads are served and writes fail with
// ErrReadOnly.
func Open(dir string, opts Options) (*Store, error) {
	if opts.MinFreeBytes == 0 {
		opts.MinFreeBytes = DefaultMinFreeBytes
	}
	if opts.CacheBytes <= 0 {
		opts.CacheBytes = DefaultCacheBytes
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	fs := opts.FS
	if fs == nil {
		fs = vfs.Default
	}
	s := &Store{dir: dir, fs: fs, opts: opts, log: log, filter: newKeyFilter()}

	names, _ := fs.List(dir)
	existed := len(names) > 0
	clean := true
	if existed {
		_, err := fs.Stat(fs.PathJoin(dir, cleanMarker))
		clean = err == nil
	}

	db, err := s.open(false)
	if err != nil && existed {
		log.Error("cannot open the data directory for writing; opening it read-only", "dir", dir, "err", err)
		db, err = s.open(true)
		if err == nil {
			s.readOnly = true
		}
	}
	if err != nil {
		return nil, fmt.Errorf("durable: open %s: %w", dir, err)
	}
	s.db = db
	if !s.readOnly {
		// The marker exists only while the store is closed cleanly.
		if err := fs.Remove(fs.PathJoin(dir, cleanMarker)); err != nil && !errors.Is(err, os.ErrNotExist) {
			_ = db.Close()
			return nil, fmt.Errorf("durable: %s: %w", dir, err)
		}
	}
	start := time.Now()
	if err := s.count(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("durable: counting keys in %s: %w", dir, err)
	}
	switch {
	case !existed:
		log.Info("created data directory", "dir", dir)
	case clean:
		log.Info("opened data directory", "dir", dir, "keys", s.keys.Load(), "count_time", time.Since(start))
	default:
		log.Warn("data directory was not closed cleanly (crash or kill); recovered from the WAL, a torn last record, if any, was dropped",
			"dir", dir, "keys", s.keys.Load(), "count_time", time.Since(start))
	}
	if opts.SyncInterval > 0 && !s.readOnly {
		s.stopSync, s.syncDone = make(chan struct{}), make(chan struct{})
		go s.syncLoop()
	}
	return s, nil
}

func (s *Store) open(readOnly bool) (*pebble.DB, error) {
	cache := pebble.NewCache(s.opts.CacheBytes)
	defer cache.Unref()
	po := &pebble.Options{
		FS:       s.fs,
		Cache:    cache,
		ReadOnly: readOnly,
		Logger:   pebbleLogger{s.log},
		// A node's memtable is flushed when full; 16 MiB keeps recovery
		// replay short.
		MemTableSize: memTableSize,
	}
	if !readOnly {
		if err := s.fs.MkdirAll(s.dir, 0o755); err != nil {
			return nil, err
		}
	}
	return pebble.Open(s.dir, po)
}

// dataStart is the lower bound of the records: the meta keys sort below.
var dataStart = make([]byte, 8)

// count sets the key, byte and tombstone counters by one pass over the
// records.
func (s *Store) count() error {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: dataStart})
	if err != nil {
		return err
	}
	var c counts
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		if len(k) < 9 {
			_ = it.Close()
			return fmt.Errorf("%w: key %x", ErrCorrupt, k)
		}
		s.filter.add(binary.BigEndian.Uint64(k))
		raw, err := it.ValueAndErr()
		if err != nil {
			_ = it.Close()
			return err
		}
		v, err := decodeRecord(raw)
		if err != nil {
			_ = it.Close()
			return fmt.Errorf("key %x: %w", k, err)
		}
		c.add(len(k)-8, v)
	}
	if err := it.Close(); err != nil {
		return err
	}
	s.keys.Store(c.keys)
	s.bytes.Store(c.bytes)
	s.tombs.Store(c.tombs)
	return nil
}

// Dir returns the data directory.
func (s *Store) Dir() string { return s.dir }

// ReadOnly reports whether the store was opened read-only.
func (s *Store) ReadOnly() bool { return s.readOnly }

func encodeKey(dst []byte, h uint64, key string) []byte {
	dst = binary.BigEndian.AppendUint64(dst, h)
	return append(dst, key...)
}

func (s *Store) acquire() error {
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		return store.ErrClosed
	}
	return nil
}

func (s *Store) release() { s.closeMu.RUnlock() }

// setValue adds to b the write of the record of v (normalized) under the
// encoded key k.
func setValue(b *pebble.Batch, k []byte, v store.Value) {
	op := b.SetDeferred(len(k), recordLen(v))
	copy(op.Key, k)
	putRecord(op.Value, v)
	op.Finish()
}

// lockKey starts a single-key write: it checks the key, enters the store
// (as acquire) and checks it is writable, then locks the key's stripe. It
// returns the key encoded into kbuf and the key's hash; the caller ends the
// write with unlockKey(mu).
func (s *Store) lockKey(key string, kbuf []byte) (k []byte, h uint64, mu *sync.Mutex, err error) {
	if key == "" {
		return nil, 0, nil, store.ErrEmptyKey
	}
	if err := s.acquire(); err != nil {
		return nil, 0, nil, err
	}
	if err := s.writable(); err != nil {
		s.release()
		return nil, 0, nil, err
	}
	h = sharding.KeyHash(key)
	mu = &s.locks[h>>56]
	mu.Lock()
	return encodeKey(kbuf, h, key), h, mu, nil
}

// unlockKey ends a write begun by lockKey.
func (s *Store) unlockKey(mu *sync.Mutex) {
	mu.Unlock()
	s.release()
}

// writable reports why a write cannot be accepted now, if it cannot.
func (s *Store) writable() error {
	if s.readOnly {
		return ErrReadOnly
	}
	if s.opts.MinFreeBytes < 0 {
		return nil
	}
	s.diskMu.Lock()
	if time.Since(s.diskChecked) >= 100*time.Millisecond {
		s.diskChecked = time.Now()
		du, err := s.fs.GetDiskUsage(s.dir)
		if err == nil {
			low := int64(du.AvailBytes) < s.opts.MinFreeBytes
			if low != s.diskLow.Load() {
				if low {
					s.log.Error("disk almost full; refusing writes", "dir", s.dir, "avail_bytes", du.AvailBytes, "min_free_bytes", s.opts.MinFreeBytes)
				} else {
					s.log.Info("disk space available again; accepting writes", "dir", s.dir, "avail_bytes", du.AvailBytes)
				}
			}
			s.diskLow.Store(low)
		}
	}
	s.diskMu.Unlock()
	if s.diskLow.Load() {
		return ErrDiskFull
	}
	return nil
}

// Put implements store.Store. The write is applied but not yet fsynced;
// see Sync.
func (s *Store) Put(_ context.Context, key string, v store.Value) error {
	_, err := s.writeOne(key, v, always)
	return err
}

// Get implements store.Store.
func (s *Store) Get(ctx context.Context, key string) (store.Value, bool, error) {
	v, ok, err := s.Lookup(ctx, key)
	if v.Tombstone {
		return store.Value{}, false, err
	}
	return v, ok, err
}

// Lookup implements store.Store.
func (s *Store) Lookup(_ context.Context, key string) (store.Value, bool, error) {
	if key == "" {
		return store.Value{}, false, store.ErrEmptyKey
	}
	if err := s.acquire(); err != nil {
		return store.Value{}, false, err
	}
	defer s.release()
	var kbuf [64]byte
	raw, closer, err := s.db.Get(encodeKey(kbuf[:0], sharding.KeyHash(key), key))
	if errors.Is(err, pebble.ErrNotFound) {
		return store.Value{}, false, nil
	}
	if err != nil {
		return store.Value{}, false, err
	}
	defer closer.Close()
	v, err := decodeRecord(raw)
	if err != nil {
		return store.Value{}, false, fmt.Errorf("durable: key %q: %w", key, err)
	}
	if !v.Tombstone {
		v.Data = append([]byte(nil), v.Data...)
	}
	return v, true, nil
}

// Delete implements store.Store. Like Put, it is not fsynced until Sync.
func (s *Store) Delete(_ context.Context, key string) (bool, error) {
	var kbuf [64]byte
	k, _, mu, err := s.lockKey(key, kbuf[:0])
	if err != nil {
		return false, err
	}
	defer s.unlockKey(mu)
	raw, closer, err := s.db.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	old, err := decodeRecord(raw)
	var c counts
	c.sub(len(key), old)
	_ = closer.Close()
	if err != nil {
		return false, fmt.Errorf("durable: key %q: %w", key, err)
	}
	if err := s.db.Delete(k, pebble.NoSync); err != nil {
		return false, err
	}
	s.unsynced.Store(true)
	s.addCounts(c)
	return !old.Tombstone, nil
}

// Scan implements store.Store: ScanPartitions over every partition.
func (s *Store) Scan(ctx context.Context, from store.Cursor, r sharding.HashRange, limit int) (store.Page, error) {
	return s.ScanPartitions(ctx, from, r, nil, limit)
}

// Sync returns once every write applied before the call is on disk (one
// WAL fsync, shared with concurrent callers). It fails if the WAL cannot
// be synced.
func (s *Store) Sync(context.Context) error {
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.release()
	if s.readOnly {
		return nil // nothing was written
	}
	return s.db.LogData(nil, pebble.Sync)
}

func (s *Store) syncLoop() {
	defer close(s.syncDone)
	t := time.NewTicker(s.opts.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stopSync:
			return
		case <-t.C:
			if !s.unsynced.Swap(false) {
				continue // nothing written since the last sync: no fsync
			}
			if err := s.Sync(context.Background()); err != nil && !errors.Is(err, store.ErrClosed) {
				s.unsynced.Store(true) // retried on the next tick
				s.log.Error("background WAL sync failed", "dir", s.dir, "err", err)
			}
		}
	}
}

// repeatedHashes returns the hashes that occur more than once in hashes,
// nil when none does.
func repeatedHashes(hashes []uint64) map[uint64]bool {
	if len(hashes) < 2 {
		return nil
	}
	sorted := slices.Clone(hashes)
	slices.Sort(sorted)
	var out map[uint64]bool
	for i := 1; i < len(sorted); i++ {
		if sorted[i] == sorted[i-1] {
			if out == nil {
				out = map[uint64]bool{}
			}
			out[sorted[i]] = true
		}
	}
	return out
}

// BulkBytes is the size of the keys and values of a PutMany from which
// Pebble commits it as a memtable of its own, sorted once, instead of
// inserting every key into the current memtable's skiplist: a batch over
// half a memtable. Per key that is 1.5x cheaper than runs of 512 PUTs
// (BenchmarkPutMany). The batch's encoding is larger than its keys and
// values, so a PutMany of BulkBytes of them is over the threshold.
func (s *Store) BulkBytes() int { return memTableSize / 2 }

// apply commits b to the memtable and the WAL without waiting for an fsync.
func (s *Store) apply(b *pebble.Batch) error {
	if err := s.db.Apply(b, pebble.NoSync); err != nil {
		return err
	}
	s.unsynced.Store(true)
	return nil
}

// Stats implements store.Store.
func (s *Store) Stats() store.Stats {
	return store.Stats{Keys: s.keys.Load(), Bytes: s.bytes.Load(), Tombstones: s.tombs.Load()}
}

// counts is a change of the counters of Stats.
type counts struct{ keys, bytes, tombs int64 }

// add counts a record of a key of keyLen bytes holding v.
func (c *counts) add(keyLen int, v store.Value) {
	if v.Tombstone {
		c.tombs++
		return
	}
	c.keys++
	c.bytes += int64(keyLen + len(v.Data))
}

// sub uncounts a record of a key of keyLen bytes holding v.
func (c *counts) sub(keyLen int, v store.Value) {
	if v.Tombstone {
		c.tombs--
		return
	}
	c.keys--
	c.bytes -= int64(keyLen + len(v.Data))
}

func (s *Store) addCounts(c counts) {
	s.keys.Add(c.keys)
	s.bytes.Add(c.bytes)
	s.tombs.Add(c.tombs)
}

// Close implements store.Store: it waits for running operations, flushes
// and closes the database, and marks the directory as cleanly closed.
func (s *Store) Close() error {
	if s.stopSync != nil {
		s.closeMu.RLock()
		closed := s.closed
		s.closeMu.RUnlock()
		if !closed {
			select {
			case <-s.stopSync:
			default:
				close(s.stopSync)
			}
			<-s.syncDone
		}
	}
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var err error
	if !s.readOnly {
		err = s.db.Flush()
	}
	if cerr := s.db.Close(); err == nil {
		err = cerr
	}
	if err == nil && !s.readOnly {
		var f vfs.File
		if f, err = s.fs.Create(s.fs.PathJoin(s.dir, cleanMarker), vfs.WriteCategoryUnspecified); err == nil {
			err = errors.Join(f.Sync(), f.Close())
			if d, derr := s.fs.OpenDir(s.dir); derr == nil {
				err = errors.Join(err, d.Sync(), d.Close())
			}
		}
	}
	if err != nil {
		return fmt.Errorf("durable: close %s: %w", s.dir, err)
	}
	return nil
}

// WALFiles returns the paths of the WAL files of a closed store's
// directory, oldest first (for tests and tools that inspect recovery).
func WALFiles(dir string) ([]string, error) {
	return filepath.Glob(filepath.Join(dir, "*.log"))
}

// pebbleLogger routes Pebble's log lines to slog. Fatalf still ends the
// process (Pebble's contract: it calls Fatalf only when its state is
// unrecoverable, e.g. a failed WAL write), after logging the reason.
type pebbleLogger struct{ log *slog.Logger }

func (l pebbleLogger) Infof(format string, args ...any) {
	l.log.Debug("pebble: " + fmt.Sprintf(format, args...))
}

func (l pebbleLogger) Errorf(format string, args ...any) {
	l.log.Error("pebble: " + fmt.Sprintf(format, args...))
}

func (l pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	l.log.Error("pebble: fatal: " + msg)
	fmt.Fprintln(os.Stderr, "durable: fatal storage error:", msg)
	os.Exit(70)
}

var _ io.Closer = (*Store)(nil)
