package durable

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/zshard/zshard/internal/hlc"
	"github.com/zshard/zshard/internal/store"
	"github.com/zshard/zshard/sharding"
)

// writeMode is what decides whether a write of a key replaces its record.
type writeMode uint8

const (
	always   writeMode = iota // Put: whatever is stored
	ifAbsent                  // PutIfAbsent: only when the key has no record
	ifNewer                   // Apply: unless the stored version is newer
)

// stored is what a write needs to know of the record a key holds.
type stored struct {
	found   bool
	tomb    bool
	dataLen int
	version hlc.Version
}

// admits reports whether a write of v in mode replaces o.
func (o stored) admits(v store.Value, mode writeMode) bool {
	switch {
	case !o.found:
		return true
	case mode == ifAbsent:
		return false
	case mode == ifNewer:
		return v.Version.Compare(o.version) >= 0
	}
	return true
}

// replace counts v replacing o under a key of keyLen bytes.
func (c *counts) replace(keyLen int, o stored, v store.Value) {
	if o.found {
		if o.tomb {
			c.tombs--
		} else {
			c.keys--
			c.bytes -= int64(keyLen + o.dataLen)
		}
	}
	c.add(keyLen, v)
}

// storedAt reads the record of the encoded key k of hash h, skipping the
// read when the key filter says the key was never stored. The caller holds
// the key's lock stripe.
func (s *Store) storedAt(k []byte, h uint64) (stored, error) {
	if !s.filter.mayContain(h) {
		return stored{}, nil
	}
	raw, closer, err := s.db.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return stored{}, nil
	}
	if err != nil {
		return stored{}, err
	}
	defer closer.Close()
	v, err := decodeRecord(raw)
	if err != nil {
		return stored{}, fmt.Errorf("durable: key %q: %w", k[8:], err)
	}
	return stored{found: true, tomb: v.Tombstone, dataLen: len(v.Data), version: v.Version}, nil
}

// writeOne writes v under key, under the key's lock stripe, when mode
// admits it over the stored record; it reports whether it did.
func (s *Store) writeOne(key string, v store.Value, mode writeMode) (bool, error) {
	if key == "" {
		return false, store.ErrEmptyKey
	}
	if err := s.acquire(); err != nil {
		return false, err
	}
	defer s.release()
	if err := s.writable(); err != nil {
		return false, err
	}
	v = normalize(v)
	h := sharding.KeyHash(key)
	var kbuf [64]byte
	k := encodeKey(kbuf[:0], h, key)
	b := s.db.NewBatch()
	defer b.Close()
	setValue(b, k, v)

	mu := &s.locks[h>>56]
	mu.Lock()
	defer mu.Unlock()
	old, err := s.storedAt(k, h)
	if err != nil {
		return false, err
	}
	if !old.admits(v, mode) {
		return false, nil
	}
	if err := s.apply(b); err != nil {
		return false, err
	}
	if !old.found {
		s.filter.add(h) // under the stripe lock: the next write of key sees it
	}
	var c counts
	c.replace(len(key), old, v)
	s.addCounts(c)
	return true, nil
}

// Apply implements store.Store: under the key's lock stripe, the read of
// the stored record (which Put does too, to keep the counters exact), the
// version comparison and the write.
func (s *Store) Apply(_ context.Context, key string, v store.Value) (bool, error) {
	return s.writeOne(key, v, ifNewer)
}

// PutMany is ApplyMany without the results: it stores every entry's Value
// under its Key (Hash is ignored) in one Pebble commit, unless the key
// holds a newer version, as that many Applies in order would, at a
// fraction of their cost. With values of zero version, as long as nothing
// versioned is stored, that is as that many Puts: a later entry of a key
// wins. Nothing is stored if a key is empty.
func (s *Store) PutMany(ctx context.Context, entries []store.Entry) error {
	return s.ApplyMany(ctx, entries, nil)
}

// ApplyMany implements store.Store: one Pebble commit, under the lock
// stripes of all the entries' keys (taken in ascending order, as no other
// path takes two). Each key's stored record is read as Apply reads it,
// unless the key filter says the key was never stored: a bulk load of new
// keys reads nothing.
func (s *Store) ApplyMany(_ context.Context, entries []store.Entry, applied []bool) error {
	if applied != nil && len(applied) != len(entries) {
		return fmt.Errorf("%w: %d results for %d entries", store.ErrResultsLength, len(applied), len(entries))
	}
	for i := range entries {
		if entries[i].Key == "" {
			return store.ErrEmptyKey
		}
	}
	if len(entries) == 0 {
		return nil
	}
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.release()
	if err := s.writable(); err != nil {
		return err
	}
	hashes := make([]uint64, len(entries))
	var stripes [lockStripes / 64]uint64
	size := 12 // of the Pebble batch (its header, then each record), a little over
	for i := range entries {
		hashes[i] = sharding.KeyHash(entries[i].Key)
		st := hashes[i] >> 56
		stripes[st/64] |= 1 << (st % 64)
		size += len(entries[i].Key) + recordLen(normalize(entries[i].Value)) + 8 + 1 + 2*binary.MaxVarintLen32
	}
	for st := range lockStripes {
		if stripes[st/64]&(1<<(st%64)) != 0 {
			s.locks[st].Lock()
			defer s.locks[st].Unlock()
		}
	}
	b := s.db.NewBatchWithSize(size) // not grown by copying as it fills
	defer b.Close()
	// A key written twice in this batch is not in the database yet at its
	// second write; inBatch remembers its record. Only keys whose hash
	// repeats in the batch can be such: a sorted copy of the hashes finds
	// them without a map of every key of a large batch.
	repeats := repeatedHashes(hashes)
	var inBatch map[string]stored
	if len(repeats) > 0 {
		inBatch = map[string]stored{}
	}
	var kbuf [64]byte
	var c counts
	fresh := make([]bool, len(entries))
	for i := range entries {
		e, h := &entries[i], hashes[i]
		v := normalize(e.Value)
		k := encodeKey(kbuf[:0], h, e.Key)
		repeated := repeats[h]
		var old stored
		ok := false
		if repeated {
			old, ok = inBatch[e.Key]
		}
		if !ok {
			var err error
			if old, err = s.storedAt(k, h); err != nil {
				return err
			}
		}
		if applied != nil {
			applied[i] = false
		}
		if !old.admits(v, ifNewer) {
			if repeated {
				inBatch[e.Key] = old
			}
			continue
		}
		setValue(b, k, v)
		if repeated {
			inBatch[e.Key] = stored{found: true, tomb: v.Tombstone, dataLen: len(v.Data), version: v.Version}
		}
		fresh[i] = !old.found
		c.replace(len(e.Key), old, v)
		if applied != nil {
			applied[i] = true
		}
	}
	if b.Empty() {
		return nil
	}
	if err := s.apply(b); err != nil {
		if applied != nil {
			clear(applied)
		}
		return err
	}
	for i, f := range fresh {
		if f {
			s.filter.add(hashes[i]) // under the stripe locks
		}
	}
	s.addCounts(c)
	return nil
}
