package durable

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/zshard/zshard/internal/store"
	"github.com/zshard/zshard/sharding"
)

// ScanPartitions implements store.Store: one bounded Pebble iteration over
// r that seeks over the partitions not in set (nil: every partition)
// instead of reading them.
func (s *Store) ScanPartitions(ctx context.Context, from store.Cursor, r sharding.HashRange, set *sharding.PartitionSet, limit int) (store.Page, error) {
	return s.scan(ctx, from, r, set, limit, false)
}

// ScanRecords implements store.Store, as ScanPartitions.
func (s *Store) ScanRecords(ctx context.Context, from store.Cursor, r sharding.HashRange, set *sharding.PartitionSet, limit int) (store.Page, error) {
	return s.scan(ctx, from, r, set, limit, true)
}

func (s *Store) scan(ctx context.Context, from store.Cursor, r sharding.HashRange, set *sharding.PartitionSet, limit int, tombstones bool) (store.Page, error) {
	if err := s.acquire(); err != nil {
		return store.Page{}, err
	}
	defer s.release()
	var page store.Page
	done, err := s.walk(ctx, from, r, set, limit, tombstones, func(k []byte, v store.Value) {
		if !v.Tombstone {
			v.Data = append([]byte(nil), v.Data...)
		}
		page.Entries = append(page.Entries, store.Entry{
			Key:   string(k[8:]),
			Hash:  binary.BigEndian.Uint64(k),
			Value: v,
		})
	})
	if err != nil {
		return store.Page{}, err
	}
	page.Done = done
	page.Next = from
	if n := len(page.Entries); n > 0 {
		last := page.Entries[n-1]
		page.Next = store.Cursor{Hash: last.Hash, Key: last.Key, Started: true}
	}
	return page, nil
}

// DeletePartitions implements store.Store. It reads the keys a
// ScanRecords page would return, then deletes them in one Pebble batch
// per lock stripe (keys come in hash order, so each stripe's keys are
// consecutive), reading each key again under its stripe's lock so that the
// key count, byte size and tombstone count stay exact.
func (s *Store) DeletePartitions(ctx context.Context, from store.Cursor, r sharding.HashRange, set *sharding.PartitionSet, limit int) (int, store.Cursor, bool, error) {
	if err := s.acquire(); err != nil {
		return 0, from, false, err
	}
	defer s.release()
	if err := s.writable(); err != nil {
		return 0, from, false, err
	}
	var keys [][]byte
	done, err := s.walk(ctx, from, r, set, limit, true, func(k []byte, _ store.Value) {
		keys = append(keys, append([]byte(nil), k...))
	})
	if err != nil {
		return 0, from, false, err
	}
	deleted, next, err := s.deleteKeys(keys, nil)
	if next.Started {
		from = next
	}
	if err != nil {
		return deleted, from, false, err
	}
	return deleted, from, done, nil
}

// deleteKeys deletes the records of the encoded keys, in scan order, that
// drop accepts (nil: every record), in one batch per lock stripe under that
// stripe's lock. It returns how many it deleted and the last key it was
// given of the last stripe it finished (the zero Cursor if none).
func (s *Store) deleteKeys(keys [][]byte, drop func(store.Value) bool) (int, store.Cursor, error) {
	deleted := 0
	var last store.Cursor
	for len(keys) > 0 {
		stripe := keys[0][0] // h>>56, the lock stripe of Put and Delete
		n := 1
		for n < len(keys) && keys[n][0] == stripe {
			n++
		}
		d, err := s.deleteLocked(stripe, keys[:n], drop)
		deleted += d
		if err != nil {
			return deleted, last, err
		}
		k := keys[n-1]
		last = store.Cursor{Hash: binary.BigEndian.Uint64(k), Key: string(k[8:]), Started: true}
		keys = keys[n:]
	}
	return deleted, last, nil
}

// deleteLocked deletes the records of the encoded keys, all of lock stripe
// stripe, that drop accepts (nil: every record), in one batch under that
// stripe's lock.
func (s *Store) deleteLocked(stripe byte, keys [][]byte, drop func(store.Value) bool) (int, error) {
	mu := &s.locks[stripe]
	mu.Lock()
	defer mu.Unlock()
	b := s.db.NewBatch()
	defer b.Close()
	var c counts
	n := 0
	for _, k := range keys {
		raw, closer, err := s.db.Get(k)
		if errors.Is(err, pebble.ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return 0, err
		}
		old, err := decodeRecord(raw)
		keep := err == nil && drop != nil && !drop(old)
		c.sub(len(k)-8, old)
		_ = closer.Close()
		if err != nil {
			return 0, fmt.Errorf("durable: key %q: %w", k[8:], err)
		}
		if keep {
			c.add(len(k)-8, old)
			continue
		}
		if err := b.Delete(k, nil); err != nil {
			return 0, err
		}
		n++
	}
	if n == 0 {
		return 0, nil
	}
	if err := s.apply(b); err != nil {
		return 0, err
	}
	s.addCounts(c)
	return n, nil
}

