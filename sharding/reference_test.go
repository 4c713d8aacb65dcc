package sharding

import (
	"encoding/binary"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/cespare/xxhash/v2"
)

// The reference placers restate the documented rules as directly as possible,
// with no search, no early exit and no shared code with the fast paths except
// the exported hash functions. They are slow on purpose.

// refRingPoint is the documented ring point rule, written out again.
func refRingPoint(name string, i int) uint64 {
	var b strings.Builder
	b.WriteString(name)
	b.WriteByte(0)
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(i))
	b.Write(n[:])
	return xxhash.Sum64String(b.String())
}

// refRingPrefs sorts every point by clockwise distance from h (unsigned
// subtraction wraps around the ring), ties by name, and keeps distinct owners.
func refRingPrefs(nodes []Node, vnodes int, point func(string, int) uint64, h uint64, n int) []string {
	type pt struct {
		dist uint64
		name string
	}
	var pts []pt
	for _, nd := range nodes {
		w := nd.Weight
		if w == 0 {
			w = 1
		}
		c := max(1, int(math.Round(float64(vnodes)*w)))
		for i := 0; i < c; i++ {
			pts = append(pts, pt{point(nd.Name, i) - h, nd.Name})
		}
	}
	sort.Slice(pts, func(a, b int) bool {
		if pts[a].dist != pts[b].dist {
			return pts[a].dist < pts[b].dist
		}
		return pts[a].name < pts[b].name
	})
	var out []string
	for _, p := range pts {
		if len(out) < n && !slices.Contains(out, p.name) {
			out = append(out, p.name)
		}
	}
	return out
}

// refHRWPrefs scores every node and sorts, ties by name.
func refHRWPrefs(nodes []Node, seed func(string) uint64, h uint64, n int) []string {
	weight := func(nd Node) float64 {
		if nd.Weight == 0 {
			return 1
		}
		return nd.Weight
	}
	uniform := true
	for _, nd := range nodes {
		if weight(nd) != weight(nodes[0]) {
			uniform = false
		}
	}
	type sc struct {
		mix   uint64
		score float64
		name  string
	}
	var all []sc
	for _, nd := range nodes {
		m := fmix64(h ^ seed(nd.Name))
		w := weight(nd)
		u := (float64(m>>11) + 0.5) / math.Exp2(53)
		all = append(all, sc{m, w / -math.Log(u), nd.Name})
	}
	sort.Slice(all, func(a, b int) bool {
		if uniform && all[a].mix != all[b].mix {
			return all[a].mix > all[b].mix
		}
		if !uniform && all[a].score != all[b].score {
			return all[a].score > all[b].score
		}
		return all[a].name < all[b].name
	})
	var out []string
	for i := 0; i < n && i < len(all); i++ {
		out = append(out, all[i].name)
	}
	return out
}

// names maps indices of pl.Nodes() to names.
func names(pl Placer, idx []int) []string {
	out := make([]string, len(idx))
	for i, x := range idx {
		out[i] = pl.Nodes()[x].Name
	}
	return out
}
