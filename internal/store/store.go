package store

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/zshard/zshard/internal/hlc"
	"github.com/zshard/zshard/sharding"
)

// Sentinel errors.
var (
	// ErrClosed is returned by every method of a closed store.
	ErrClosed = errors.New("store: closed")
	// ErrEmptyKey is returned for an empty key.
	ErrEmptyKey = errors.New("store: empty key")
	// ErrFull is returned by Put when a stripe of a Memory store has no
	// room left for the record (see Memory).
	ErrFull = errors.New("store: stripe full")
	// ErrBadCursor is returned by ParseCursor for a malformed cursor.
	ErrBadCursor = errors.New("store: malformed cursor")
	// ErrResultsLength is returned by ApplyMany when its applied slice is
	// neither nil nor as long as its entries.
	ErrResultsLength = errors.New("store: len(applied) != len(entries)")
)

// Value is a stored record: opaque bytes plus the codec tag they were
// written with, the version of the write, or a tombstone (the record of a
// delete). Data returned by a Store is read-only and stays valid after the
// key is overwritten or deleted.
type Value struct {
	Codec uint8
	// Tombstone marks a delete: Data is empty and Codec 0. A store keeps a
	// tombstone (with its Version) so that an older write of the key that
	// arrives later loses to it; Get and the scans skip it. A store writes
	// a tombstone without Data and with Codec 0, whatever v holds. (It
	// sits next to Codec: a Value is 48 bytes, not 56.)
	Tombstone bool
	Data      []byte
	// Version is the write's version; zero for values written without one.
	// A zero Version is older than every other (hlc.Version).
	Version hlc.Version
}

// Entry is one key, its hash and its value, as returned by Scan.
type Entry struct {
	Key   string
	Hash  uint64
	Value Value
}

// Cursor is a position in scan order. A scan returns entries strictly
// after it; the zero Cursor is the position before the first key.
type Cursor struct {
	Hash    uint64
	Key     string
	Started bool // false: before every key
}

// String encodes c for the wire: "" for the zero Cursor, else 16 hex
// digits of the hash followed by the key.
func (c Cursor) String() string {
	if !c.Started {
		return ""
	}
	return hex.EncodeToString(binary.BigEndian.AppendUint64(nil, c.Hash)) + c.Key
}

// ParseCursor decodes a cursor written by Cursor.String.
func ParseCursor(s string) (Cursor, error) {
	if s == "" {
		return Cursor{}, nil
	}
	if len(s) < 16 {
		return Cursor{}, fmt.Errorf("%w: %q", ErrBadCursor, s)
	}
	var h uint64
	for i := range 16 {
		c := s[i]
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		default:
			return Cursor{}, fmt.Errorf("%w: %q", ErrBadCursor, s)
		}
		h = h<<4 | uint64(d)
	}
	return Cursor{Hash: h, Key: s[16:], Started: true}, nil
}

// Page is one page of a scan.
type Page struct {
	Entries []Entry
	// Next is the cursor to continue from; meaningless when Done.
	Next Cursor
	// Done is true when no key in the range follows the page.
	Done bool
}

// Stats describes the contents of a store.
type Stats struct {
	Keys       int64 // number of keys holding a value (tombstones excluded)
	Bytes      int64 // sum of len(key)+len(value) over those keys
	Tombstones int64 // number of keys holding a tombstone
}

// Store is the storage engine of a node. Implementations are safe for
// concurrent use by any number of goroutines. Keys and value bytes passed
// in are copied; value bytes returned are read-only.
//
// A key holds at most one record: a value or a tombstone, each with the
// version of its write (Value). Put, PutIfAbsent, Get, Delete, the scans
// and DeletePartitions treat a tombstone as an absent key, except where
// their doc says otherwise; Apply, ApplyMany, Lookup and ScanRecords see
// records, for last-writer-wins replication.
type Store interface {
	// Put stores v (a value or a tombstone, with v.Version as given) under
	// key, replacing any previous record whatever its version.
	Put(ctx context.Context, key string, v Value) error
	// PutIfAbsent stores v under key only when key has no record at all,
	// atomically with that check; stored reports whether it did. A
	// tombstone is a record: a delete happened, and v is not stored.
	PutIfAbsent(ctx context.Context, key string, v Value) (stored bool, err error)
	// Get returns the value of key; ok is false when key is absent or
	// holds a tombstone.
	Get(ctx context.Context, key string) (v Value, ok bool, err error)
	// Delete removes the record of key (a value or a tombstone) for good;
	// existed reports whether it was a value.
	Delete(ctx context.Context, key string) (existed bool, err error)
	// Scan returns up to limit values of r in scan order strictly after
	// from (limit <= 0 means no limit), skipping tombstones.
	Scan(ctx context.Context, from Cursor, r sharding.HashRange, limit int) (Page, error)
	// ScanPartitions is Scan restricted to the keys whose partition is in
	// set; a nil set restricts nothing. One call reads the store once over
	// r, however many partitions set holds.
	ScanPartitions(ctx context.Context, from Cursor, r sharding.HashRange, set *sharding.PartitionSet, limit int) (Page, error)
	// DeletePartitions deletes the records (values and tombstones)
	// ScanRecords with the same arguments would return, and returns how
	// many it deleted and where to continue: next is the last key it
	// deleted (from when none), and done is true when no key of r and set
	// follows. Keys written meanwhile may or may not be deleted.
	DeletePartitions(ctx context.Context, from Cursor, r sharding.HashRange, set *sharding.PartitionSet, limit int) (deleted int, next Cursor, done bool, err error)
	// Apply stores v (a value or a tombstone) under key when key has no
	// record or v.Version.Compare(stored.Version) >= 0: the last writer
	// wins, and an equal version re-applies the same write, so writes
	// without versions behave as Put as long as nothing versioned is
	// stored. applied reports whether it stored v. The check and the write
	// are atomic.
	Apply(ctx context.Context, key string, v Value) (applied bool, err error)
	// ApplyMany is Apply of each entry's Value under its Key (Hash is
	// ignored), in order (a later entry of a key is compared with an
	// earlier one), in one commit where the engine can. applied is nil
	// or as long as entries (else ErrResultsLength); applied[i] reports
	// whether entries[i] was stored. Nothing is stored if a key is empty.
	ApplyMany(ctx context.Context, entries []Entry, applied []bool) error
	// Lookup is Get that also returns a tombstone (v.Tombstone true, ok
	// true).
	Lookup(ctx context.Context, key string) (v Value, ok bool, err error)
	// ScanRecords is ScanPartitions that also returns tombstones
	// (Entry.Value.Tombstone); limit counts both.
	ScanRecords(ctx context.Context, from Cursor, r sharding.HashRange, set *sharding.PartitionSet, limit int) (Page, error)
	// PurgeTombstones removes for good the tombstones whose version's
	// Millis() is below beforeMillis, and returns how many it removed. It
	// reads the whole store.
	PurgeTombstones(ctx context.Context, beforeMillis int64) (purged int, err error)
	// Stats returns the current key count, byte size and tombstone count.
	Stats() Stats
	// Close releases the store; later calls fail with ErrClosed. Close is
	// idempotent.
	Close() error
}

// Less reports whether entry (ha, ka) precedes (hb, kb) in scan order.
func Less(ha uint64, ka string, hb uint64, kb string) bool {
	if ha != hb {
		return ha < hb
	}
	return ka < kb
}
