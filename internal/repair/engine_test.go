package repair

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/zshard/zshard/internal/hlc"
	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/layout"
	"github.com/zshard/zshard/sharding"
)

var fourNodes = []string{"node-0", "node-1", "node-2", "node-3"}

// testTable is the placement of names at R = r over P partitions.
func testTable(t *testing.T, P, r int, names ...string) *sharding.Table {
	t.Helper()
	s := layout.Settings{Algorithm: sharding.Rendezvous, Partitions: P, Replicas: r, Members: names}
	table, err := s.Table(names)
	if err != nil {
		t.Fatal(err)
	}
	return table
}

// repairAll compares every partition of table on fc, as Run does without
// Consul.
func repairAll(t *testing.T, fc *fakeCluster, table *sharding.Table, down map[string]string, opt options) (Report, error) {
	t.Helper()
	e := newEngine(fc, table, down, opt)
	old, err := e.checkFeatures(context.Background())
	if err != nil {
		return e.report(), err
	}
	if len(old) > 0 {
		return e.report(), fmt.Errorf("%w: %v", ErrNoVersions, old)
	}
	err = e.compareRange(context.Background(), 0, table.Partitions(), nil)
	return e.report(), err
}

func ver(t, w uint64) hlc.Version { return hlc.Version{Time: t, Writer: w} }

func TestDecide(t *testing.T) {
	v1, v2 := ver(10, 1), ver(20, 1)
	val := func(v hlc.Version) *protocol.Entry {
		return &protocol.Entry{Key: "k", Value: []byte(`"x"`), Version: v}
	}
	tomb := func(v hlc.Version) *protocol.Entry { return &protocol.Entry{Key: "k", Deleted: true, Version: v} }
	for _, tc := range []struct {
		name   string
		recs   []*protocol.Entry
		newest int
		stale  []int
	}{
		{"none anywhere", []*protocol.Entry{nil, nil}, -1, nil},
		{"all equal", []*protocol.Entry{val(v1), val(v1), val(v1)}, 0, nil},
		{"missing on one", []*protocol.Entry{val(v1), nil, val(v1)}, 0, []int{1}},
		{"older on the first", []*protocol.Entry{val(v1), val(v2)}, 1, []int{0}},
		{"newest on the last, missing on one", []*protocol.Entry{nil, val(v1), val(v2)}, 2, []int{0, 1}},
		{"a tombstone is newer", []*protocol.Entry{val(v1), tomb(v2), nil}, 1, []int{0, 2}},
		{"a value newer than a tombstone", []*protocol.Entry{tomb(v1), val(v2)}, 1, []int{0}},
		{"writer breaks a tie of time", []*protocol.Entry{val(ver(10, 2)), val(ver(10, 1))}, 0, []int{1}},
		{"unversioned: only where missing", []*protocol.Entry{val(hlc.Version{}), nil, {Key: "k", Value: []byte(`"y"`)}}, 0, []int{1}},
		{"versioned beats unversioned", []*protocol.Entry{val(hlc.Version{}), val(v1)}, 1, []int{0}},
		{"unversioned tombstone is never written", []*protocol.Entry{tomb(hlc.Version{}), nil}, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			newest, stale := decide(tc.recs)
			if newest != tc.newest || !slices.Equal(stale, tc.stale) {
				t.Fatalf("decide = %d, %v; want %d, %v", newest, stale, tc.newest, tc.stale)
			}
		})
	}
}

