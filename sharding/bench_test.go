package sharding

import (
	"fmt"
	"slices"
	"sync"
	"testing"
)

// benchKeys are 2^20 (> 1M) distinct keys, built once outside every timed loop.
var benchKeys = sync.OnceValue(func() []string {
	keys := make([]string, 1<<20)
	for i := range keys {
		keys[i] = fmt.Sprintf("key-%d", i)
	}
	return keys
})

var sinkString string
var sinkInt int

// benchClusters runs body as one sub-benchmark per algorithm and cluster
// size (10 and 100 nodes), with the configuration and nodes to build from
// and the keys to route. body builds what it measures, then runs its own
// b.Loop, so that the timed loop is the same code as in production.
func benchClusters(b *testing.B, body func(b *testing.B, cfg Config, nodes []Node, keys []string)) {
	keys := benchKeys()
	for _, alg := range Algorithms() {
		for _, n := range []int{10, 100} {
			b.Run(fmt.Sprintf("%s/nodes=%d", alg, n), func(b *testing.B) {
				b.ReportAllocs()
				body(b, Config{Algorithm: alg}, NodesNamed(nodeNames(n)...), keys)
			})
		}
	}
}

// BenchmarkTableOwner routes one key to its node through a Table: hash,
// reduce to a partition, load the owner. This is the producer's hot path.
func BenchmarkTableOwner(b *testing.B) {
	benchClusters(b, func(b *testing.B, cfg Config, nodes []Node, keys []string) {
		t, err := NewTable(cfg, nodes)
		if err != nil {
			b.Fatal(err)
		}
		mask := len(keys) - 1
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			sinkString = t.Owner(keys[i&mask])
		}
	})
}

// BenchmarkDirectOwner routes one key with the algorithm itself, no table.
func BenchmarkDirectOwner(b *testing.B) {
	benchClusters(b, func(b *testing.B, cfg Config, nodes []Node, keys []string) {
		pl, err := NewPlacer(cfg, nodes)
		if err != nil {
			b.Fatal(err)
		}
		mask := len(keys) - 1
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			sinkInt = pl.Owner(KeyHash(keys[i&mask]))
		}
	})
}

// BenchmarkTablePrefs returns the R+1 = 3 preference list of a key.
func BenchmarkTablePrefs(b *testing.B) {
	keys := benchKeys()
	mask := len(keys) - 1
	for _, alg := range Algorithms() {
		b.Run(fmt.Sprintf("%s/nodes=100", alg), func(b *testing.B) {
			t, err := NewTable(Config{Algorithm: alg, Replicas: 2}, NodesNamed(nodeNames(100)...))
			if err != nil {
				b.Fatal(err)
			}
			dst := make([]string, 0, 3)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				dst = t.AppendPrefs(dst[:0], keys[i&mask])
			}
		})
	}
}

// BenchmarkBuildTable measures building a table with the default P, as a
// producer does on every membership change.
func BenchmarkBuildTable(b *testing.B) {
	for _, alg := range Algorithms() {
		for _, n := range []int{10, 100} {
			b.Run(fmt.Sprintf("%s/nodes=%d", alg, n), func(b *testing.B) {
				nodes := NodesNamed(nodeNames(n)...)
				b.ReportAllocs()
				for b.Loop() {
					if _, err := NewTable(Config{Algorithm: alg, Replicas: 2}, nodes); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// nameSet returns the j-th set of n node names; balance depends on names, so
// defaults are chosen over many sets rather than one lucky draw.
func nameSet(j, n int) []Node {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("s%d-node-%d", j, i)
	}
	return NodesNamed(names...)
}

// reportPeaks reports the mean and the worst peak/mean over the sets.
func reportPeaks(b *testing.B, peaks []float64) {
	mean := 0.0
	for _, p := range peaks {
		mean += p / float64(len(peaks))
	}
	b.ReportMetric(mean, "peak/mean")
	b.ReportMetric(slices.Max(peaks), "worst-peak/mean")
	b.ReportMetric(0, "ns/op")
}

const surveySets = 20

// BenchmarkSurveyVNodes measures the exact share of the busiest ring node
// (arc lengths, no key sampling) over 20 name sets, per vnode count. Run with
// -benchtime 1x; it chose DefaultVNodes.
func BenchmarkSurveyVNodes(b *testing.B) {
	for _, n := range []int{10, 100} {
		for _, v := range []int{128, 256, 512, 1024, 2048, 4096} {
			b.Run(fmt.Sprintf("nodes=%d/vnodes=%d", n, v), func(b *testing.B) {
				var peaks []float64
				for b.Loop() {
					peaks = peaks[:0]
					for j := range surveySets {
						r, err := NewRing(nameSet(j, n), v)
						if err != nil {
							b.Fatal(err)
						}
						share := make([]float64, n)
						for i, p := range r.points {
							prev := r.points[(i+len(r.points)-1)%len(r.points)]
							share[r.owners[i]] += float64(p - prev) // wraps correctly for i == 0
						}
						peaks = append(peaks, slices.Max(share)*float64(n)/sumF(share))
					}
				}
				reportPeaks(b, peaks)
			})
		}
	}
}

// BenchmarkSurveyPartitions measures the partition share of the busiest node
// of an HRW table over 20 name sets, per P. Run with -benchtime 1x; it chose
// DefaultPartitions.
func BenchmarkSurveyPartitions(b *testing.B) {
	for _, n := range []int{10, 100} {
		for _, p := range []int{1 << 12, 1 << 14, 1 << 16, 1 << 17, 1 << 18, 1 << 20} {
			b.Run(fmt.Sprintf("nodes=%d/P=%d", n, p), func(b *testing.B) {
				var peaks []float64
				for b.Loop() {
					peaks = peaks[:0]
					for j := range surveySets {
						h, err := NewHRW(nameSet(j, n))
						if err != nil {
							b.Fatal(err)
						}
						c := TableOf(h, Rendezvous, p, 0).PartitionCounts()
						peaks = append(peaks, float64(slices.Max(c))*float64(n)/float64(p))
					}
				}
				reportPeaks(b, peaks)
			})
		}
	}
}

func sumF(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s
}
