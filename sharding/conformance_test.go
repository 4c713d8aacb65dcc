package sharding

import (
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// algoCase is one algorithm configuration the conformance suite runs over.
type algoCase struct {
	name string
	cfg  Config
	// ref is the brute-force reference placement (names, best first).
	ref func(nodes []Node, h uint64, n int) []string
}

func algoCases() []algoCase {
	ring := func(v int) func([]Node, uint64, int) []string {
		return func(nodes []Node, h uint64, n int) []string {
			return refRingPrefs(nodes, v, refRingPoint, h, n)
		}
	}
	hrw := func(nodes []Node, h uint64, n int) []string { return refHRWPrefs(nodes, nodeHash, h, n) }
	return []algoCase{
		{"consistent", Config{Algorithm: Consistent}, ring(DefaultVNodes)},
		{"consistent-vnodes=4", Config{Algorithm: Consistent, VNodes: 4}, ring(4)},
		{"hrw", Config{Algorithm: Rendezvous}, hrw},
	}
}

func mustPlacer(t *testing.T, c Config, nodes []Node) Placer {
	t.Helper()
	pl, err := NewPlacer(c, nodes)
	require.NoError(t, err)
	return pl
}

// TestReference checks every algorithm against its brute-force reference
// placement. The properties every algorithm must have are checked by
// package shardingtest (kit_test.go).
func TestReference(t *testing.T) {
	small := testHashes(20_000)
	for _, ac := range algoCases() {
		t.Run(ac.name, func(t *testing.T) {
			nodes := NodesNamed(nodeNames(10)...)
			base := mustPlacer(t, ac.cfg, nodes)
			count := 50 // the reference sorts every ring point per hash
			if ac.cfg.VNodes != 0 && ac.cfg.VNodes < 100 {
				count = 5000
			}
			for _, h := range small[:count] {
				full := ac.ref(nodes, h, len(nodes))
				for _, n := range []int{1, 3, 10, 11} {
					require.Equal(t, full[:min(n, len(full))], prefNames(t, base, h, n), "h=%#x n=%d", h, n)
				}
				require.Equal(t, full[0], nodes[base.Owner(h)].Name)
			}
		})
	}
}

// TestTable checks the two-level table and Diff against the placer for every
// algorithm: the table holds what the placer says, and a plan moves a
// partition only when the algorithm must.
func TestTable(t *testing.T) {
	const parts = 4096
	for _, ac := range algoCases() {
		t.Run(ac.name, func(t *testing.T) {
			cfg := ac.cfg
			cfg.Partitions, cfg.Replicas = parts, 2
			nodes := NodesNamed(nodeNames(10)...)
			old, err := NewTable(cfg, nodes)
			require.NoError(t, err)
			pl := mustPlacer(t, cfg, nodes)
			require.Equal(t, 3, old.Width())
			for p := range parts {
				require.Equal(t, prefNames(t, pl, PartitionHash(p), 3), old.AppendPartitionPrefs(nil, p))
			}
			for i := range 1000 {
				key := fmt.Sprintf("key-%d", i)
				p := old.Partition(key)
				require.Equal(t, old.PartitionOwner(p), old.Owner(key))
				require.Equal(t, old.AppendPartitionPrefs(nil, p), old.AppendPrefs(nil, key))
			}

			t.Run("add", func(t *testing.T) {
				grown, err := NewTable(cfg, append(slices.Clone(nodes), Node{Name: "node-10"}))
				require.NoError(t, err)
				plan, err := Diff(old, grown)
				require.NoError(t, err)
				require.NotEmpty(t, plan.Changes)
				changed := map[int]bool{}
				for _, c := range plan.Changes {
					changed[c.Partition] = true
					require.Equal(t, []string{"node-10"}, c.Gained(), "partition %d", c.Partition)
					require.Len(t, c.Dropped(), 1)
					require.Equal(t, c.Old[:len(c.Old)-1], filterOut(c.New, "node-10")[:len(c.Old)-1])
				}
				for p := range parts {
					if !changed[p] {
						require.Equal(t, old.AppendPartitionPrefs(nil, p), grown.AppendPartitionPrefs(nil, p))
					}
				}
				for pair := range plan.OwnerMoves() {
					require.Equal(t, "node-10", pair[1], "owner moved between survivors: %v", pair)
				}
				for _, tr := range plan.Transfers() {
					require.Equal(t, "node-10", tr.To)
				}
			})

			t.Run("remove", func(t *testing.T) {
				shrunk, err := NewTable(cfg, without(nodes, "node-4"))
				require.NoError(t, err)
				plan, err := Diff(old, shrunk)
				require.NoError(t, err)
				require.NotEmpty(t, plan.Changes)
				for _, c := range plan.Changes {
					require.Contains(t, c.Old, "node-4")
					require.Equal(t, []string{"node-4"}, c.Dropped())
					require.Equal(t, filterOut(c.Old, "node-4"), c.New[:len(c.New)-1])
					got, ok := plan.Change(c.Partition)
					require.True(t, ok)
					require.Equal(t, c, got)
				}
				for pair := range plan.OwnerMoves() {
					require.Equal(t, "node-4", pair[0], "owner moved between survivors: %v", pair)
				}
				for _, tr := range plan.Transfers() {
					require.NotEqual(t, "node-4", tr.From, "a survivor holds every changed partition")
				}
				_, ok := plan.Change(-1)
				require.False(t, ok)
			})
		})
	}
}

func TestDiffIncompatible(t *testing.T) {
	nodes := NodesNamed("a", "b")
	a, err := NewTable(Config{Partitions: 16}, nodes)
	require.NoError(t, err)
	b, err := NewTable(Config{Partitions: 32}, nodes)
	require.NoError(t, err)
	_, err = Diff(a, b)
	require.ErrorIs(t, err, ErrIncompatible)
}

func TestConfigAndNodeErrors(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		nodes []Node
		want  error
	}{
		{"no nodes", Config{}, nil, ErrNoNodes},
		{"empty name", Config{}, []Node{{Name: ""}}, ErrEmptyName},
		{"duplicate", Config{}, NodesNamed("a", "b", "a"), ErrDuplicateNode},
		{"negative weight", Config{}, []Node{{Name: "a", Weight: -1}}, ErrBadWeight},
		{"huge weight", Config{}, []Node{{Name: "a", Weight: MaxWeight * 2}}, ErrBadWeight},
		{"unknown algorithm", Config{Algorithm: "modulo"}, NodesNamed("a"), ErrUnknownAlgorithm},
		{"vnodes", Config{Algorithm: Consistent, VNodes: -1}, NodesNamed("a"), ErrBadConfig},
		{"partitions", Config{Partitions: MaxPartitions + 1}, NodesNamed("a"), ErrBadConfig},
		{"replicas", Config{Replicas: -1}, NodesNamed("a"), ErrBadConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewTable(tt.cfg, tt.nodes)
			require.ErrorIs(t, err, tt.want)
		})
	}
	require.NoError(t, DefaultConfig().Validate())
	require.Equal(t, DefaultConfig(), Config{}.withDefaults())
}

