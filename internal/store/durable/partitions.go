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
	if err := s.acquire(); err != nil {
		return store.Page{}, err
	}
	defer s.release()
	var page store.Page
	done, err := s.walk(ctx, from, r, set, limit, func(k, v []byte) {
		page.Entries = append(page.Entries, store.Entry{
			Key:   string(k[8:]),
			Hash:  binary.BigEndian.Uint64(k),
			Value: store.Value{Codec: v[0], Data: append([]byte(nil), v[1:]...)},
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
// ScanPartitions page would return, then deletes them in one Pebble batch
// per lock stripe (keys come in hash order, so each stripe's keys are
// consecutive), reading each key again under its stripe's lock so that the
// key count and byte size stay exact.
func (s *Store) DeletePartitions(ctx context.Context, from store.Cursor, r sharding.HashRange, set *sharding.PartitionSet, limit int) (int, store.Cursor, bool, error) {
	if err := s.acquire(); err != nil {
		return 0, from, false, err
	}
	defer s.release()
	if err := s.writable(); err != nil {
		return 0, from, false, err
	}
	var keys [][]byte
	done, err := s.walk(ctx, from, r, set, limit, func(k, _ []byte) {
		keys = append(keys, append([]byte(nil), k...))
	})
	if err != nil {
		return 0, from, false, err
	}
	deleted := 0
	for len(keys) > 0 {
		stripe := keys[0][0] // h>>56, the lock stripe of Put and Delete
		n := 1
		for n < len(keys) && keys[n][0] == stripe {
			n++
		}
		d, err := s.deleteLocked(stripe, keys[:n])
		deleted += d
		if err != nil {
			return deleted, from, false, err
		}
		last := keys[n-1]
		from = store.Cursor{Hash: binary.BigEndian.Uint64(last), Key: string(last[8:]), Started: true}
		keys = keys[n:]
	}
	return deleted, from, done, nil
}

// deleteLocked deletes the encoded keys, all of lock stripe stripe, in one
// batch under that stripe's lock.
func (s *Store) deleteLocked(stripe byte, keys [][]byte) (int, error) {
	mu := &s.locks[stripe]
	mu.Lock()
	defer mu.Unlock()
	b := s.db.NewBatch()
	defer b.Close()
	var n, size int64
	for _, k := range keys {
		old, closer, err := s.db.Get(k)
		if errors.Is(err, pebble.ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return 0, err
		}
		size += int64(len(k)-8) + int64(len(old)-1)
		_ = closer.Close()
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
	s.keys.Add(-n)
	s.bytes.Add(-size)
	return int(n), nil
}

// walk calls fn with the Pebble key and value of up to limit records of r
// and set after from, in order, seeking over partitions not in set (a nil
// set holds all). done is true when no record of r and set follows them.
// The slices passed to fn are valid only during the call.
func (s *Store) walk(ctx context.Context, from store.Cursor, r sharding.HashRange, set *sharding.PartitionSet, limit int, fn func(k, v []byte)) (done bool, err error) {
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
	n := 0
	ok := it.First()
	for ok {
		if limit > 0 && n == limit {
			return false, it.Error()
		}
		k := it.Key()
		if len(k) < 9 {
			return false, fmt.Errorf("durable: malformed record %x", k)
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
		if n&1023 == 1023 && ctx.Err() != nil {
			return false, ctx.Err()
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return false, err
		}
		if len(v) == 0 {
			return false, fmt.Errorf("durable: malformed record %x", k)
		}
		fn(k, v)
		n++
		ok = it.Next()
	}
	return true, it.Error()
}