// scenario fills fc with keys whose replicas (under table) each saw a
// random subset of the key's writes, as replicas that missed some would,
// and returns what every replica must hold after a repair that skips the
// nodes of down, and how many keys each node must be written.
func scenario(t *testing.T, seed uint64, fc *fakeCluster, table *sharding.Table, keys int, down map[string]string) (want map[string]map[string]fakeRec, fixed map[string]int64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	want = map[string]map[string]fakeRec{}
	fixed = map[string]int64{}
	for i := range keys {
		k := fmt.Sprintf("key-%d-%d", seed, i)
		list := table.AppendPrefs(nil, k)
		var writes []fakeRec
		unversioned := rng.IntN(20) == 0
		// Distinct versions: an equal version is the same write.
		times := rng.Perm(50)
		for w := range 1 + rng.IntN(3) {
			rec := fakeRec{version: ver(uint64(1000+times[w]/2), uint64(times[w]%2+1))}
			switch {
			case unversioned:
				rec.version = hlc.Version{}
				rec.value, rec.codec = fmt.Appendf(nil, `"u%d"`, w), protocol.JSON
			case rng.IntN(5) == 0:
				rec.deleted = true
			case rng.IntN(3) == 0:
				rec.value, rec.codec = []byte{0xc4, 0x02, byte(w), 0xff}, protocol.Msgpack // bin: no JSON form
			default:
				rec.value, rec.codec = fmt.Appendf(nil, `{"w":%d, "k":%q}`, w, k), protocol.JSON
			}
			writes = append(writes, rec)
		}
		// What each replica holds: the newest of the writes it saw.
		held := map[string]*fakeRec{}
		for _, n := range list {
			for j := range writes {
				if rng.IntN(10) < 7 && (held[n] == nil || writes[j].version.Newer(held[n].version)) {
					held[n] = &writes[j]
				}
			}
			if held[n] != nil {
				fc.nodes[n].recs[k] = *held[n]
			}
		}
		// The reference: the newest record among the replicas up.
		var up []string
		for _, n := range list {
			if _, ok := down[n]; !ok {
				up = append(up, n)
			}
		}
		want[k] = map[string]fakeRec{}
		var newest *fakeRec
		for _, n := range up {
			if r := held[n]; r != nil && (newest == nil || r.version.Newer(newest.version)) {
				newest = r
			}
		}
		for _, n := range list {
			r := held[n]
			switch {
			case len(up) < 2 || !slices.Contains(up, n) || newest == nil:
			case r == nil:
				r = newest
				fixed[n]++
			case newest.version.Newer(r.version):
				r = newest
				fixed[n]++
			}
			if r != nil {
				want[k][n] = *r
			}
		}
	}
	return want, fixed
}

// check fails t unless every node holds exactly what want says.
func check(t *testing.T, fc *fakeCluster, want map[string]map[string]fakeRec) {
	t.Helper()
	for k, byNode := range want {
		for n, node := range fc.nodes {
			got, has := node.recs[k]
			w, should := byNode[n]
			if has != should || (has && !got.equal(w)) {
				t.Fatalf("%s on %s: holds %+v (%v), want %+v (%v)", k, n, got, has, w, should)
			}
		}
	}
}

func TestRepairConverges(t *testing.T) {
	for _, tc := range []struct {
		name  string
		codec protocol.Codec
		r     int
		chunk int
		P     int
	}{
		{"json/R=2", protocol.JSON, 2, 0, 64},
		{"msgpack/R=2", protocol.Msgpack, 2, 0, 64},
		{"json/R=1/small chunks", protocol.JSON, 1, 7, 64},
		{"msgpack/R=3", protocol.Msgpack, 3, 16, 64},
		{"json/R=2/several DIGESTs per chunk", protocol.JSON, 2, 0, 3*digestPartitions + 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for seed := range uint64(3) {
				fc := newFakeCluster(tc.codec, fourNodes...)
				table := testTable(t, tc.P, tc.r, fourNodes...)
				want, fixed := scenario(t, seed, fc, table, 600, nil)
				// Small pages and batches: several per partition set.
				rep, err := repairAll(t, fc, table, nil, options{chunk: tc.chunk, batchKeys: 7})
				if err != nil {
					t.Fatal(err)
				}
				check(t, fc, want)
				if !maps.Equal(rep.Fixed, fixed) {
					t.Fatalf("Fixed = %v, want %v", rep.Fixed, fixed)
				}
				if rep.Compared != tc.P || rep.Differing == 0 || rep.Skipped != 0 || rep.Superseded != 0 || rep.Failed != 0 || len(rep.Down) != 0 {
					t.Fatalf("report %+v", rep)
				}
				// A second repair finds nothing to do.
				again, err := repairAll(t, fc, table, nil, options{})
				if err != nil {
					t.Fatal(err)
				}
				if again.Differing != 0 || again.FixedTotal() != 0 || again.Scanned != 0 {
					t.Fatalf("seed %d: second repair: %+v", seed, again)
				}
			}
		})
	}
}

