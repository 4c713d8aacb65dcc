package sharding

import (
	"cmp"
	"math"
)

// HRW is rendezvous (highest random weight) hashing: every node scores the
// hash, and nodes rank by descending score. With equal weights the score is
// fmix64(h ^ XXH64(name)); with unequal weights it is weight / -ln(u) for u
// that score mapped into (0, 1), which gives each node a share proportional
// to its weight. Equal scores go to the node whose name sorts first.
//
// Owner costs one mix per node, so HRW is meant to fill a Table; use it
// directly only for small memberships.
type HRW struct {
	nodes   []Node
	seeds   []uint64
	weights []float64
	uniform bool
}

var _ Placer = (*HRW)(nil)

// NewHRW builds rendezvous hashing over nodes.
func NewHRW(nodes []Node) (*HRW, error) {
	nodes, err := normalize(nodes)
	if err != nil {
		return nil, err
	}
	h := &HRW{nodes: nodes, seeds: make([]uint64, len(nodes)), weights: make([]float64, len(nodes)), uniform: uniformWeights(nodes)}
	for i, n := range nodes {
		h.seeds[i] = nodeHash(n.Name)
		h.weights[i] = n.Weight
	}
	return h, nil
}

// Nodes implements Placer.
func (h *HRW) Nodes() []Node { return h.nodes }

// weightedScore is the logarithmic method of Schindelhauer and Schomaker.
func weightedScore(s uint64, w float64) float64 {
	u := (float64(s>>11) + 0.5) * (1.0 / (1 << 53))
	return w / -math.Log(u)
}

// Owner implements Placer.
func (h *HRW) Owner(x uint64) int {
	best := 0
	if h.uniform {
		var top uint64
		for i, s := range h.seeds {
			if v := fmix64(x ^ s); v > top {
				top, best = v, i
			}
		}
		return best
	}
	top := -1.0
	for i, s := range h.seeds {
		if v := weightedScore(fmix64(x^s), h.weights[i]); v > top {
			top, best = v, i
		}
	}
	return best
}

// AppendPrefs implements Placer: the n best scores, best first.
func (h *HRW) AppendPrefs(dst []int, x uint64, n int) []int {
	n = min(n, len(h.nodes))
	if n <= 0 {
		return dst
	}
	if h.uniform {
		var buf [8]uint64
		return appendTop(dst, n, buf[:0], len(h.seeds), func(i int) uint64 { return fmix64(x ^ h.seeds[i]) })
	}
	var buf [8]float64
	return appendTop(dst, n, buf[:0], len(h.seeds), func(i int) float64 {
		return weightedScore(fmix64(x^h.seeds[i]), h.weights[i])
	})
}

// appendTop appends to dst the indices in [0, count) of the n highest scores,
// highest first; on equal scores the lower index ranks first.
func appendTop[S cmp.Ordered](dst []int, n int, scores []S, count int, score func(int) S) []int {
	start := len(dst)
	for i := range count {
		v := score(i)
		var k int
		switch {
		case len(scores) < n:
			scores = append(scores, v)
			dst = append(dst, i)
			k = len(scores) - 1
		case v > scores[n-1]:
			k = n - 1
		default:
			continue
		}
		for k > 0 && scores[k-1] < v {
			scores[k], dst[start+k] = scores[k-1], dst[start+k-1]
			k--
		}
		scores[k], dst[start+k] = v, i
	}
	return dst
}
