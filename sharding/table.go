package sharding

// Table is the two-level routing table: key -> partition -> preference list.
// It is built once from a Placer and never changes; swap tables atomically on
// membership change and Diff them to rebalance.
type Table struct {
	algorithm string
	nodes     []Node
	names     []string
	parts     int
	width     int      // nodes per preference list: min(R+1, len(nodes))
	owners    []uint16 // owners[p] = prefs[p*width], kept apart for cache density
	prefs     []uint16 // P*width node indices
}

// NewTable builds the table of c (with defaults filled in) over nodes.
func NewTable(c Config, nodes []Node) (*Table, error) {
	pl, err := NewPlacer(c, nodes)
	if err != nil {
		return nil, err
	}
	c = c.withDefaults()
	return TableOf(pl, c.Algorithm, c.Partitions, c.Replicas), nil
}

// TableOf places partitions 0..partitions-1 (hashed with PartitionHash) with
// pl and stores replicas+1 nodes for each (fewer if the cluster is smaller).
// algorithm is only recorded. partitions must be in [1, MaxPartitions] and
// replicas >= 0 (NewTable validates them).
func TableOf(pl Placer, algorithm string, partitions, replicas int) *Table {
	nodes := pl.Nodes()
	t := &Table{
		algorithm: algorithm,
		nodes:     nodes,
		names:     make([]string, len(nodes)),
		parts:     partitions,
		width:     min(replicas+1, len(nodes)),
		owners:    make([]uint16, partitions),
	}
	for i, n := range nodes {
		t.names[i] = n.Name
	}
	t.prefs = make([]uint16, partitions*t.width)
	buf := make([]int, 0, t.width)
	for p := range partitions {
		buf = pl.AppendPrefs(buf[:0], PartitionHash(p), t.width)
		for j, o := range buf {
			t.prefs[p*t.width+j] = uint16(o)
		}
		t.owners[p] = uint16(buf[0])
	}
	return t
}

// Algorithm returns the name of the algorithm that built t.
func (t *Table) Algorithm() string { return t.algorithm }

// Nodes returns the membership sorted by name. The caller must not modify it.
func (t *Table) Nodes() []Node { return t.nodes }

// Partitions returns P.
func (t *Table) Partitions() int { return t.parts }

// Width returns the length of every preference list: min(R+1, len(Nodes())).
func (t *Table) Width() int { return t.width }

// Partition returns the partition of key.
func (t *Table) Partition(key string) int { return PartitionOf(KeyHash(key), t.parts) }

// Owner returns the name of the node that owns key. It does not allocate.
func (t *Table) Owner(key string) string {
	return t.names[t.owners[PartitionOf(KeyHash(key), t.parts)]]
}

// OwnerIndex returns the index in Nodes() of the owner of the key hash h.
func (t *Table) OwnerIndex(h uint64) int { return int(t.owners[PartitionOf(h, t.parts)]) }

// PartitionOwner returns the name of the node that owns partition p.
func (t *Table) PartitionOwner(p int) string { return t.names[t.owners[p]] }

// AppendPrefs appends the preference list of key (Width() distinct node
// names, owner first) to dst.
func (t *Table) AppendPrefs(dst []string, key string) []string {
	return t.AppendPartitionPrefs(dst, t.Partition(key))
}

// AppendPartitionPrefs appends the preference list of partition p to dst.
func (t *Table) AppendPartitionPrefs(dst []string, p int) []string {
	for _, o := range t.prefs[p*t.width : (p+1)*t.width] {
		dst = append(dst, t.names[o])
	}
	return dst
}

// PartitionCounts returns, per node (indexed as Nodes()), how many partitions
// it owns as first choice.
func (t *Table) PartitionCounts() []int {
	c := make([]int, len(t.nodes))
	for _, o := range t.owners {
		c[o]++
	}
	return c
}
