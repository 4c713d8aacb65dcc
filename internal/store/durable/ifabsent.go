package durable

import (
	"context"

	"github.com/zshard/zshard/internal/store"
)

// PutIfAbsent implements store.Store: under the key's lock stripe (the
// one Put and Delete take), it writes only when the key has no record (a
// tombstone is one).
func (s *Store) PutIfAbsent(_ context.Context, key string, v store.Value) (bool, error) {
	return s.writeOne(key, v, ifAbsent)
}
