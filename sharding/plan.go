package sharding

import (
	"fmt"
	"slices"
	"sort"
)

// Change is one partition whose preference list differs between two tables.
type Change struct {
	Partition int
	Old       []string // preference list before, owner first
	New       []string // preference list after, owner first
}

// OwnerChanged reports whether the partition's first choice changed.
func (c Change) OwnerChanged() bool { return c.Old[0] != c.New[0] }

// Gained returns the nodes that must receive a copy: in New, not in Old.
func (c Change) Gained() []string { return minus(c.New, c.Old) }

// Dropped returns the nodes that hold the partition before and not after:
// they may delete it once the new table is in force.
func (c Change) Dropped() []string { return minus(c.Old, c.New) }

func minus(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// Transfer is a copy the rebalancer must make: partition Partition from a
// node that holds it now to a node that must hold it next.
type Transfer struct {
	Partition int
	From, To  string
}

// Plan is the difference between two tables of the same P: every partition
// whose preference list changed, in partition order.
type Plan struct {
	Partitions int
	Changes    []Change
}

// Diff returns the plan that turns old into new. Both tables must have the
// same number of partitions (ErrIncompatible otherwise).
func Diff(old, new *Table) (Plan, error) {
	if old.parts != new.parts {
		return Plan{}, fmt.Errorf("%w: %d vs %d partitions", ErrIncompatible, old.parts, new.parts)
	}
	plan := Plan{Partitions: old.parts}
	var a, b []string
	for p := range old.parts {
		a = old.AppendPartitionPrefs(a[:0], p)
		b = new.AppendPartitionPrefs(b[:0], p)
		if !slices.Equal(a, b) {
			plan.Changes = append(plan.Changes, Change{Partition: p, Old: slices.Clone(a), New: slices.Clone(b)})
		}
	}
	return plan, nil
}

// Change returns the change of partition p, if it has one.
func (pl Plan) Change(p int) (Change, bool) {
	i := sort.Search(len(pl.Changes), func(i int) bool { return pl.Changes[i].Partition >= p })
	if i < len(pl.Changes) && pl.Changes[i].Partition == p {
		return pl.Changes[i], true
	}
	return Change{}, false
}

// OwnerMoves counts the partitions whose owner changes, by (from, to) pair.
func (pl Plan) OwnerMoves() map[[2]string]int {
	m := make(map[[2]string]int)
	for _, c := range pl.Changes {
		if c.OwnerChanged() {
			m[[2]string{c.Old[0], c.New[0]}]++
		}
	}
	return m
}

// Transfers lists the copies to make: for each change, each gained node gets
// the partition from the old owner if it survives, else from the first
// surviving holder of the old list, else from the old owner (which the
// caller keeps until the copy is done).
func (pl Plan) Transfers() []Transfer {
	var out []Transfer
	for _, c := range pl.Changes {
		from := c.Old[0]
		for _, x := range c.Old {
			if slices.Contains(c.New, x) {
				from = x
				break
			}
		}
		for _, to := range c.Gained() {
			out = append(out, Transfer{Partition: c.Partition, From: from, To: to})
		}
	}
	return out
}
