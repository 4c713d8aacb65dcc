package compare

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"time"

	"github.com/zshard/zshard/sharding"
)

// Modes of placement compared.
const (
	ModeTable  = "table"  // key -> partition -> node (what producers use)
	ModeDirect = "direct" // key -> node by the algorithm itself
)

// ErrBadConfig is returned by Config.Validate.
var ErrBadConfig = errors.New("compare: bad config")

// Config says what to compare. Zero fields mean the defaults of DefaultConfig.
type Config struct {
	// Nodes are the cluster sizes to measure. Default: 10 and 100.
	Nodes []int
	// Keys is the number of distinct keys "key-0".."key-<Keys-1>". Default 1,000,000.
	Keys int
	// Algorithms to compare. Default: sharding.Algorithms().
	Algorithms []string
	// Modes to measure: ModeTable, ModeDirect. Default: both.
	Modes []string
	// VNodes for "consistent". Zero means sharding.DefaultVNodes.
	VNodes int
	// Partitions is P for ModeTable. Zero means sharding.DefaultPartitions.
	Partitions int
	// Replicas is R: preference lists of R+1 nodes are timed too. Default 0.
	Replicas int
	// Trials is how many distinct nodes are added, and removed, one at a
	// time, to measure movement. Default 5.
	Trials int
	// BenchTime bounds each lookup measurement. Default 1s.
	BenchTime time.Duration
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Nodes:      []int{10, 100},
		Keys:       1_000_000,
		Algorithms: sharding.Algorithms(),
		Modes:      []string{ModeTable, ModeDirect},
		Trials:     5,
		BenchTime:  time.Second,
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if len(c.Nodes) == 0 {
		c.Nodes = d.Nodes
	}
	c.Keys = cmp.Or(c.Keys, d.Keys)
	if len(c.Algorithms) == 0 {
		c.Algorithms = d.Algorithms
	}
	if len(c.Modes) == 0 {
		c.Modes = d.Modes
	}
	c.Trials = cmp.Or(c.Trials, d.Trials)
	c.BenchTime = cmp.Or(c.BenchTime, d.BenchTime)
	return c
}

// Validate reports whether c is usable.
func (c Config) Validate() error {
	c = c.withDefaults()
	for _, n := range c.Nodes {
		if n < 1 || n >= sharding.MaxNodes-c.Trials {
			return fmt.Errorf("%w: node count %d", ErrBadConfig, n)
		}
	}
	if c.Keys < 1 {
		return fmt.Errorf("%w: keys %d", ErrBadConfig, c.Keys)
	}
	for _, m := range c.Modes {
		if m != ModeTable && m != ModeDirect {
			return fmt.Errorf("%w: mode %q (want %s or %s)", ErrBadConfig, m, ModeTable, ModeDirect)
		}
	}
	if c.Trials < 1 || c.BenchTime < 0 {
		return fmt.Errorf("%w: trials %d, bench time %v", ErrBadConfig, c.Trials, c.BenchTime)
	}
	for _, a := range c.Algorithms {
		if err := (sharding.Config{Algorithm: a, VNodes: c.VNodes, Partitions: c.Partitions, Replicas: c.Replicas}).Validate(); err != nil {
			return err
		}
	}
	return nil
}

// Row is the measurement of one algorithm, mode and cluster size.
type Row struct {
	Algorithm string `json:"algorithm"`
	Mode      string `json:"mode"`
	Nodes     int    `json:"nodes"`
	Keys      int    `json:"keys"`

	LookupNs     float64 `json:"lookup_ns_per_op"`
	LookupAllocs int64   `json:"lookup_allocs_per_op"`
	PrefsNs      float64 `json:"prefs_ns_per_op,omitempty"` // R+1 preference list, when R > 0
	BuildMs      float64 `json:"build_ms"`
	MemBytes     uint64  `json:"mem_bytes"` // heap retained by the built structure

	PeakMean   float64 `json:"peak_over_mean"`
	MinMean    float64 `json:"min_over_mean"`
	StdDevMean float64 `json:"stddev_over_mean"`

	// Moved keys as a fraction of all keys, divided by the optimum 1/(n+1)
	// on add and 1/n on remove; mean and worst over the trials.
	AddMoved       float64 `json:"add_moved_over_optimum"`
	AddMovedMax    float64 `json:"add_moved_over_optimum_max"`
	RemoveMoved    float64 `json:"remove_moved_over_optimum"`
	RemoveMovedMax float64 `json:"remove_moved_over_optimum_max"`
	// Keys that moved between two nodes present before and after, summed
	// over every trial. Zero for a minimal-movement algorithm.
	SurvivorMoves int `json:"survivor_moves"`

	Loads []int `json:"loads"` // keys per node, nodes sorted by name
}

