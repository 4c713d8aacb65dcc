package sharding

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

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

func prefNames(t *testing.T, pl Placer, h uint64, n int) []string {
	t.Helper()
	p := pl.AppendPrefs(nil, h, n)
	require.Len(t, p, min(n, len(pl.Nodes())))
	return names(pl, p)
}

func filterOut(list []string, name string) []string {
	return slices.DeleteFunc(slices.Clone(list), func(s string) bool { return s == name })
}
