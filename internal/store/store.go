package store

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"

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
)

// Value is a stored value: opaque bytes plus the codec tag they were
// written with. Data returned by a Store is read-only and stays valid after
// the key is overwritten or deleted.
type Value struct {
	Codec uint8
	Data  []byte
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
	Keys  int64 // number of keys
	Bytes int64 // sum of len(key)+len(value) over all keys
}

// Store is the storage engine of a node. Implementations are safe for
// concurrent use by any number of goroutines. Keys and value bytes passed
// in are copied; value bytes returned are read-only.
type Store interface {
	// Put stores v under key, replacing any previous value.
	Put(ctx context.Context, key string, v Value) error
	// PutIfAbsent stores v under key only when key is absent, atomically
	// with that check; stored reports whether it did.
	PutIfAbsent(ctx context.Context, key string, v Value) (stored bool, err error)
	// Get returns the value of key; ok is false when key is absent.
	Get(ctx context.Context, key string) (v Value, ok bool, err error)
	// Delete removes key; existed reports whether it was present.
	Delete(ctx context.Context, key string) (existed bool, err error)
	// Scan returns up to limit entries of r in scan order strictly after
	// from (limit <= 0 means no limit).
	Scan(ctx context.Context, from Cursor, r sharding.HashRange, limit int) (Page, error)
	// ScanPartitions is Scan restricted to the keys whose partition is in
	// set; a nil set restricts nothing. One call reads the store once over
	// r, however many partitions set holds.
	ScanPartitions(ctx context.Context, from Cursor, r sharding.HashRange, set *sharding.PartitionSet, limit int) (Page, error)
	// DeletePartitions deletes the keys ScanPartitions with the same
	// arguments would return, and returns how many it deleted and where to
	// continue: next is the last key it deleted (from when none), and done
	// is true when no key of r and set follows. Keys written meanwhile may
	// or may not be deleted.
	DeletePartitions(ctx context.Context, from Cursor, r sharding.HashRange, set *sharding.PartitionSet, limit int) (deleted int, next Cursor, done bool, err error)
	// Stats returns the current key count and byte size.
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
