package durable

import (
	"context"
	"errors"

	"github.com/cockroachdb/pebble/v2"

	"github.com/zshard/zshard/internal/store"
	"github.com/zshard/zshard/sharding"
)

// PutIfAbsent implements store.Store: under the key's lock stripe (the
// one Put and Delete take), it writes only when the key is not there.
func (s *Store) PutIfAbsent(_ context.Context, key string, v store.Value) (bool, error) {
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
	h := sharding.KeyHash(key)
	var kbuf [64]byte
	k := encodeKey(kbuf[:0], h, key)
	mu := &s.locks[h>>56]
	mu.Lock()
	defer mu.Unlock()
	_, closer, err := s.db.Get(k)
	if err == nil {
		_ = closer.Close()
		return false, nil
	}
	if !errors.Is(err, pebble.ErrNotFound) {
		return false, err
	}
	b := s.db.NewBatch()
	defer b.Close()
	op := b.SetDeferred(len(k), 1+len(v.Data))
	copy(op.Key, k)
	op.Value[0] = v.Codec
	copy(op.Value[1:], v.Data)
	op.Finish()
	if err := s.apply(b); err != nil {
		return false, err
	}
	s.filter.add(h) // under the stripe lock, as in Put
	s.keys.Add(1)
	s.bytes.Add(int64(len(key) + len(v.Data)))
	return true, nil
}
