// Package maglev is Maglev hashing (Eisenbud et al., NSDI 2016) as a zshard
// placement algorithm, in one file: an example of a student's own
// algorithm, registered as "maglev" and graded by package shardingtest.
//
// Every node fills the slots of a lookup table of TableSize entries in the
// order of its own permutation, taking turns, so every node owns about the
// same number of slots; a hash is owned by the node of its slot. The
// preference list walks the table from that slot and takes each node the
// first time it appears.
//
// What the kit measures: Maglev balances well, but a membership change
// also moves some keys between nodes that stay (a node's slots shift when
// another's turn is gone) and reorders some preference lists; its test
// declares that with shardingtest.Disruption. It ignores node weights.
//
// Import the package for its side effect to make "maglev" a --hash of a
// build:
//
//	import _ "github.com/zshard/zshard/sharding/examples/maglev"
package maglev

import (
	"fmt"
	"math/bits"

	"github.com/zshard/zshard/sharding"
)

// Name is the algorithm's registered name.
const Name = "maglev"

// TableSize is M, the lookup table's size: a prime, so that every skip
// visits every slot.
const TableSize = 65537

// MaxNodes bounds the membership, so that every node owns a few slots.
const MaxNodes = TableSize / 16

func init() {
	sharding.Register(Name, func(_ sharding.Config, nodes []sharding.Node) (sharding.Placer, error) {
		return New(nodes)
	})
}

// Maglev is the placement of one membership. It is immutable.
type Maglev struct {
	nodes []sharding.Node
	table []uint16 // slot -> node index
}

var _ sharding.Placer = (*Maglev)(nil)

// New builds the lookup table over nodes.
func New(nodes []sharding.Node) (*Maglev, error) {
	nodes, err := sharding.Normalize(nodes) // validated, sorted by name
	if err != nil {
		return nil, err
	}
	if len(nodes) > MaxNodes {
		return nil, fmt.Errorf("maglev: %d nodes, at most %d", len(nodes), MaxNodes)
	}
	offset := make([]uint64, len(nodes))
	skip := make([]uint64, len(nodes))
	for i, n := range nodes {
		offset[i] = sharding.KeyHash(n.Name) % TableSize
		skip[i] = sharding.KeyHash(n.Name+"\x00skip")%(TableSize-1) + 1
	}
	const empty = 1<<16 - 1
	table := make([]uint16, TableSize)
	for i := range table {
		table[i] = empty
	}
	next := make([]uint64, len(nodes)) // the next permutation entry of each node
	for filled := 0; ; {
		for i := range nodes {
			c := (offset[i] + next[i]*skip[i]) % TableSize
			for table[c] != empty {
				next[i]++
				c = (offset[i] + next[i]*skip[i]) % TableSize
			}
			table[c] = uint16(i)
			next[i]++
			if filled++; filled == TableSize {
				return &Maglev{nodes: nodes, table: table}, nil
			}
		}
	}
}

// Nodes implements sharding.Placer.
func (m *Maglev) Nodes() []sharding.Node { return m.nodes }

// slot maps h to a table slot (multiply-shift, without modulo bias).
func slot(h uint64) int {
	hi, _ := bits.Mul64(h, TableSize)
	return int(hi)
}

// Owner implements sharding.Placer.
func (m *Maglev) Owner(h uint64) int { return int(m.table[slot(h)]) }

// AppendPrefs implements sharding.Placer: the distinct nodes met walking
// the table from h's slot.
func (m *Maglev) AppendPrefs(dst []int, h uint64, n int) []int {
	n = min(n, len(m.nodes))
	start := len(dst)
	for s := slot(h); len(dst)-start < n; s = (s + 1) % TableSize {
		i := int(m.table[s])
		if !contains(dst[start:], i) {
			dst = append(dst, i)
		}
	}
	return dst
}

func contains(list []int, x int) bool {
	for _, y := range list {
		if y == x {
			return true
		}
	}
	return false
}
