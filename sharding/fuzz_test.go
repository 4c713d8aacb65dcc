package sharding

import (
	"fmt"
	"math/big"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestKeyHashReferenceVectors(t *testing.T) {
	// Published XXH64 test vectors (seed 0), independent of the golden file.
	require.Equal(t, uint64(0xef46db3751d8e999), KeyHash(""))
	require.Equal(t, uint64(0xd24ec4f1a98c6e5b), KeyHash("a"))
	require.Equal(t, uint64(0x44bc2cf5ad770999), KeyHash("abc"))
}

// FuzzPartitionOf checks the multiply-shift reduction against exact
// big-integer arithmetic: floor(h * P / 2^64).
func FuzzPartitionOf(f *testing.F) {
	f.Add(uint64(0), uint32(1))
	f.Add(^uint64(0), uint32(DefaultPartitions))
	f.Add(uint64(1)<<63, uint32(7))
	f.Fuzz(func(t *testing.T, h uint64, parts uint32) {
		p := int(parts%MaxPartitions) + 1
		got := PartitionOf(h, p)
		want := new(big.Int).Mul(new(big.Int).SetUint64(h), big.NewInt(int64(p)))
		want.Rsh(want, 64)
		require.Equal(t, want.Int64(), int64(got))
		require.True(t, got >= 0 && got < p)
	})
}

// FuzzPlacement builds every algorithm over a fuzzed membership and checks a
// fuzzed key against the reference, then removes a fuzzed node and checks
// that the key moves only if it was on that node, and that its preference
// list only loses that node.
func FuzzPlacement(f *testing.F) {
	f.Add("key-0", uint8(3), uint8(1), uint8(5), uint8(2))
	f.Add("", uint8(1), uint8(0), uint8(1), uint8(0))
	f.Add("user:42", uint8(20), uint8(19), uint8(32), uint8(7))
	f.Fuzz(func(t *testing.T, key string, count, remove, vnodes, heavy uint8) {
		n := int(count%24) + 1
		nodes := NodesNamed(nodeNames(n)...)
		nodes[int(heavy)%n].Weight = 1 + float64(heavy%4)
		v := int(vnodes%32) + 1
		h := KeyHash(key)
		refs := map[string]func([]Node) []string{
			Consistent: func(ns []Node) []string { return refRingPrefs(ns, v, refRingPoint, h, len(ns)) },
			Rendezvous: func(ns []Node) []string { return refHRWPrefs(ns, nodeHash, h, len(ns)) },
		}
		for _, alg := range Algorithms() {
			cfg := Config{Algorithm: alg, VNodes: v}
			pl, err := NewPlacer(cfg, shuffled(nodes, uint64(remove)))
			require.NoError(t, err)
			want := refs[alg](nodes)
			require.Equal(t, want, prefNames(t, pl, h, n), alg)
			require.Equal(t, want[0], pl.Nodes()[pl.Owner(h)].Name, alg)
			if n == 1 {
				continue
			}
			gone := nodes[int(remove)%n].Name
			rest := without(nodes, gone)
			pl2, err := NewPlacer(cfg, rest)
			require.NoError(t, err)
			got := prefNames(t, pl2, h, n-1)
			require.Equal(t, filterOut(want, gone), got, "%s: removing %s", alg, gone)
			require.False(t, slices.Contains(got, gone), fmt.Sprint(alg))
		}
	})
}
