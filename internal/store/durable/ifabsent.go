package durable

import (
	"context"
	"errors"

	"github.com/cockroachdb/pebble/v2"

	"github.com/zshard/zshard/internal/store"
)

// PutIfAbsent implements store.Store: under the key's lock stripe (the
// one Put and Delete take), it writes only when the key is not there.
func (s *Store) PutIfAbsent(_ context.Context, key string, v store.Value) (bool, error) {
	var kbuf [64]byte
	k, h, mu, err := s.lockKey(key, kbuf[:0])
	if err != nil {
		return false, err
	}
	defer s.unlockKey(mu)
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
	setValue(b, k, v)
	if err := s.apply(b); err != nil {
		return false, err
	}
	s.filter.add(h) // under the stripe lock, as in Put
	s.keys.Add(1)
	s.bytes.Add(int64(len(key) + len(v.Data)))
	return true, nil
}
