package sharding

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// testKeyCount is the size of the fixed key set the bounds are asserted on.
func testKeyCount() int {
	if testing.Short() {
		return 100_000
	}
	return 1_000_000
}

var (
	keyMu    sync.Mutex
	keyCache = map[int][]uint64{}
)

// testHashes returns the hashes of "key-0".."key-<n-1>", computed once.
func testHashes(n int) []uint64 {
	keyMu.Lock()
	defer keyMu.Unlock()
	if hs, ok := keyCache[n]; ok {
		return hs
	}
	hs := make([]uint64, n)
	for i := range hs {
		hs[i] = KeyHash(fmt.Sprintf("key-%d", i))
	}
	keyCache[n] = hs
	return hs
}

// nodeNames returns node-0..node-<n-1>.
func nodeNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("node-%d", i)
	}
	return out
}

func shuffled(nodes []Node, seed uint64) []Node {
	out := slices.Clone(nodes)
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

func without(nodes []Node, name string) []Node {
	return slices.DeleteFunc(slices.Clone(nodes), func(n Node) bool { return n.Name == name })
}

// ownerNames returns, for every hash, the name of its owner.
func ownerNames(pl Placer, hs []uint64) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = pl.Nodes()[pl.Owner(h)].Name
	}
	return out
}

// loads counts the hashes each node owns, indexed as pl.Nodes().
func loads(pl Placer, hs []uint64) []int {
	c := make([]int, len(pl.Nodes()))
	for _, h := range hs {
		c[pl.Owner(h)]++
	}
	return c
}

// peakTrough returns max/mean and min/mean of c.
func peakTrough(c []int) (peak, trough float64) {
	total := 0
	for _, x := range c {
		total += x
	}
	mean := float64(total) / float64(len(c))
	return float64(slices.Max(c)) / mean, float64(slices.Min(c)) / mean
}

func prefNames(t *testing.T, pl Placer, h uint64, n int) []string {
	t.Helper()
	p := pl.AppendPrefs(nil, h, n)
	require.Len(t, p, min(n, len(pl.Nodes())))
	return names(pl, p)
}

func filterOut(list []string, name string) []string {
	return slices.DeleteFunc(slices.Clone(list), func(s string) bool { return s == name })
}
