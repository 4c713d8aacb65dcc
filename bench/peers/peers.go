// Command peers compares zshard's placement with well-known Go libraries on
// one key set: balance and movement (this program) and lookup speed
// (go test -bench . in this directory). It is its own module so that the
// peers never enter zshard's go.mod. (Use go mod tidy -e here: the tests of
// stathat/consistent import its vanity path, which the module proxy lacks.)
package main

import (
	"fmt"
	"slices"

	buraksezer "github.com/buraksezer/consistent"
	"github.com/cespare/xxhash/v2"
	jump "github.com/dgryski/go-jump"
	rendezvous "github.com/dgryski/go-rendezvous"
	"github.com/golang/groupcache/consistenthash"
	"github.com/serialx/hashring"
	stathat "github.com/stathat/consistent"

	"github.com/zshard/zshard/sharding"
)

// router locates the owner of a key. key and raw are the same key as a
// string and as bytes (some libraries take bytes; converting in the loop
// would charge them an allocation that is not theirs).
type router interface {
	locate(key string, raw []byte) string
}

type routerFunc func(key string, raw []byte) string

func (f routerFunc) locate(key string, raw []byte) string { return f(key, raw) }

// peer builds a router over a membership.
type peer struct {
	name  string
	build func(nodes []string) router
}

type xxh struct{}

func (xxh) Sum64(b []byte) uint64 { return xxhash.Sum64(b) }

type member string

func (m member) String() string { return string(m) }

func zshardTable(alg string) func([]string) router {
	return func(nodes []string) router {
		t := zshardTableOf(alg, nodes)
		return routerFunc(func(k string, _ []byte) string { return t.Owner(k) })
	}
}

// zshardTableOf is the partition table the producer routes by.
func zshardTableOf(alg string, nodes []string) *sharding.Table {
	t, err := sharding.NewTable(sharding.Config{Algorithm: alg}, sharding.NodesNamed(nodes...))
	if err != nil {
		panic(err)
	}
	return t
}

func zshardDirect(alg string) func([]string) router {
	return func(nodes []string) router {
		pl, err := sharding.NewPlacer(sharding.Config{Algorithm: alg}, sharding.NodesNamed(nodes...))
		if err != nil {
			panic(err)
		}
		return routerFunc(func(k string, _ []byte) string { return pl.Nodes()[pl.Owner(sharding.KeyHash(k))].Name })
	}
}

// peers are every implementation compared, ours first. Each peer library is
// used with its documented defaults and xxhash where it takes a hash function.
var peers = []peer{
	{"zshard/consistent (table)", zshardTable(sharding.Consistent)},
	{"zshard/hrw (table)", zshardTable(sharding.Rendezvous)},
	{"zshard/consistent (direct)", zshardDirect(sharding.Consistent)},
	{"zshard/hrw (direct)", zshardDirect(sharding.Rendezvous)},
	{"buraksezer/consistent", func(nodes []string) router {
		ms := make([]buraksezer.Member, len(nodes))
		for i, n := range nodes {
			ms[i] = member(n)
		}
		c := buraksezer.New(ms, buraksezer.Config{Hasher: xxh{}, PartitionCount: buraksezer.DefaultPartitionCount,
			ReplicationFactor: buraksezer.DefaultReplicationFactor, Load: buraksezer.DefaultLoad})
		return routerFunc(func(_ string, raw []byte) string { return c.LocateKey(raw).String() })
	}},
	{"dgryski/go-rendezvous", func(nodes []string) router {
		r := rendezvous.New(nodes, xxhash.Sum64String)
		return routerFunc(func(k string, _ []byte) string { return r.Lookup(k) })
	}},
	{"stathat/consistent", func(nodes []string) router {
		c := stathat.New()
		c.Set(nodes)
		return routerFunc(func(k string, _ []byte) string {
			n, err := c.Get(k)
			if err != nil {
				panic(err)
			}
			return n
		})
	}},
	{"serialx/hashring", func(nodes []string) router {
		r := hashring.New(nodes)
		return routerFunc(func(k string, _ []byte) string { n, _ := r.GetNode(k); return n })
	}},
	{"groupcache/consistenthash", func(nodes []string) router {
		m := consistenthash.New(50, nil) // groupcache's HTTPPool default
		m.Add(nodes...)
		return routerFunc(func(k string, _ []byte) string { return m.Get(k) })
	}},
	{"dgryski/go-jump", func(nodes []string) router {
		// Jump hashing numbers buckets 0..n-1: removing any node but the
		// last renumbers the rest.
		ns := slices.Clone(nodes)
		return routerFunc(func(k string, _ []byte) string { return ns[jump.Hash(xxhash.Sum64String(k), len(ns))] })
	}},
}

func nodeNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("node-%d", i)
	}
	return out
}

func makeKeys(n int) ([]string, [][]byte) {
	keys := make([]string, n)
	raw := make([][]byte, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("key-%d", i)
		raw[i] = []byte(keys[i])
	}
	return keys, raw
}
