package shardingtest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/zshard/zshard/sharding"
)

// NewPlacer builds the algorithm under test over nodes, as a
// sharding.Factory does with the Config it is given.
type NewPlacer func(nodes []sharding.Node) (sharding.Placer, error)

// Bound is a balance bound over the key set: the most loaded node holds at
// most Peak times the mean, the least loaded at least Trough times it.
type Bound struct{ Peak, Trough float64 }

// Option changes what the suite asserts.
type Option func(*options)

type options struct {
	keys       int
	tolerance  float64
	disruption float64
	reorder    float64
	weighted   bool
	balance    map[int][2]Bound // nodes -> direct, table
}

// Keys sets K, the size of the key set; default 100,000. Balance and
// weights are measured on all K keys; order and movement are checked on at
// most the first 100,000.
func Keys(k int) Option { return func(o *options) { o.keys = k } }

// Tolerance sets how far above the optimum (K/(n+1) keys when a node joins
// n others) the keys moved on an add may be, as a fraction of the optimum.
// Default 0.2.
func Tolerance(f float64) Option { return func(o *options) { o.tolerance = f } }

// Disruption declares that the algorithm moves up to this fraction of the
// keys between nodes that stay when a node joins or leaves (Maglev does; the
// ring and rendezvous hashing do not). Default 0: none.
func Disruption(f float64) Option { return func(o *options) { o.disruption = f } }

// Reorder declares that the algorithm reorders up to this fraction of the
// preference lists (their first three nodes) when a node joins or leaves,
// beyond the node itself coming or going. Default 0: none.
func Reorder(f float64) Option { return func(o *options) { o.reorder = f } }

// Weighted declares that the algorithm honours node weights, so that the
// weights property is checked. Default: not checked.
func Weighted() Option { return func(o *options) { o.weighted = true } }

// Balance sets the bounds asserted at the given number of nodes, placing
// keys directly (Placer.Owner) and through a sharding.Table of
// sharding.DefaultPartitions. The defaults are {1.10, 0.90} at 10 nodes and
// {1.20, 0.80} at 100 nodes, both ways, for the default K.
func Balance(nodes int, direct, table Bound) Option {
	return func(o *options) { o.balance[nodes] = [2]Bound{direct, table} }
}

// movingKeys bounds the keys the order and movement properties follow key
// by key.
const movingKeys = 100_000

// baseNodes is the size of the membership the suite changes.
const baseNodes = 10

// Run runs the suite against the algorithm newPlacer builds, each property
// as a subtest of t, and reports every failure with t.Error.
func Run(t *testing.T, newPlacer NewPlacer, opts ...Option) {
	t.Helper()
	s, err := newSuite(newPlacer, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if c.name == "weights" && !s.o.weighted {
				t.Skip("the algorithm does not claim weights (shardingtest.Weighted)")
			}
			if err := s.run(c); err != nil {
				t.Error(err)
			}
		})
	}
}

// Check runs the suite against the algorithm newPlacer builds and returns
// its failures, each prefixed with its property's name, joined; nil when
// the algorithm has every property.
func Check(newPlacer NewPlacer, opts ...Option) error {
	s, err := newSuite(newPlacer, opts)
	if err != nil {
		return err
	}
	var errs []error
	for _, c := range checks {
		if c.name == "weights" && !s.o.weighted {
			continue
		}
		if err := s.run(c); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.name, err))
		}
	}
	return errors.Join(errs...)
}

// suite is the state the properties share.
type suite struct {
	newPlacer NewPlacer
	o         options
	hashes    []uint64 // the hashes of the K keys
	moving    []uint64 // the first min(K, movingKeys)
	nodes     []sharding.Node
	base      sharding.Placer
}

func newSuite(newPlacer NewPlacer, opts []Option) (*suite, error) {
	o := options{keys: 100_000, tolerance: 0.2, balance: map[int][2]Bound{
		10:  {{1.10, 0.90}, {1.10, 0.90}},
		100: {{1.20, 0.80}, {1.20, 0.80}},
	}}
	for _, opt := range opts {
		opt(&o)
	}
	if o.keys < 1000 {
		return nil, fmt.Errorf("shardingtest: Keys(%d): want at least 1,000", o.keys)
	}
	s := &suite{newPlacer: newPlacer, o: o, hashes: make([]uint64, o.keys), nodes: nodesNamed(baseNodes)}
	for i := range s.hashes {
		s.hashes[i] = sharding.KeyHash(fmt.Sprintf("key-%d", i))
	}
	s.moving = s.hashes[:min(len(s.hashes), movingKeys)]
	var err error
	if s.base, err = s.build(s.nodes); err != nil {
		return nil, err
	}
	return s, nil
}