// Result holds every row, in the order measured.
type Result struct {
	Config Config `json:"config"`
	Rows   []Row  `json:"rows"`
}

// Steps returns how many units Run reports to progress.
func (c Config) Steps() int {
	c = c.withDefaults()
	return len(c.Algorithms) * len(c.Modes) * len(c.Nodes)
}

// Run measures every combination of c. progress, if not nil, is called after
// each one.
func Run(c Config, progress func()) (Result, error) {
	if err := c.Validate(); err != nil {
		return Result{}, err
	}
	c = c.withDefaults()
	keys := make([]string, c.Keys)
	hashes := make([]uint64, c.Keys)
	for i := range keys {
		keys[i] = fmt.Sprintf("key-%d", i)
		hashes[i] = sharding.KeyHash(keys[i])
	}
	res := Result{Config: c}
	for _, alg := range c.Algorithms {
		for _, mode := range c.Modes {
			for _, n := range c.Nodes {
				row, err := measure(c, alg, mode, n, keys, hashes)
				if err != nil {
					return res, err
				}
				res.Rows = append(res.Rows, row)
				if progress != nil {
					progress()
				}
			}
		}
	}
	return res, nil
}

func nodeNames(prefix string, from, to int) []sharding.Node {
	var names []string
	for i := from; i < to; i++ {
		names = append(names, fmt.Sprintf("%s%d", prefix, i))
	}
	return sharding.NodesNamed(names...)
}

// router is what a mode measures: names of owners by hash, by key, and prefs.
type router struct {
	nodes []sharding.Node
	owner func(h uint64) int
	byKey func(key string) int
	prefs func(key string) int
}

func build(c Config, alg, mode string, nodes []sharding.Node) (router, error) {
	sc := sharding.Config{Algorithm: alg, VNodes: c.VNodes, Partitions: c.Partitions, Replicas: c.Replicas}
	if mode == ModeTable {
		t, err := sharding.NewTable(sc, nodes)
		if err != nil {
			return router{}, err
		}
		buf := make([]string, 0, t.Width())
		return router{
			nodes: t.Nodes(),
			owner: t.OwnerIndex,
			byKey: func(k string) int { return len(t.Owner(k)) },
			prefs: func(k string) int { buf = t.AppendPrefs(buf[:0], k); return len(buf) },
		}, nil
	}
	pl, err := sharding.NewPlacer(sc, nodes)
	if err != nil {
		return router{}, err
	}
	buf := make([]int, 0, c.Replicas+1)
	return router{
		nodes: pl.Nodes(),
		owner: pl.Owner,
		byKey: func(k string) int { return pl.Owner(sharding.KeyHash(k)) },
		prefs: func(k string) int { buf = pl.AppendPrefs(buf[:0], sharding.KeyHash(k), c.Replicas+1); return len(buf) },
	}, nil
}