// PurgeTombstones implements store.Store: it reads every record, in pages
// of a fresh Pebble iteration each (a Close waits for one page, not for
// the whole purge), and deletes the page's old tombstones under their
// lock stripes, checking each again there (a write may have replaced it
// meanwhile).
func (s *Store) PurgeTombstones(ctx context.Context, beforeMillis int64) (int, error) {
	purged := 0
	var from store.Cursor
	for {
		n, next, done, err := s.purgePage(ctx, from, beforeMillis)
		purged += n
		if err != nil || done {
			return purged, err
		}
		from = next
	}
}

// purgePage is one page of PurgeTombstones, from after from.
func (s *Store) purgePage(ctx context.Context, from store.Cursor, beforeMillis int64) (int, store.Cursor, bool, error) {
	const page = 4096 // records read per iteration
	if err := ctx.Err(); err != nil {
		return 0, from, false, err
	}
	if err := s.acquire(); err != nil {
		return 0, from, false, err
	}
	defer s.release()
	if err := s.writable(); err != nil {
		return 0, from, false, err
	}
	old := func(v store.Value) bool { return v.Tombstone && v.Version.Millis() < beforeMillis }
	var keys [][]byte
	var last []byte
	done, err := s.walk(ctx, from, sharding.HashRange{}, nil, page, true, func(k []byte, v store.Value) {
		last = append(last[:0], k...)
		if old(v) {
			keys = append(keys, append([]byte(nil), k...))
		}
	})
	if err != nil {
		return 0, from, false, err
	}
	n, _, err := s.deleteKeys(keys, old)
	if err != nil || done || last == nil {
		return n, from, true, err
	}
	return n, store.Cursor{Hash: binary.BigEndian.Uint64(last), Key: string(last[8:]), Started: true}, false, nil
}

// walk calls fn with the Pebble key and the decoded record of up to limit
// records of r and set after from, in order, seeking over partitions not
// in set (a nil set holds all), and skipping (and not counting) the
// tombstones unless tombstones is set. done is true when no record of r
// and set follows them. The key and the value's data passed to fn are
// valid only during the call.
func (s *Store) walk(ctx context.Context, from store.Cursor, r sharding.HashRange, set *sharding.PartitionSet, limit int, tombstones bool, fn func(k []byte, v store.Value)) (done bool, err error) {
	lower := binary.BigEndian.AppendUint64(nil, r.From)
	if from.Started {
		// The successor of (hash, key) in bytewise order is key+"\x00".
		after := append(encodeKey(nil, from.Hash, from.Key), 0)
		if string(after) > string(lower) {
			lower = after
		}
	}
	iopts := &pebble.IterOptions{LowerBound: lower}
	if r.To != 0 {
		iopts.UpperBound = binary.BigEndian.AppendUint64(nil, r.To)
		if string(iopts.UpperBound) <= string(lower) {
			return true, nil
		}
	}
	it, err := s.db.NewIter(iopts)
	if err != nil {
		return false, err
	}
	defer it.Close()
	var seek [8]byte
	n, visited := 0, 0
	ok := it.First()
	for ok {
		if limit > 0 && n == limit {
			return false, it.Error()
		}
		k := it.Key()
		if len(k) < 9 {
			return false, fmt.Errorf("%w: key %x", ErrCorrupt, k)
		}
		if set != nil {
			if p := set.Of(binary.BigEndian.Uint64(k)); !set.Has(p) {
				q := set.Next(p + 1)
				if q < 0 {
					break
				}
				binary.BigEndian.PutUint64(seek[:], sharding.PartitionRange(q, set.N).From)
				ok = it.SeekGE(seek[:])
				continue
			}
		}
		if visited++; visited&1023 == 0 && ctx.Err() != nil {
			return false, ctx.Err()
		}
		raw, err := it.ValueAndErr()
		if err != nil {
			return false, err
		}
		v, err := decodeRecord(raw)
		if err != nil {
			return false, fmt.Errorf("key %x: %w", k, err)
		}
		if tombstones || !v.Tombstone {
			fn(k, v)
			n++
		}
		ok = it.Next()
	}
	return true, it.Error()
}
