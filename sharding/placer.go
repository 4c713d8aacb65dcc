package sharding

import (
	"fmt"
)

// Names of the built-in algorithms (Register adds others).
const (
	Consistent = "consistent" // hash ring with virtual nodes (Ring)
	Rendezvous = "hrw"        // highest random weight (HRW)
)

// Defaults, chosen from the measurements in docs/BENCHMARKS.md.
const (
	// DefaultAlgorithm is the algorithm of a zero Config.
	DefaultAlgorithm = Rendezvous
	// DefaultVNodes is the ring points per unit of weight of "consistent".
	DefaultVNodes = 2048
	// DefaultPartitions is P, the partitions of a table.
	DefaultPartitions = 1 << 18
	// MaxPartitions bounds P.
	MaxPartitions = 1 << 24
)

// Placer is a placement algorithm over a fixed membership. It maps a 64-bit
// hash to nodes, named by their index in Nodes() (sorted by name).
//
// A Placer is immutable and safe for concurrent use. For every h, the first
// element of AppendPrefs(nil, h, n) is Owner(h).
type Placer interface {
	// Nodes returns the membership sorted by name. The caller must not modify it.
	Nodes() []Node
	// Owner returns the index of the node that owns h.
	Owner(h uint64) int
	// AppendPrefs appends the indices of the first n distinct nodes for h, in
	// preference order, to dst; n is capped at len(Nodes()).
	AppendPrefs(dst []int, h uint64, n int) []int
}

// Config selects an algorithm and its parameters. Its zero value means "all
// defaults".
type Config struct {
	// Algorithm is one of Algorithms(): a built-in or a registered
	// algorithm. Empty means DefaultAlgorithm.
	Algorithm string
	// VNodes is the number of ring points of a node of weight 1 ("consistent"
	// only). Zero means DefaultVNodes.
	VNodes int
	// Partitions is P, the fixed partition count of a Table; a cluster setting
	// that must never change while data is stored. Zero means DefaultPartitions.
	Partitions int
	// Replicas is R, the extra copies: preference lists hold R+1 nodes (fewer
	// when the cluster is smaller). Zero means no extra copy.
	Replicas int
}

// DefaultConfig returns the Config with every default filled in.
func DefaultConfig() Config {
	return Config{Algorithm: DefaultAlgorithm, VNodes: DefaultVNodes, Partitions: DefaultPartitions}
}

// withDefaults fills zero fields.
func (c Config) withDefaults() Config {
	if c.Algorithm == "" {
		c.Algorithm = DefaultAlgorithm
	}
	if c.VNodes == 0 {
		c.VNodes = DefaultVNodes
	}
	if c.Partitions == 0 {
		c.Partitions = DefaultPartitions
	}
	return c
}

// Validate reports whether c (with defaults filled in) is usable.
func (c Config) Validate() error {
	c = c.withDefaults()
	if _, ok := factory(c.Algorithm); !ok {
		return fmt.Errorf("%w %q (have %v)", ErrUnknownAlgorithm, c.Algorithm, Algorithms())
	}
	if c.VNodes < 1 || c.VNodes > 1<<16 {
		return fmt.Errorf("%w: vnodes %d not in [1, 65536]", ErrBadConfig, c.VNodes)
	}
	if c.Partitions < 1 || c.Partitions > MaxPartitions {
		return fmt.Errorf("%w: partitions %d not in [1, %d]", ErrBadConfig, c.Partitions, MaxPartitions)
	}
	if c.Replicas < 0 || c.Replicas >= MaxNodes {
		return fmt.Errorf("%w: replicas %d", ErrBadConfig, c.Replicas)
	}
	return nil
}

// NewPlacer builds the algorithm c.Algorithm (a registered one, see
// Register) over nodes, for direct per-key placement (see NewTable for the
// two-level routing table).
func NewPlacer(c Config, nodes []Node) (Placer, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	c = c.withDefaults()
	f, _ := factory(c.Algorithm)
	pl, err := f(c, nodes)
	if err != nil {
		return nil, err
	}
	if n := len(pl.Nodes()); n > MaxNodes || n != len(nodes) {
		return nil, fmt.Errorf("%w: algorithm %q placed over %d nodes, given %d", ErrBadConfig, c.Algorithm, n, len(nodes))
	}
	return pl, nil
}