func TestRepairDryRunChangesNothing(t *testing.T) {
	fc := newFakeCluster(protocol.JSON, fourNodes...)
	table := testTable(t, 64, 2, fourNodes...)
	_, fixed := scenario(t, 7, fc, table, 500, nil)
	before := snapshot(fc)
	rep, err := repairAll(t, fc, table, nil, options{dryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(rep.Fixed, fixed) || !rep.DryRun {
		t.Fatalf("dry run Fixed = %v, want %v", rep.Fixed, fixed)
	}
	for n := range fc.nodes {
		if w := fc.ops[n][protocol.OpBatch] + fc.ops[n][protocol.OpPut] + fc.ops[n][protocol.OpDelete]; w != 0 {
			t.Fatalf("the dry run wrote to %s: %v", n, fc.ops[n])
		}
	}
	if !maps.EqualFunc(before, snapshot(fc), func(a, b map[string]fakeRec) bool {
		return maps.EqualFunc(a, b, fakeRec.equal)
	}) {
		t.Fatal("the dry run changed the nodes")
	}
}

func snapshot(fc *fakeCluster) map[string]map[string]fakeRec {
	out := map[string]map[string]fakeRec{}
	for n, node := range fc.nodes {
		out[n] = maps.Clone(node.recs)
	}
	return out
}

func TestRepairSkipsReplicasDown(t *testing.T) {
	t.Run("not passing", func(t *testing.T) {
		fc := newFakeCluster(protocol.JSON, fourNodes...)
		table := testTable(t, 64, 1, fourNodes...)
		down := map[string]string{"node-2": "not passing its health check"}
		want, fixed := scenario(t, 3, fc, table, 500, down)
		fc.nodes["node-2"].down = true
		rep, err := repairAll(t, fc, table, down, options{})
		if err != nil {
			t.Fatal(err)
		}
		check(t, fc, want)
		if !maps.Equal(rep.Fixed, fixed) || rep.Down["node-2"] == "" || rep.Skipped == 0 || rep.Compared+rep.Skipped != 64 {
			t.Fatalf("report %+v, want Fixed %v", rep, fixed)
		}
		if len(fc.ops["node-2"]) != 0 {
			t.Fatalf("node-2, down, was called: %v", fc.ops["node-2"])
		}
	})
	for _, op := range []protocol.Op{protocol.OpPing, protocol.OpDigest, protocol.OpScan, protocol.OpBatch} {
		t.Run("fails its "+op.String(), func(t *testing.T) {
			fc := newFakeCluster(protocol.JSON, fourNodes...)
			table := testTable(t, 64, 2, fourNodes...)
			// node-1 answers until its first op; then it fails every call.
			failed := false
			fc.nodes["node-1"].fail = func(r *protocol.Request) bool {
				failed = failed || r.Op == op
				return failed
			}
			scenario(t, 11, fc, table, 500, nil)
			rep, err := repairAll(t, fc, table, nil, options{batchKeys: 5})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Down["node-1"] == "" {
				t.Fatalf("node-1 not reported down: %+v", rep)
			}
			// The other replicas agree: a second repair without node-1
			// finds nothing.
			again, err := repairAll(t, fc, table, map[string]string{"node-1": "down"}, options{})
			if err != nil {
				t.Fatal(err)
			}
			if again.Differing != 0 {
				t.Fatalf("replicas still differ: %+v", again)
			}
		})
	}
}

func TestRepairLosesToConcurrentWrites(t *testing.T) {
	fc := newFakeCluster(protocol.JSON, "a", "b")
	table := testTable(t, 8, 1, "a", "b")
	fc.nodes["a"].recs["k"] = fakeRec{value: []byte(`"old"`), codec: protocol.JSON, version: ver(10, 1)}
	fc.nodes["b"].recs["k"] = fakeRec{value: []byte(`"mid"`), codec: protocol.JSON, version: ver(20, 1)}
	// A client writes k on a between the repair's read and its write.
	newer := fakeRec{value: []byte(`"new"`), codec: protocol.JSON, version: ver(30, 2)}
	fc.nodes["a"].before = func(n *fakeNode) { n.recs["k"] = newer }
	rep, err := repairAll(t, fc, table, nil, options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := fc.nodes["a"].recs["k"]; !got.equal(newer) {
		t.Fatalf("the repair undid a newer write: %+v", got)
	}
	if rep.Superseded != 1 || rep.FixedTotal() != 0 {
		t.Fatalf("report %+v", rep)
	}
}

func TestRepairNeedsVersions(t *testing.T) {
	fc := newFakeCluster(protocol.JSON, fourNodes...)
	fc.nodes["node-3"].noVersions = true
	_, err := repairAll(t, fc, testTable(t, 16, 2, fourNodes...), nil, options{})
	if !errors.Is(err, ErrNoVersions) {
		t.Fatalf("err = %v, want ErrNoVersions", err)
	}
}

func TestRepairAtR0ComparesNothing(t *testing.T) {
	fc := newFakeCluster(protocol.JSON, fourNodes...)
	rep, err := repairAll(t, fc, testTable(t, 16, 0, fourNodes...), nil, options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Compared != 0 || rep.Skipped != 16 {
		t.Fatalf("report %+v", rep)
	}
	for n := range fc.nodes {
		if fc.ops[n][protocol.OpDigest] != 0 {
			t.Fatalf("%s was digested: %v", n, fc.ops[n])
		}
	}
}

func TestRepairRateLimit(t *testing.T) {
	// A partition rate bound of 1000/s over 64 partitions in chunks of 8:
	// the last chunk is charged at 64/1000 s.
	fc := newFakeCluster(protocol.JSON, fourNodes...)
	table := testTable(t, 64, 2, fourNodes...)
	e := newEngine(fc, table, nil, options{chunk: 8, maxPartitionRate: 1000})
	if err := e.compareRange(context.Background(), 0, 64, nil); err != nil {
		t.Fatal(err)
	}
	if e.pace.parts != 64 {
		t.Fatalf("charged %v partitions, want 64", e.pace.parts)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	slow := newEngine(fc, table, nil, options{chunk: 8, maxKeyRate: 1})
	slow.pace.keys = 1e9 // far behind: the next wait is long
	if err := slow.compareRange(ctx, 0, 64, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("a paced repair does not stop with its context: %v", err)
	}
}

func TestLeadersCoverEveryPartitionOnce(t *testing.T) {
	for _, down := range []map[string]string{nil, {"node-0": "down"}, {"node-1": "down", "node-3": "down"}} {
		table := testTable(t, 256, 2, fourNodes...)
		e := newEngine(newFakeCluster(protocol.JSON, fourNodes...), table, down, options{})
		led := map[int]string{}
		for _, n := range fourNodes {
			for _, p := range e.ledBy(n) {
				if o, ok := led[p]; ok {
					t.Fatalf("partition %d led by %s and %s", p, o, n)
				}
				if _, isDown := down[n]; isDown {
					t.Fatalf("%s, down, leads partition %d", n, p)
				}
				led[p] = n
			}
		}
		for p := range 256 {
			if up := e.upList(nil, p); (len(up) >= 2) != (led[p] != "") || (len(up) >= 2 && up[0] != led[p]) {
				t.Fatalf("down %v: partition %d (up %v) led by %q", down, p, up, led[p])
			}
		}
	}
}

func TestPacerCharge(t *testing.T) {
	now := time.Unix(1000, 0)
	for _, tc := range []struct {
		name string
		due  time.Time
		secs float64
		want time.Time
	}{
		{"first charge", time.Time{}, 0.5, now.Add(-maxCredit + 500*time.Millisecond)},
		{"behind less than the credit", now.Add(-50 * time.Millisecond), 0.1, now.Add(50 * time.Millisecond)},
		{"far behind: no burst", now.Add(-time.Hour), 0.1, now.Add(-maxCredit + 100*time.Millisecond)},
		{"ahead: queued after", now.Add(time.Second), 0.25, now.Add(1250 * time.Millisecond)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := charge(tc.due, now, tc.secs); !got.Equal(tc.want) {
				t.Fatalf("charge = %v, want %v", got.Sub(now), tc.want.Sub(now))
			}
		})
	}
}
