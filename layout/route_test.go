package layout_test

import (
	"slices"
	"testing"

	"github.com/zshard/zshard/layout"
	"github.com/zshard/zshard/sharding"
)

var (
	abc  = []string{"a", "b", "c"}
	abcd = []string{"a", "b", "c", "d"}
)

// migrating returns settings recording a migration from abc to abcd in
// phase, with Members as the rebalancer sets them in that phase.
func migrating(phase layout.MigrationPhase) layout.Settings {
	members := abc
	if phase != layout.PhaseCopying {
		members = abcd
	}
	return layout.Settings{Algorithm: sharding.Rendezvous, Partitions: 64, Replicas: 1, Members: members,
		Migration: &layout.Migration{ID: "add-d-epoch-0", Kind: layout.MigrationAdd, Node: "d", From: abc, To: abcd, Phase: phase}}
}

// TestRoute checks the node lists of every phase, in legacy mode and with
// nodes down.
func TestRoute(t *testing.T) {
	legacy := layout.Settings{Algorithm: sharding.Rendezvous, Partitions: 64}
	explicit := layout.Settings{Algorithm: sharding.Rendezvous, Partitions: 64, Members: abc}
	for _, tc := range []struct {
		name        string
		s           layout.Settings
		passing     []string
		read, write [][]string
		layouts     [][]string
	}{
		{name: "legacy", s: legacy, passing: abc,
			read: [][]string{abc}, write: [][]string{abc}, layouts: [][]string{abc}},
		{name: "legacy/node down", s: legacy, passing: []string{"a", "c"},
			read: [][]string{{"a", "c"}}, write: [][]string{{"a", "c"}}, layouts: [][]string{{"a", "c"}}},
		{name: "legacy/no node", s: legacy},
		{name: "no migration", s: explicit, passing: abc,
			read: [][]string{abc}, write: [][]string{abc}, layouts: [][]string{abc}},
		{name: "no migration/nodes down", s: explicit, passing: []string{"b"},
			read: [][]string{abc}, write: [][]string{abc}, layouts: [][]string{abc}},
		{name: "no migration/no node passing", s: explicit,
			read: [][]string{abc}, write: [][]string{abc}, layouts: [][]string{abc}},
		{name: "copying", s: migrating(layout.PhaseCopying), passing: abcd,
			read: [][]string{abc, abcd}, write: [][]string{abc, abcd}, layouts: [][]string{abc, abcd}},
		{name: "copying/new node not passing yet", s: migrating(layout.PhaseCopying), passing: abc,
			read: [][]string{abc, abcd}, write: [][]string{abc, abcd}, layouts: [][]string{abc, abcd}},
		{name: "switched", s: migrating(layout.PhaseSwitched), passing: abcd,
			read: [][]string{abcd, abc}, write: [][]string{abcd, abc}, layouts: [][]string{abc, abcd}},
		{name: "switched/nodes down", s: migrating(layout.PhaseSwitched), passing: []string{"d"},
			read: [][]string{abcd, abc}, write: [][]string{abcd, abc}, layouts: [][]string{abc, abcd}},
		{name: "cleaning", s: migrating(layout.PhaseCleaning), passing: abcd,
			read: [][]string{abcd, abc}, write: [][]string{abcd}, layouts: [][]string{abc, abcd}},
		{name: "cleaning/node down", s: migrating(layout.PhaseCleaning), passing: []string{"a", "b", "c"},
			read: [][]string{abcd, abc}, write: [][]string{abcd}, layouts: [][]string{abc, abcd}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.s.Route(tc.passing)
			if !equalLists(r.Read, tc.read) || !equalLists(r.Write, tc.write) {
				t.Fatalf("Route(%v) = read %v write %v, want read %v write %v", tc.passing, r.Read, r.Write, tc.read, tc.write)
			}
			if len(r.Write) > 0 && !slices.Equal(r.Write[0], r.Read[0]) {
				t.Fatalf("Write[0] %v is not Read[0] %v", r.Write[0], r.Read[0])
			}
			if got := tc.s.Layouts(tc.passing); !equalLists(got, tc.layouts) {
				t.Fatalf("Layouts(%v) = %v, want %v", tc.passing, got, tc.layouts)
			}
		})
	}
}

