package main

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/zshard/zshard/sharding"
)

var benchKeys = sync.OnceValues(func() ([]string, [][]byte) { return makeKeys(1 << 20) })

var sink string

// BenchmarkLocate routes one key to its node, over 2^20 distinct keys.
func BenchmarkLocate(b *testing.B) {
	keys, raw := benchKeys()
	mask := len(keys) - 1
	for _, p := range peers {
		for _, n := range []int{10, 100} {
			name := strings.NewReplacer("/", "_", " ", "", "(", "-", ")", "").Replace(p.name)
			b.Run(fmt.Sprintf("%s/nodes=%d", name, n), func(b *testing.B) {
				r := p.build(nodeNames(n))
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; b.Loop(); i++ {
					sink = r.locate(keys[i&mask], raw[i&mask])
				}
			})
		}
	}
}

// TestPeers checks every adapter returns members, and that zshard's
// algorithms move nothing between surviving nodes.
func TestPeers(t *testing.T) {
	keys, raw := makeKeys(20_000)
	for _, p := range peers {
		t.Run(p.name, func(t *testing.T) {
			nodes := nodeNames(10)
			for i, o := range owners(p.build(nodes), keys, raw) {
				if !slices.Contains(nodes, o) {
					t.Fatalf("key %d on %q, not a member", i, o)
				}
			}
			if strings.HasPrefix(p.name, "zshard/") {
				if s := measure(p, 10, keys, raw); s.survivorMoves != 0 {
					t.Fatalf("%d keys moved between survivors", s.survivorMoves)
				}
			}
		})
	}
}

// BenchmarkLocateDirect routes one key with zshard's partition table
// called directly, as the producer does, over the keys of BenchmarkLocate:
// the figure BenchmarkLocate's adapters add an indirect call to.
func BenchmarkLocateDirect(b *testing.B) {
	keys, _ := benchKeys()
	mask := len(keys) - 1
	for _, alg := range []string{sharding.Consistent, sharding.Rendezvous} {
		for _, n := range []int{10, 100} {
			b.Run(fmt.Sprintf("zshard_%s_table/nodes=%d", alg, n), func(b *testing.B) {
				t := zshardTableOf(alg, nodeNames(n))
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; b.Loop(); i++ {
					sink = t.Owner(keys[i&mask])
				}
			})
		}
	}
}
