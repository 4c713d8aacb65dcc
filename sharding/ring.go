package sharding

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// Ring is consistent hashing on a ring of 64-bit points: each node owns
// round(vnodes*weight) points (at least one), and a hash belongs to the node of
// the first point at or after it, wrapping around. Equal points are ordered by
// node name, so the node whose name sorts first wins a collision.
type Ring struct {
	nodes  []Node
	points []uint64 // sorted
	owners []uint16 // owners[i] owns points[i]
}

var _ Placer = (*Ring)(nil)

// NewRing builds a ring with vnodes points per unit of weight.
func NewRing(nodes []Node, vnodes int) (*Ring, error) {
	return buildRing(nodes, vnodes, pointHash)
}

// buildRing takes the point function as a parameter so that tests can force
// collisions.
func buildRing(nodes []Node, vnodes int, pointFn func([]byte, string, int) ([]byte, uint64)) (*Ring, error) {
	if vnodes < 1 {
		return nil, fmt.Errorf("%w: vnodes %d", ErrBadConfig, vnodes)
	}
	nodes, err := normalize(nodes)
	if err != nil {
		return nil, err
	}
	type point struct {
		h     uint64
		owner uint16
	}
	total := 0
	counts := make([]int, len(nodes))
	for i, n := range nodes {
		counts[i] = max(1, int(math.Round(float64(vnodes)*n.Weight)))
		total += counts[i]
	}
	pts := make([]point, 0, total)
	var buf []byte
	for i, n := range nodes {
		for v := range counts[i] {
			var h uint64
			buf, h = pointFn(buf, n.Name, v)
			pts = append(pts, point{h, uint16(i)})
		}
	}
	slices.SortFunc(pts, func(a, b point) int {
		if c := cmp.Compare(a.h, b.h); c != 0 {
			return c
		}
		return cmp.Compare(a.owner, b.owner)
	})
	r := &Ring{nodes: nodes, points: make([]uint64, total), owners: make([]uint16, total)}
	for i, p := range pts {
		r.points[i], r.owners[i] = p.h, p.owner
	}
	return r, nil
}

// Nodes implements Placer.
func (r *Ring) Nodes() []Node { return r.nodes }

// Points returns the number of points on the ring.
func (r *Ring) Points() int { return len(r.points) }

// search returns the index of the first point >= h, wrapping to 0.
func (r *Ring) search(h uint64) int {
	lo, hi := 0, len(r.points)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if r.points[m] < h {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == len(r.points) {
		lo = 0
	}
	return lo
}

// Owner implements Placer.
func (r *Ring) Owner(h uint64) int { return int(r.owners[r.search(h)]) }

// AppendPrefs implements Placer: the distinct owners met walking clockwise.
func (r *Ring) AppendPrefs(dst []int, h uint64, n int) []int {
	n = min(n, len(r.nodes))
	start := len(dst)
	i := r.search(h)
	for range r.points {
		if len(dst)-start >= n {
			break
		}
		o := int(r.owners[i])
		if !slices.Contains(dst[start:], o) {
			dst = append(dst, o)
		}
		if i++; i == len(r.points) {
			i = 0
		}
	}
	return dst
}