func equalLists(a, b [][]string) bool {
	return slices.EqualFunc(a, b, func(x, y []string) bool { return slices.Equal(x, y) })
}

// TestPartitionNodes checks, for every phase and partition, the nodes that
// serve reads and writes (AppendPrefs over the tables of the Route) against
// the preference lists of the From and To tables built directly.
func TestPartitionNodes(t *testing.T) {
	cfg := sharding.Config{Algorithm: sharding.Rendezvous, Partitions: 64, Replicas: 1}
	from, err := sharding.NewTable(cfg, sharding.NodesNamed(abc...))
	if err != nil {
		t.Fatal(err)
	}
	to, err := sharding.NewTable(cfg, sharding.NodesNamed(abcd...))
	if err != nil {
		t.Fatal(err)
	}
	union := func(p int, ts ...*sharding.Table) []string {
		var out []string
		for _, t := range ts {
			for _, n := range t.AppendPartitionPrefs(nil, p) {
				if !slices.Contains(out, n) {
					out = append(out, n)
				}
			}
		}
		return out
	}
	for _, tc := range []struct {
		phase       layout.MigrationPhase
		read, write []*sharding.Table
	}{
		{layout.PhaseCopying, []*sharding.Table{from, to}, []*sharding.Table{from, to}},
		{layout.PhaseSwitched, []*sharding.Table{to, from}, []*sharding.Table{to, from}},
		{layout.PhaseCleaning, []*sharding.Table{to, from}, []*sharding.Table{to}},
	} {
		t.Run(string(tc.phase), func(t *testing.T) {
			s := migrating(tc.phase)
			r := s.Route(nil)
			reads, writes := tables(t, s, r.Read), tables(t, s, r.Write)
			buf := make([]string, 0, 8)
			for p := range cfg.Partitions {
				if got, want := layout.AppendPrefs(buf[:0], p, reads...), union(p, tc.read...); !slices.Equal(got, want) {
					t.Fatalf("partition %d: reads %v, want %v", p, got, want)
				}
				if got, want := layout.AppendPrefs(buf[:0], p, writes...), union(p, tc.write...); !slices.Equal(got, want) {
					t.Fatalf("partition %d: writes %v, want %v", p, got, want)
				}
			}
		})
	}
}

func tables(t *testing.T, s layout.Settings, lists [][]string) []*sharding.Table {
	t.Helper()
	var out []*sharding.Table
	for _, names := range lists {
		tb, err := s.Table(names)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tb)
	}
	return out
}

// TestAppendPrefsKeepsPrefix: the nodes already in dst are kept and a later
// table's nodes are compared with what this call appended only.
func TestAppendPrefsKeepsPrefix(t *testing.T) {
	s := layout.Settings{Algorithm: sharding.Rendezvous, Partitions: 16, Replicas: 2}
	tb := tables(t, s, [][]string{abc, abcd})
	for p := range 16 {
		got := layout.AppendPrefs([]string{"a"}, p, tb...)
		if got[0] != "a" || !slices.Equal(got[1:], layout.AppendPrefs(nil, p, tb...)) {
			t.Fatalf("partition %d: %v", p, got)
		}
	}
}

// TestAppendPrefsDoesNotAllocate: the routing hot path appends into a
// buffer with room.
func TestAppendPrefsDoesNotAllocate(t *testing.T) {
	s := migrating(layout.PhaseCopying)
	tb := tables(t, s, s.Route(nil).Read)
	buf := make([]string, 0, 8)
	if n := testing.AllocsPerRun(100, func() { buf = layout.AppendPrefs(buf[:0], 7, tb[0], tb[1]) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}

func BenchmarkAppendPrefs(b *testing.B) {
	s := migrating(layout.PhaseCopying)
	s.Partitions = 1 << 16
	var tb []*sharding.Table
	for _, names := range s.Route(nil).Read {
		t, err := s.Table(names)
		if err != nil {
			b.Fatal(err)
		}
		tb = append(tb, t)
	}
	buf := make([]string, 0, 8)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		buf = layout.AppendPrefs(buf[:0], i&(1<<16-1), tb...)
	}
}