func measure(c Config, alg, mode string, n int, keys []string, hashes []uint64) (Row, error) {
	row := Row{Algorithm: alg, Mode: mode, Nodes: n, Keys: len(keys)}
	nodes := nodeNames("node-", 0, n)

	// Build time and retained memory.
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	r, err := build(c, alg, mode, nodes)
	if err != nil {
		return row, err
	}
	row.BuildMs = float64(time.Since(start).Microseconds()) / 1000
	runtime.GC()
	runtime.ReadMemStats(&after)
	if after.HeapAlloc > before.HeapAlloc {
		row.MemBytes = after.HeapAlloc - before.HeapAlloc
	}

	// Lookup cost, over every key in turn.
	mask := len(keys)
	bench := func(f func(string) int) (nsPerOp float64, allocsPerOp int64) {
		var acc int // consumed below, so the lookups cannot be optimised away
		nsPerOp, allocsPerOp = benchmark(c.BenchTime, func(i int) { acc += f(keys[i%mask]) })
		runtime.KeepAlive(acc)
		return nsPerOp, allocsPerOp
	}
	row.LookupNs, row.LookupAllocs = bench(r.byKey)
	if c.Replicas > 0 {
		row.PrefsNs, _ = bench(r.prefs)
	}

	// Balance.
	owners := make([]int, len(hashes))
	row.Loads = make([]int, n)
	for i, h := range hashes {
		owners[i] = r.owner(h)
		row.Loads[owners[i]]++
	}
	row.PeakMean, row.MinMean, row.StdDevMean = balance(row.Loads)

	// Movement: add Trials distinct nodes one at a time, then remove Trials
	// nodes spread over the membership one at a time.
	names := func(r router) []string {
		s := make([]string, len(r.nodes))
		for i, nd := range r.nodes {
			s[i] = nd.Name
		}
		return s
	}
	oldNames := names(r)
	var addRatios, removeRatios []float64
	for t := range c.Trials {
		added := fmt.Sprintf("node-%d", n+t)
		grown, err := build(c, alg, mode, append(slices.Clone(nodes), sharding.Node{Name: added}))
		if err != nil {
			return row, err
		}
		moved, survivors := diff(oldNames, owners, names(grown), grown.owner, hashes, added)
		row.SurvivorMoves += survivors
		addRatios = append(addRatios, float64(moved)/float64(len(hashes))*float64(n+1))
	}
	if n > 1 {
		for t := range min(c.Trials, n) {
			gone := nodes[t*n/min(c.Trials, n)].Name
			shrunk, err := build(c, alg, mode, slices.DeleteFunc(slices.Clone(nodes), func(x sharding.Node) bool { return x.Name == gone }))
			if err != nil {
				return row, err
			}
			moved, survivors := diff(oldNames, owners, names(shrunk), shrunk.owner, hashes, gone)
			row.SurvivorMoves += survivors
			removeRatios = append(removeRatios, float64(moved)/float64(len(hashes))*float64(n))
		}
	}
	row.AddMoved, row.AddMovedMax = meanMax(addRatios)
	row.RemoveMoved, row.RemoveMovedMax = meanMax(removeRatios)
	return row, nil
}

// diff counts keys whose owner changed, and among them those that moved
// between two nodes other than special (the added or removed node).
func diff(oldNames []string, oldOwners []int, newNames []string, newOwner func(uint64) int, hashes []uint64, special string) (moved, survivors int) {
	for i, h := range hashes {
		from, to := oldNames[oldOwners[i]], newNames[newOwner(h)]
		if from == to {
			continue
		}
		moved++
		if from != special && to != special {
			survivors++
		}
	}
	return moved, survivors
}

func balance(loads []int) (peak, trough, sd float64) {
	total := 0
	for _, l := range loads {
		total += l
	}
	mean := float64(total) / float64(len(loads))
	v := 0.0
	for _, l := range loads {
		v += (float64(l) - mean) * (float64(l) - mean)
	}
	return float64(slices.Max(loads)) / mean, float64(slices.Min(loads)) / mean, math.Sqrt(v/float64(len(loads))) / mean
}

func meanMax(xs []float64) (mean, worst float64) {
	if len(xs) == 0 {
		return 0, 0
	}
	for _, x := range xs {
		mean += x / float64(len(xs))
	}
	return mean, slices.Max(xs)
}

// benchmark times f(i) for growing n until d has passed, as testing.B does,
// and counts allocations. The call goes through a closure, which costs a few
// ns more than the Go benchmarks of package sharding.
func benchmark(d time.Duration, f func(i int)) (nsPerOp float64, allocsPerOp int64) {
	n := 1000
	for {
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		start := time.Now()
		for i := range n {
			f(i)
		}
		el := time.Since(start)
		runtime.ReadMemStats(&m1)
		if el >= d || n >= 1<<30 {
			return float64(el.Nanoseconds()) / float64(n), int64((m1.Mallocs - m0.Mallocs) / uint64(n))
		}
		n = min(n*10, int(float64(n)*float64(d)/float64(max(el, time.Microsecond))*1.2)+1)
	}
}