// TestRingCollisions forces ring point collisions (only 16 distinct points)
// and checks that ties go to the name that sorts first, whatever the member
// order.
func TestRingCollisions(t *testing.T) {
	coarse := func(buf []byte, name string, i int) ([]byte, uint64) {
		buf, h := pointHash(buf, name, i)
		return buf, h >> 60 << 60
	}
	refPoint := func(name string, i int) uint64 { return refRingPoint(name, i) >> 60 << 60 }
	nodes := NodesNamed(nodeNames(7)...)
	r1, err := buildRing(nodes, 8, coarse)
	require.NoError(t, err)
	r2, err := buildRing(shuffled(nodes, 7), 8, coarse)
	require.NoError(t, err)
	for _, h := range testHashes(2000) {
		want := refRingPrefs(nodes, 8, refPoint, h, 7)
		require.Equal(t, want, prefNames(t, r1, h, 7))
		require.Equal(t, want, prefNames(t, r2, h, 7))
	}
}

// TestHRWTies gives two nodes the same seed: the name that sorts first must
// win every tie, in Owner and in AppendPrefs alike.
func TestHRWTies(t *testing.T) {
	for _, weighted := range []bool{false, true} {
		t.Run(fmt.Sprintf("weighted=%v", weighted), func(t *testing.T) {
			nodes := NodesNamed(nodeNames(5)...)
			if weighted {
				nodes[3].Weight = 3
			}
			h, err := NewHRW(nodes)
			require.NoError(t, err)
			h.seeds[2] = h.seeds[1] // node-1 and node-2 tie everywhere
			seed := func(name string) uint64 {
				if name == "node-2" {
					name = "node-1"
				}
				return nodeHash(name)
			}
			for _, x := range testHashes(3000) {
				want := refHRWPrefs(nodes, seed, x, 5)
				require.Equal(t, want, prefNames(t, h, x, 5))
				require.Equal(t, want[0], nodes[h.Owner(x)].Name)
				require.Less(t, slices.Index(want, "node-1"), slices.Index(want, "node-2"))
			}
		})
	}
}
