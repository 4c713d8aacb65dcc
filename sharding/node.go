package sharding

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// MaxNodes is the largest membership a Placer accepts (node indices are 16 bits
// in tables).
const MaxNodes = 1 << 16

// MaxWeight is the largest node weight accepted.
const MaxWeight = 1 << 16

// Node is a member of the cluster as placement sees it.
type Node struct {
	// Name identifies the node: non-empty, unique. Placement depends on it.
	Name string
	// Weight is the node's relative capacity. Zero means 1.
	Weight float64
}

// NodesNamed returns nodes of weight 1 with the given names.
func NodesNamed(names ...string) []Node {
	nodes := make([]Node, len(names))
	for i, n := range names {
		nodes[i] = Node{Name: n, Weight: 1}
	}
	return nodes
}

// Normalize validates nodes and returns a copy sorted by name, with default
// weights filled in: what a Placer's Nodes returns. Sorting makes every
// placement independent of member order. A Placer's constructor starts
// with it.
func Normalize(nodes []Node) ([]Node, error) { return normalize(nodes) }

func normalize(nodes []Node) ([]Node, error) {
	if len(nodes) == 0 {
		return nil, ErrNoNodes
	}
	if len(nodes) > MaxNodes {
		return nil, fmt.Errorf("%w: %d > %d", ErrTooManyNodes, len(nodes), MaxNodes)
	}
	out := make([]Node, len(nodes))
	for i, n := range nodes {
		if n.Name == "" {
			return nil, ErrEmptyName
		}
		if n.Weight == 0 {
			n.Weight = 1
		}
		if n.Weight < 0 || n.Weight > MaxWeight || math.IsNaN(n.Weight) {
			return nil, fmt.Errorf("%w: node %q weight %v", ErrBadWeight, n.Name, n.Weight)
		}
		out[i] = n
	}
	slices.SortFunc(out, func(a, b Node) int { return cmp.Compare(a.Name, b.Name) })
	for i := 1; i < len(out); i++ {
		if out[i].Name == out[i-1].Name {
			return nil, fmt.Errorf("%w: %q", ErrDuplicateNode, out[i].Name)
		}
	}
	return out, nil
}

func uniformWeights(nodes []Node) bool {
	for _, n := range nodes {
		if n.Weight != nodes[0].Weight {
			return false
		}
	}
	return true
}
