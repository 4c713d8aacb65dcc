package storetest

import (
	"context"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/store"
	"github.com/zshard/zshard/sharding"
)

// Fill puts n keys ("k0", "k1", ...) with values drawn from rng, their
// codecs alternating 0 and 1, into every store of stores, and returns them.
func Fill(t testing.TB, rng *rand.Rand, n int, stores ...store.Store) map[string]store.Value {
	t.Helper()
	ctx := context.Background()
	ref := make(map[string]store.Value, n)
	for i := range n {
		k := "k" + strconv.Itoa(i)
		v := store.Value{Codec: uint8(i % 2), Data: []byte(strconv.Itoa(rng.Int()))}
		for _, s := range stores {
			require.NoError(t, s.Put(ctx, k, v))
		}
		ref[k] = v
	}
	return ref
}

// RandomPartitionSet returns a set of n partitions holding each one with
// probability 1/3, drawn from rng.
func RandomPartitionSet(rng *rand.Rand, n int) *sharding.PartitionSet {
	set := sharding.NewPartitionSet(n)
	for p := range n {
		if rng.IntN(3) == 0 {
			set.Add(p)
		}
	}
	return set
}
