package durable

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// aliveKey is the meta key of MarkAlive: shorter than a record's key and
// made of zero bytes, it sorts before every record (see Store).
var aliveKey = []byte{0}

// MarkAlive records t as the last time the store's node was known to be
// up, durably (one WAL fsync): a node calls it periodically, so that after
// a restart LastAlive tells how long it was away. The zero t erases the
// record. Like a write, it fails with ErrReadOnly or ErrDiskFull.
func (s *Store) MarkAlive(t time.Time) error {
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.release()
	if err := s.writable(); err != nil {
		return err
	}
	if t.IsZero() {
		return s.db.Delete(aliveKey, pebble.Sync)
	}
	return s.db.Set(aliveKey, binary.BigEndian.AppendUint64(nil, uint64(t.UnixNano())), pebble.Sync)
}

// LastAlive returns the time last recorded by MarkAlive, or the zero time
// if none was.
func (s *Store) LastAlive() (time.Time, error) {
	if err := s.acquire(); err != nil {
		return time.Time{}, err
	}
	defer s.release()
	v, closer, err := s.db.Get(aliveKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	defer closer.Close()
	if len(v) != 8 {
		return time.Time{}, fmt.Errorf("%w: last-alive record %x", ErrCorrupt, v)
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(v))), nil
}
