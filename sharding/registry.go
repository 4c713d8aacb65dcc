package sharding

import (
	"fmt"
	"maps"
	"slices"
	"sync"
)

// Factory builds a placement algorithm over nodes. c is the Config the
// placer is asked for, with defaults filled in (an algorithm with
// parameters of its own reads them from it, as "consistent" reads VNodes).
// A Factory must be deterministic: every producer of a cluster calls it with
// the same nodes and must get the same placement.
type Factory func(c Config, nodes []Node) (Placer, error)

var registry = struct {
	sync.RWMutex
	m map[string]Factory
}{m: map[string]Factory{
	Consistent: func(c Config, nodes []Node) (Placer, error) { return NewRing(nodes, c.VNodes) },
	Rendezvous: func(_ Config, nodes []Node) (Placer, error) { return NewHRW(nodes) },
}}

// Register makes a placement algorithm available under name to NewPlacer,
// NewTable and everything built on them (a cluster's --hash, `client_producer
// compare`). Call it from an init function of the package that implements
// the algorithm, and import that package (for its side effect) into every
// binary of the cluster: every producer and node must know the algorithm the
// cluster's settings name. Check the algorithm with package shardingtest
// first. Register panics if name is empty, already registered, or factory is
// nil.
func Register(name string, factory Factory) {
	if name == "" || factory == nil {
		panic("sharding: Register with an empty name or a nil factory")
	}
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.m[name]; dup {
		panic(fmt.Sprintf("sharding: Register called twice for algorithm %q", name))
	}
	registry.m[name] = factory
}

// Algorithms returns the names of the registered algorithms, sorted: the
// built-in "consistent" and "hrw", then whatever Register added.
func Algorithms() []string {
	registry.RLock()
	defer registry.RUnlock()
	return slices.Sorted(maps.Keys(registry.m))
}

// factory returns the Factory registered under name.
func factory(name string) (Factory, bool) {
	registry.RLock()
	defer registry.RUnlock()
	f, ok := registry.m[name]
	return f, ok
}