// run runs one property, turning a panic of the algorithm into its failure.
func (s *suite) run(c check) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the algorithm panicked: %v", r)
		}
	}()
	return c.run(s)
}

// build builds the algorithm over nodes and checks its membership.
func (s *suite) build(nodes []sharding.Node) (sharding.Placer, error) {
	pl, err := s.newPlacer(slices.Clone(nodes))
	if err != nil {
		return nil, fmt.Errorf("building over %d nodes: %w", len(nodes), err)
	}
	if pl == nil {
		return nil, fmt.Errorf("building over %d nodes returned a nil Placer", len(nodes))
	}
	got := names(pl.Nodes())
	want := names(nodes)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		return nil, fmt.Errorf("Nodes() = %s, want the members sorted by name: %s", short(got), short(want))
	}
	return pl, nil
}

type check struct {
	name string
	run  func(*suite) error
}

var checks = []check{
	{"membership", (*suite).membership},
	{"prefs", (*suite).prefs},
	{"order", (*suite).order},
	{"remove", (*suite).remove},
	{"add", (*suite).add},
	{"balance", (*suite).balance},
	{"weights", (*suite).weights},
}

func (s *suite) membership() error {
	bad := []struct {
		what  string
		nodes []sharding.Node
	}{
		{"an empty membership", nil},
		{"an empty name", []sharding.Node{{Name: "node-0"}, {Name: ""}}},
		{"a duplicate name", sharding.NodesNamed("node-0", "node-1", "node-0")},
	}
	for _, b := range bad {
		if _, err := s.newPlacer(b.nodes); err == nil {
			return fmt.Errorf("accepted %s; want an error (sharding.Normalize checks it)", b.what)
		}
	}
	for _, n := range []int{1, 2, 3, 17} {
		if _, err := s.build(shuffled(nodesNamed(n), uint64(n))); err != nil {
			return err
		}
	}
	return nil
}

func (s *suite) prefs() error {
	n := len(s.nodes)
	dst := []int{-1}
	for _, h := range s.moving[:min(len(s.moving), 2000)] {
		o := s.base.Owner(h)
		if o < 0 || o >= n {
			return fmt.Errorf("Owner(%#x) = %d, not a node index in [0, %d)", h, o, n)
		}
		for _, k := range []int{0, 1, 3, n, n + 2} {
			p := s.base.AppendPrefs(dst[:1], h, k)
			if len(p) == 0 || p[0] != -1 {
				return fmt.Errorf("AppendPrefs(dst, %#x, %d) overwrote dst: it must append", h, k)
			}
			p = p[1:]
			if len(p) != min(k, n) {
				return fmt.Errorf("AppendPrefs(%#x, %d) returned %d nodes, want %d", h, k, len(p), min(k, n))
			}
			if k > 0 && p[0] != o {
				return fmt.Errorf("AppendPrefs(%#x, %d) starts with %d, but Owner is %d", h, k, p[0], o)
			}
			seen := make([]bool, n)
			for _, i := range p {
				if i < 0 || i >= n {
					return fmt.Errorf("AppendPrefs(%#x, %d) = %v holds %d, not a node index", h, k, p, i)
				}
				if seen[i] {
					return fmt.Errorf("AppendPrefs(%#x, %d) = %v holds node %d twice", h, k, p, i)
				}
				seen[i] = true
			}
		}
	}
	return nil
}

