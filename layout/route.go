package layout

import (
	"slices"

	"github.com/zshard/zshard/sharding"
)

// Route says which node lists serve a key in the current phase: the key's
// preference list under each of them.
type Route struct {
	// Read are the node lists a read tries, in order: the key's preference
	// list under Read[0], then the nodes of its list under Read[1] not
	// already asked. Empty when there is no node at all.
	Read [][]string
	// Write are the node lists a write reaches: the union of the key's
	// preference lists under each. Write[0] is Read[0].
	Write [][]string
}

// Route returns the node lists that serve reads and writes under s, passing
// being the nodes that pass their health checks as the caller counts them.
// passing matters in legacy mode only (Settings.Members empty): the layout
// is then passing. An explicit layout does not change when nodes go down; a
// caller skips them in the preference lists instead. During a migration:
//
//	copying:  reads From then To, writes From and To
//	switched: reads To then From, writes To and From
//	cleaning: reads To then From, writes To
//
// The returned lists alias s and passing.
func (s Settings) Route(passing []string) Route {
	m := s.Migration
	if s.Legacy() || m == nil {
		names := s.Nodes(passing)
		if len(names) == 0 {
			return Route{}
		}
		one := [][]string{names}
		return Route{Read: one, Write: one}
	}
	switch m.Phase {
	case PhaseCopying:
		both := [][]string{m.From, m.To}
		return Route{Read: both, Write: both}
	case PhaseCleaning:
		return Route{Read: [][]string{m.To, m.From}, Write: [][]string{m.To}}
	default: // switched
		both := [][]string{m.To, m.From}
		return Route{Read: both, Write: both}
	}
}

// Nodes returns the node list of the layout outside a migration: Members,
// or in legacy mode passing.
func (s Settings) Nodes(passing []string) []string {
	if s.Legacy() {
		return passing
	}
	return s.Members
}

// Layouts returns every node list whose preference lists may hold keys:
// From and To, in that order, during a migration (whatever its phase),
// else the one list of Nodes. passing is as for Route.
func (s Settings) Layouts(passing []string) [][]string {
	if m := s.Migration; m != nil && !s.Legacy() {
		return [][]string{m.From, m.To}
	}
	if names := s.Nodes(passing); len(names) > 0 {
		return [][]string{names}
	}
	return nil
}

// AppendPrefs appends to dst the preference list of partition p under each
// of tables in turn, leaving out the nodes already appended by an earlier
// table: the nodes that serve p, in the order they are asked. The tables
// must have the same partition count. It does not allocate when dst has
// room.
func AppendPrefs(dst []string, p int, tables ...*sharding.Table) []string {
	start := len(dst)
	for i, t := range tables {
		n := len(dst)
		dst = t.AppendPartitionPrefs(dst, p)
		if i == 0 {
			continue
		}
		// Keep dst[:n] and the new names not already in dst[start:n].
		kept := dst[:n]
		for _, a := range dst[n:] {
			if !slices.Contains(dst[start:n], a) {
				kept = append(kept, a)
			}
		}
		dst = kept
	}
	return dst
}
