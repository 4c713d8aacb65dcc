package producer

import (
	"slices"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/layout"
	"github.com/zshard/zshard/sharding"
)

// TestRouteDuringMigration checks the routing of every migration phase
// against the two tables directly: writes reach the union while copying and
// switched, only To while cleaning; reads try the primary layout first and
// fall back to the other; nodes with no peer (not passing) are skipped.
func TestRouteDuringMigration(t *testing.T) {
	from := []string{"a", "b", "c"}
	to := []string{"a", "b", "c", "d"}
	base := layout.Settings{Algorithm: sharding.Rendezvous, Partitions: 256, Replicas: 1, Members: from}
	names := func(ps []*peer) []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.name)
		}
		return out
	}
	cfg := sharding.Config{Algorithm: sharding.Rendezvous, Partitions: 256, Replicas: 1}
	tf, err := sharding.NewTable(cfg, sharding.NodesNamed(from...))
	require.NoError(t, err)
	tt, err := sharding.NewTable(cfg, sharding.NodesNamed(to...))
	require.NoError(t, err)
	union := func(a, b []string) []string {
		out := append([]string(nil), a...)
		for _, x := range b {
			if !slices.Contains(out, x) {
				out = append(out, x)
			}
		}
		return out
	}
	for _, tc := range []struct {
		phase             layout.MigrationPhase
		primary, other    *sharding.Table
		writeBoth, noMigr bool
	}{
		{phase: "", primary: tf, noMigr: true},
		{phase: layout.PhaseCopying, primary: tf, other: tt, writeBoth: true},
		{phase: layout.PhaseSwitched, primary: tt, other: tf, writeBoth: true},
		{phase: layout.PhaseCleaning, primary: tt, other: tf},
	} {
		t.Run(string(tc.phase), func(t *testing.T) {
			s := base.Clone()
			if !tc.noMigr {
				s.Migration = &layout.Migration{ID: "m", Kind: layout.MigrationAdd, Node: "d", From: from, To: to, Phase: tc.phase}
			}
			p := &Producer{settings: s}
			st := &state{settings: s, peers: map[string]*peer{}}
			for _, n := range to {
				st.peers[n] = &peer{name: n}
			}
			require.NoError(t, p.layout(st))
			for i := range 500 {
				key := string(rune('a'+i%26)) + string(rune('0'+i%10)) + string(rune(i))
				pl := tc.primary.AppendPrefs(nil, key)
				wantRead, wantWrite := pl, pl
				if tc.other != nil {
					ol := tc.other.AppendPrefs(nil, key)
					wantRead = union(pl, ol)
					if tc.writeBoth {
						wantWrite = wantRead
					}
				}
				var buf [8]string
				r, err := st.routeInto(nil, key, buf[:], false)
				require.NoError(t, err)
				require.Equal(t, wantRead, names(r), key)
				w, err := st.routeInto(nil, key, buf[:], true)
				require.NoError(t, err)
				require.Equal(t, wantWrite, names(w), key)
			}
			// A node of the layout that is not passing has no peer: it is
			// skipped, never replaced. At R=1 a quorum is both replicas, so
			// a write of a key "a" is a replica of in the primary layout is
			// unavailable (and says "a" is down); at consistency one, or
			// when "a" is only in the other layout, it goes to the key's
			// other nodes only.
			delete(st.peers, "a")
			for _, level := range []Consistency{Quorum, One} {
				st.write = level
				for i := range 100 {
					key := string(rune(i))
					var buf [8]string
					lists := [][]string{tc.primary.AppendPrefs(nil, key)}
					if tc.writeBoth {
						lists = append(lists, tc.other.AppendPrefs(nil, key))
					}
					// Only the primary layout's replicas count.
					hasA := slices.Contains(lists[0], "a")
					w, err := st.routeInto(nil, key, buf[:], true)
					if level == Quorum && hasA {
						require.ErrorIs(t, err, ErrUnavailable, key)
						require.ErrorContains(t, err, "a: down", key)
						continue
					}
					require.NoError(t, err, key)
					require.NotContains(t, names(w), "a")
					for _, n := range names(w) {
						require.True(t, slices.ContainsFunc(lists, func(l []string) bool { return slices.Contains(l, n) }),
							"%q routed to %s, not one of its nodes %v", key, n, lists)
					}
				}
			}
		})
	}
}

// BenchmarkRouteInto measures routing one key to its peers (the GET and PUT
// hot path) outside a migration and in each phase of one.
func BenchmarkRouteInto(b *testing.B) {
	from := []string{"n0", "n1", "n2", "n3", "n4"}
	to := []string{"n0", "n1", "n2", "n3", "n4", "n5"}
	keys := make([]string, 1<<16)
	for i := range keys {
		keys[i] = "key-" + strconv.Itoa(i)
	}
	for _, phase := range []layout.MigrationPhase{"", layout.PhaseCopying, layout.PhaseSwitched, layout.PhaseCleaning} {
		name := string(phase)
		if name == "" {
			name = "none"
		}
		s := layout.Settings{Algorithm: sharding.Rendezvous, Partitions: 1 << 16, Replicas: 2, Members: from}
		if phase != "" {
			s.Migration = &layout.Migration{ID: "m", Kind: layout.MigrationAdd, Node: "n5", From: from, To: to, Phase: phase}
		}
		p := &Producer{settings: s}
		st := &state{settings: s, peers: map[string]*peer{}}
		for _, n := range to {
			st.peers[n] = &peer{name: n}
		}
		if err := p.layout(st); err != nil {
			b.Fatal(err)
		}
		for _, op := range []string{"read", "write"} {
			b.Run(name+"/"+op, func(b *testing.B) {
				var buf [8]string
				dst := make([]*peer, 0, 8)
				write := op == "write"
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					var err error
					if dst, err = st.routeInto(dst[:0], keys[i&(len(keys)-1)], buf[:], write); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