func (s *suite) order() error {
	want := ownerNames(s.base, s.moving)
	sample := s.moving[:min(len(s.moving), 500)]
	for seed := range uint64(4) {
		nodes := s.nodes // seed 0: the same input again
		if seed > 0 {
			nodes = shuffled(s.nodes, seed)
		}
		pl, err := s.build(nodes)
		if err != nil {
			return err
		}
		if d := differ(want, ownerNames(pl, s.moving)); d > 0 {
			return fmt.Errorf("built again over members in order %s: %s of %s keys have another owner; want 0",
				short(names(nodes)), count(d), count(len(s.moving)))
		}
		for _, h := range sample {
			if a, b := prefNames(s.base, h, 4), prefNames(pl, h, 4); !slices.Equal(a, b) {
				return fmt.Errorf("members in order %s: key hash %#x has preference list %v, was %v", short(names(nodes)), h, b, a)
			}
		}
	}
	return nil
}

func (s *suite) remove() error {
	before := ownerNames(s.base, s.moving)
	allowed := int(s.o.disruption * float64(len(s.moving)))
	sample := s.moving[:min(len(s.moving), 1000)]
	allowedPrefs := int(s.o.reorder * float64(len(sample)))
	for _, gone := range s.nodes {
		pl, err := s.build(without(s.nodes, gone.Name))
		if err != nil {
			return err
		}
		after := ownerNames(pl, s.moving)
		between, orphans, owned := 0, 0, 0
		for i := range before {
			switch {
			case before[i] == gone.Name:
				owned++
				if after[i] == gone.Name {
					orphans++
				}
			case after[i] != before[i]:
				between++
			}
		}
		if orphans > 0 {
			return fmt.Errorf("removing %s left %s of its %s keys on it", gone.Name, count(orphans), count(owned))
		}
		if between > allowed {
			return fmt.Errorf("removing %s moved %s of %s keys between surviving nodes; want at most %s (only its own %s keys must move)",
				gone.Name, count(between), count(len(s.moving)), count(allowed), count(owned))
		}
		changed := 0
		for _, h := range sample {
			old := slices.DeleteFunc(prefNames(s.base, h, 4), func(n string) bool { return n == gone.Name })[:3]
			if !slices.Equal(old, prefNames(pl, h, 3)) {
				changed++
			}
		}
		if changed > allowedPrefs {
			return fmt.Errorf("removing %s changed the order of %s of %s preference lists (3 nodes); want at most %s: a list only loses the removed node",
				gone.Name, count(changed), count(len(sample)), count(allowedPrefs))
		}
	}
	return nil
}

func (s *suite) add() error {
	before := ownerNames(s.base, s.moving)
	allowed := int(s.o.disruption * float64(len(s.moving)))
	sample := s.moving[:min(len(s.moving), 1000)]
	allowedPrefs := int(s.o.reorder * float64(len(sample)))
	optimum := len(s.moving) / (len(s.nodes) + 1)
	limit := int(float64(optimum) * (1 + s.o.tolerance))
	// A name that sorts first, one in the middle and one last: an
	// algorithm must not depend on the index a name sorts at.
	for _, added := range []string{"aaa", "node-10", "zzz"} {
		pl, err := s.build(append(slices.Clone(s.nodes), sharding.Node{Name: added, Weight: 1}))
		if err != nil {
			return err
		}
		after := ownerNames(pl, s.moving)
		moved, between := 0, 0
		for i := range before {
			if after[i] != before[i] {
				moved++
				if after[i] != added {
					between++
				}
			}
		}
		if moved > limit {
			return fmt.Errorf("adding %s moved %s of %s keys; optimum %s (tolerance %s)",
				added, count(moved), count(len(s.moving)), count(optimum), count(limit))
		}
		if moved == 0 {
			return fmt.Errorf("adding %s moved no key; optimum %s", added, count(optimum))
		}
		if between > allowed {
			return fmt.Errorf("adding %s moved %s of %s keys between the nodes already there; want at most %s (keys move only to the new node)",
				added, count(between), count(len(s.moving)), count(allowed))
		}
		changed := 0
		for _, h := range sample {
			now := slices.DeleteFunc(prefNames(pl, h, 4), func(n string) bool { return n == added })[:3]
			if !slices.Equal(prefNames(s.base, h, 3), now) {
				changed++
			}
		}
		if changed > allowedPrefs {
			return fmt.Errorf("adding %s changed the order of %s of %s preference lists (3 nodes); want at most %s: a list only gains the new node",
				added, count(changed), count(len(sample)), count(allowedPrefs))
		}
	}
	return nil
}

