package main

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"text/tabwriter"
)

// stats is the balance and movement of one peer at one cluster size.
type stats struct {
	peak, trough          float64
	addRatio, removeRatio float64 // moved fraction over 1/(n+1) and 1/n
	survivorMoves         int     // keys moved between nodes present before and after
}

func owners(r router, keys []string, raw [][]byte) []string {
	out := make([]string, len(keys))
	for i := range keys {
		out[i] = r.locate(keys[i], raw[i])
	}
	return out
}

// measure adds node-n, and removes the middle node (not the last: every
// algorithm must support removing any node).
func measure(p peer, n int, keys []string, raw [][]byte) stats {
	nodes := nodeNames(n)
	before := owners(p.build(nodes), keys, raw)
	count := map[string]int{}
	for _, o := range before {
		count[o]++
	}
	loads := make([]int, 0, n)
	for _, nd := range nodes {
		loads = append(loads, count[nd])
	}
	mean := float64(len(keys)) / float64(n)
	s := stats{peak: float64(slices.Max(loads)) / mean, trough: float64(slices.Min(loads)) / mean}

	move := func(after []string, special string) (moved int) {
		for i := range before {
			if before[i] != after[i] {
				moved++
				if before[i] != special && after[i] != special {
					s.survivorMoves++
				}
			}
		}
		return moved
	}
	added := fmt.Sprintf("node-%d", n)
	moved := move(owners(p.build(append(slices.Clone(nodes), added)), keys, raw), added)
	s.addRatio = float64(moved) / float64(len(keys)) * float64(n+1)
	gone := nodes[n/2]
	rest := slices.Delete(slices.Clone(nodes), n/2, n/2+1)
	moved = move(owners(p.build(rest), keys, raw), gone)
	s.removeRatio = float64(moved) / float64(len(keys)) * float64(n)
	return s
}

func main() {
	nkeys := flag.Int("keys", 1_000_000, "distinct keys")
	flag.Parse()
	keys, raw := makeKeys(*nkeys)
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "peer\tnodes\tpeak/mean\tmin/mean\tadd moved/opt\tremove moved/opt\tsurvivor moves\t")
	for _, p := range peers {
		for _, n := range []int{10, 100} {
			s := measure(p, n, keys, raw)
			fmt.Fprintf(w, "%s\t%d\t%.3f\t%.3f\t%.3f\t%.3f\t%d\t\n", p.name, n, s.peak, s.trough, s.addRatio, s.removeRatio, s.survivorMoves)
		}
	}
	_ = w.Flush()
	fmt.Printf("\n%d keys; remove = the middle node (node-n/2); moved/opt = moved fraction over 1/(n+1) (add) and 1/n (remove)\n", *nkeys)
}