func (s *suite) balance() error {
	sizes := make([]int, 0, len(s.o.balance))
	for n := range s.o.balance {
		sizes = append(sizes, n)
	}
	slices.Sort(sizes)
	for _, n := range sizes {
		b := s.o.balance[n]
		pl, err := s.build(nodesNamed(n))
		if err != nil {
			return err
		}
		direct := make([]int, n)
		for _, h := range s.hashes {
			direct[pl.Owner(h)]++
		}
		t := sharding.TableOf(pl, "test", sharding.DefaultPartitions, 0)
		table := make([]int, n)
		for _, h := range s.hashes {
			table[t.OwnerIndex(h)]++
		}
		for i, c := range [][]int{direct, table} {
			way := [2]string{"directly", "through a table"}[i]
			peak, trough, hi, lo := peakTrough(c)
			if peak > b[i].Peak || trough < b[i].Trough {
				return fmt.Errorf("%d nodes, %s keys placed %s: the most loaded node holds %s (%.3f of the mean), the least %s (%.3f); want within [%.2f, %.2f]",
					n, count(len(s.hashes)), way, count(hi), peak, count(lo), trough, b[i].Trough, b[i].Peak)
			}
		}
	}
	return nil
}

func (s *suite) weights() error {
	nodes := nodesNamed(8)
	nodes[2].Weight, nodes[5].Weight, nodes[7].Weight = 2, 0.5, 4
	pl, err := s.build(nodes)
	if err != nil {
		return err
	}
	c := make([]int, len(nodes))
	for _, h := range s.hashes {
		c[pl.Owner(h)]++
	}
	total := 0.0
	for _, n := range pl.Nodes() {
		total += n.Weight
	}
	for i, n := range pl.Nodes() {
		want := float64(len(s.hashes)) * n.Weight / total
		if r := float64(c[i]) / want; r < 0.9 || r > 1.1 {
			return fmt.Errorf("%s of weight %g holds %s of %s keys; want %s ± 10%%",
				n.Name, n.Weight, count(c[i]), count(len(s.hashes)), count(int(want)))
		}
	}
	return nil
}

// nodesNamed returns node-0..node-{n-1} of weight 1.
func nodesNamed(n int) []sharding.Node {
	out := make([]sharding.Node, n)
	for i := range out {
		out[i] = sharding.Node{Name: fmt.Sprintf("node-%d", i), Weight: 1}
	}
	return out
}

func shuffled(nodes []sharding.Node, seed uint64) []sharding.Node {
	out := slices.Clone(nodes)
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

func without(nodes []sharding.Node, name string) []sharding.Node {
	return slices.DeleteFunc(slices.Clone(nodes), func(n sharding.Node) bool { return n.Name == name })
}

func names(nodes []sharding.Node) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.Name
	}
	return out
}

// ownerNames returns the name of the owner of every hash.
func ownerNames(pl sharding.Placer, hs []uint64) []string {
	nodes := pl.Nodes()
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = nodes[pl.Owner(h)].Name
	}
	return out
}

// prefNames returns the names of the first n nodes of h's preference list.
func prefNames(pl sharding.Placer, h uint64, n int) []string {
	nodes := pl.Nodes()
	var out []string
	for _, i := range pl.AppendPrefs(nil, h, n) {
		out = append(out, nodes[i].Name)
	}
	return out
}

func differ(a, b []string) int {
	d := 0
	for i := range a {
		if a[i] != b[i] {
			d++
		}
	}
	return d
}

// peakTrough returns max/mean, min/mean, max and min of c.
func peakTrough(c []int) (peak, trough float64, hi, lo int) {
	total := 0
	for _, x := range c {
		total += x
	}
	mean := float64(total) / float64(len(c))
	hi, lo = slices.Max(c), slices.Min(c)
	return float64(hi) / mean, float64(lo) / mean, hi, lo
}

// short renders a list of names, eliding the middle of a long one.
func short(list []string) string {
	if len(list) <= 6 {
		return fmt.Sprint(list)
	}
	return fmt.Sprintf("[%s %s %s ... %s] (%d)", list[0], list[1], list[2], list[len(list)-1], len(list))
}

// count renders n with thousands separators: 100000 is "100,000".
func count(n int) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + count(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
