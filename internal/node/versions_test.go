package node

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"
	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/hlc"
	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/internal/store"
	"github.com/zshard/zshard/internal/store/durable"
	"github.com/zshard/zshard/sharding"
)

// engines are the stores the version tests run on: the in-memory one,
// which applies a BATCH's PUTs one by one, and the durable one, which
// applies each run of them in one commit (and gathers pushed ones).
var engines = []struct {
	name string
	open func(t *testing.T) store.Store
}{
	{"memory", func(*testing.T) store.Store { return nil }},
	{"durable", func(t *testing.T) store.Store {
		st, err := durable.Open(t.TempDir(), durable.Options{})
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, st.Close()) })
		return st
	}},
}

// forEachEngine runs f on a node of each engine in each codec.
func forEachEngine(t *testing.T, cfg Config, f func(t *testing.T, c protocol.Codec, n *Node, req, push *zmq.Socket)) {
	for _, e := range engines {
		for _, c := range codecs {
			t.Run(e.name+"/"+c.String(), func(t *testing.T) {
				cfg := cfg
				cfg.Store = e.open(t)
				n, req, push := startWithClients(t, cfg)
				f(t, c, n, req, push)
			})
		}
	}
}

// ver returns a version of writer 7, ms milliseconds after a fixed
// instant a minute ago (within any clock bound).
func ver(ms int64) hlc.Version {
	return hlc.Version{Time: hlc.At(verEpoch.Add(time.Duration(ms) * time.Millisecond)), Writer: 7}
}

var verEpoch = time.Now().Add(-time.Minute)

// lookup returns the record of key in n's store.
func lookup(t *testing.T, n *Node, key string) (store.Value, bool) {
	t.Helper()
	v, ok, err := n.Store().Lookup(context.Background(), key)
	require.NoError(t, err)
	return v, ok
}

// TestSupersededWrites: a PUT or DELETE older than what the node holds of
// its key is not applied and is answered OK with superseded, on both
// endpoints and inside a BATCH; the same version again is a resend,
// neither applied anew nor superseded; a newer one wins.
func TestSupersededWrites(t *testing.T) {
	forEachEngine(t, Config{}, func(t *testing.T, c protocol.Codec, n *Node, req, push *zmq.Socket) {
		put := func(k string, v any, at hlc.Version) protocol.Reply {
			return mustOK(t, call(t, req, c, protocol.Request{Op: protocol.OpPut, Key: k, Value: val(t, c, v), Version: at}))
		}
		require.False(t, put("k", "v2", ver(20)).Superseded)
		require.True(t, put("k", "v1", ver(10)).Superseded)
		require.False(t, put("k", "v2", ver(20)).Superseded, "a resend of the same write")
		del := mustOK(t, call(t, req, c, protocol.Request{Op: protocol.OpDelete, Key: "k", Version: ver(15)}))
		require.True(t, del.Superseded)
		require.False(t, del.Deleted)
		got := mustOK(t, call(t, req, c, protocol.Request{Op: protocol.OpGetOne, Key: "k", Versions: true}))
		require.Equal(t, val(t, c, "v2"), got.Value)
		require.Equal(t, ver(20), got.Version)

		// Older writes inside BATCHes: in runs of PUTs, alone, and DELETEs.
		rep := mustOK(t, call(t, req, c, protocol.Request{Op: protocol.OpBatch, Ops: []protocol.Request{
			{Op: protocol.OpPut, Key: "k", Value: val(t, c, "old"), Version: ver(11)},
			{Op: protocol.OpPut, Key: "b", Value: val(t, c, "b"), Version: ver(30)},
			{Op: protocol.OpPut, Key: "b", Value: val(t, c, "older b"), Version: ver(29)},
			{Op: protocol.OpDelete, Key: "k", Version: ver(12)},
			{Op: protocol.OpPut, Key: "k", Value: val(t, c, "old"), Version: ver(13)},
			{Op: protocol.OpDelete, Key: "b", Version: ver(31)},
		}}))
		var superseded []bool
		for _, r := range rep.Results {
			mustOK(t, r)
			superseded = append(superseded, r.Superseded)
		}
		require.Equal(t, []bool{true, false, true, true, true, false}, superseded)
		require.True(t, rep.Results[5].Deleted)

		// Pushed: the older ones leave the keys as they are.
		_, err := push.SendBytes(encodeReq(t, c, protocol.Request{Op: protocol.OpBatch, Ops: []protocol.Request{
			{Op: protocol.OpPut, Key: "k", Value: val(t, c, "old"), Version: ver(14)},
			{Op: protocol.OpPut, Key: "b", Value: val(t, c, "old"), Version: ver(30)},
			{Op: protocol.OpDelete, Key: "k", Version: ver(16)},
			{Op: protocol.OpPut, Key: "new", Value: val(t, c, "new"), Version: ver(40)},
		}}), 0)
		require.NoError(t, err)
		_, err = push.SendBytes(encodeReq(t, c, protocol.Request{Op: protocol.OpPut, Key: "new", Value: val(t, c, "older"), Version: ver(39)}), 0)
		require.NoError(t, err)
		syncIngest(t, push, req, "superseded")
		for k, want := range map[string]hlc.Version{"k": ver(20), "b": ver(31), "new": ver(40)} {
			v, ok := lookup(t, n, k)
			require.True(t, ok, k)
			require.Equal(t, want, v.Version, k)
		}
		v, _ := lookup(t, n, "new")
		require.Equal(t, val(t, c, "new"), v.Data)

		// A newer write wins, also over a tombstone.
		require.False(t, put("b", "back", ver(50)).Superseded)
		require.Equal(t, val(t, c, "back"), mustOK(t, call(t, req, c, protocol.Request{Op: protocol.OpGetOne, Key: "b"})).Value)
		require.Zero(t, n.Stats().Errors["bad_request"])
	})
}

// TestTombstones: a DELETE leaves a tombstone that hides its key from
// GET_ONE, GET_ALL, SCAN and DIGEST, and STATS' keys, while reads with
// versions see it: GET_ONE's not_found carries its version, SCAN returns
// it as a deleted entry (raw or not), DIGEST hashes it, STATS counts it.
func TestTombstones(t *testing.T) {
	forEachEngine(t, Config{}, func(t *testing.T, c protocol.Codec, n *Node, req, push *zmq.Socket) {
		for _, k := range []string{"a", "b", "c"} {
			mustOK(t, call(t, req, c, protocol.Request{Op: protocol.OpPut, Key: k, Value: val(t, c, k), Version: ver(1)}))
		}
		// A value in the other codec, which a raw SCAN returns raw.
		other := protocol.JSON
		if c == protocol.JSON {
			other = protocol.Msgpack
		}
		mustOK(t, call(t, req, c, protocol.Request{Op: protocol.OpPut, Key: "c", Value: val(t, other, "c"), ValueCodec: other, Version: ver(2)}))
		del := mustOK(t, call(t, req, c, protocol.Request{Op: protocol.OpDelete, Key: "a", Version: ver(3)}))
		require.True(t, del.Deleted)
		require.False(t, del.Superseded)
		_, err := push.SendBytes(encodeReq(t, c, protocol.Request{Op: protocol.OpDelete, Key: "never", Version: ver(4)}), 0)
		require.NoError(t, err)
		syncIngest(t, push, req, "tombstones")
		again := mustOK(t, call(t, req, c, protocol.Request{Op: protocol.OpDelete, Key: "a", Version: ver(5)}))
		require.False(t, again.Deleted, "a tombstone is not a value")

		// Hidden from the reads without versions.
		nf := call(t, req, c, protocol.Request{Op: protocol.OpGetOne, Key: "a"})
		mustErr(t, nf, protocol.CodeNotFound)
		require.True(t, nf.Version.IsZero(), "no version without versions")
		keys := func(es []protocol.Entry) []string {
			var out []string
			for _, e := range es {
				out = append(out, e.Key)
			}
			return out
		}
		all := mustOK(t, call(t, req, c, protocol.Request{Op: protocol.OpGetAll}))
		require.ElementsMatch(t, []string{"b", "c"}, keys(all.Collection))
		scan := mustOK(t, call(t, req, c, protocol.Request{Op: protocol.OpScan}))
		require.ElementsMatch(t, []string{"b", "c"}, keys(scan.Collection))
		st := n.Stats()
		require.Equal(t, int64(2), st.Keys)
		require.Equal(t, int64(2), st.Tombstones)
		rst := mustOK(t, call(t, req, c, protocol.Request{Op: protocol.OpStats})).Stats
		require.Equal(t, int64(2), rst.Tombstones)

		// Seen by the reads with versions.
		nf = call(t, req, c, protocol.Request{Op: protocol.OpGetOne, Key: "a", Versions: true})
		mustErr(t, nf, protocol.CodeNotFound)
		require.Equal(t, ver(5), nf.Version)
		mustErr(t, call(t, req, c, protocol.Request{Op: protocol.OpGetOne, Key: "nothing", Versions: true}), protocol.CodeNotFound)
		want := map[string]protocol.Entry{
			"a":     {Key: "a", Deleted: true, Version: ver(5)},
			"never": {Key: "never", Deleted: true, Version: ver(4)},
			"b":     {Key: "b", Value: val(t, c, "b"), Version: ver(1)},
		}
		for _, raw := range []bool{false, true} {
			scan = mustOK(t, call(t, req, c, protocol.Request{Op: protocol.OpScan, Versions: true, Raw: raw}))
			got := map[string]protocol.Entry{}
			for _, e := range scan.Collection {
				got[e.Key] = e
			}
			wantC := protocol.Entry{Key: "c", Value: val(t, c, "c"), Version: ver(2)}
			if raw {
				wantC = protocol.Entry{Key: "c", Value: val(t, other, "c"), Codec: other, Version: ver(2)}
			}
			want["c"] = wantC
			require.Equal(t, want, got, "raw %v", raw)
		}
		// Paged: tombstones count toward the limit.
		var paged []string
		cursor := ""
		for {
			page := mustOK(t, call(t, req, c, protocol.Request{Op: protocol.OpScan, Versions: true, Limit: 1, Cursor: cursor}))
			require.LessOrEqual(t, len(page.Collection), 1)
			paged = append(paged, keys(page.Collection)...)
			if cursor = page.Cursor; cursor == "" {
				break
			}
		}
		require.ElementsMatch(t, []string{"a", "b", "c", "never"}, paged)

		// DIGEST with versions sums VersionEntryHash over values and
		// tombstones; one partition holds everything.
		var sum uint64
		for _, e := range want {
			sum += protocol.VersionEntryHash(e.Key, e.Version, e.Deleted)
		}
		dg := mustOK(t, call(t, req, c, protocol.Request{Op: protocol.OpDigest, Partitions: 1, Bitmap: []byte{1}, Versions: true}))
		require.Equal(t, []protocol.Digest{{Partition: 0, Keys: 4, Sum: sum}}, dg.Digests)
		plain := mustOK(t, call(t, req, c, protocol.Request{Op: protocol.OpDigest, Partitions: 1, Bitmap: []byte{1}, Raw: true}))
		require.Equal(t, uint64(2), plain.Digests[0].Keys, "without versions tombstones are not digested")

		// Over a tombstone, an older PUT is superseded; if_absent stores
		// nothing (a tombstone is a record); a newer PUT brings the key back.
		require.True(t, mustOK(t, call(t, req, c, protocol.Request{Op: protocol.OpPut, Key: "a", Value: val(t, c, 1), Version: ver(4)})).Superseded)
		mustOK(t, call(t, req, c, protocol.Request{Op: protocol.OpPut, Key: "a", Value: val(t, c, 1), IfAbsent: true}))
		mustErr(t, call(t, req, c, protocol.Request{Op: protocol.OpGetOne, Key: "a"}), protocol.CodeNotFound)
		mustOK(t, call(t, req, c, protocol.Request{Op: protocol.OpPut, Key: "a", Value: val(t, c, 2), Version: ver(6)}))
		require.Equal(t, val(t, c, 2), mustOK(t, call(t, req, c, protocol.Request{Op: protocol.OpGetOne, Key: "a"})).Value)
	})
}

// TestVersionTooFarAheadRefused: a write whose version is further ahead
// of the node's clock than MaxClockAhead is refused with bad_request naming
// the bound, and not applied, on both endpoints, alone or through a BATCH
// (its own version or the BATCH's base); the other writes of the BATCH are
// applied.
func TestVersionTooFarAheadRefused(t *testing.T) {
	forEachEngine(t, Config{MaxClockAhead: 10 * time.Second}, func(t *testing.T, c protocol.Codec, n *Node, req, push *zmq.Socket) {
		far := hlc.Version{Time: hlc.At(time.Now().Add(time.Hour)), Writer: 7}
		near := hlc.Version{Time: hlc.At(time.Now().Add(5 * time.Second)), Writer: 7}
		refused := func(rep protocol.Reply) {
			t.Helper()
			mustErr(t, rep, protocol.CodeBadRequest)
			require.Contains(t, rep.Err.Message, "max-clock-ahead")
			require.Contains(t, rep.Err.Message, "10s")
		}
		refused(call(t, req, c, protocol.Request{Op: protocol.OpPut, Key: "p", Value: val(t, c, 1), Version: far}))
		refused(call(t, req, c, protocol.Request{Op: protocol.OpDelete, Key: "p", Version: far}))
		mustOK(t, call(t, req, c, protocol.Request{Op: protocol.OpPut, Key: "near", Value: val(t, c, 1), Version: near}))

		rep := mustOK(t, call(t, req, c, protocol.Request{Op: protocol.OpBatch, Ops: []protocol.Request{
			{Op: protocol.OpPut, Key: "b1", Value: val(t, c, 1)},
			{Op: protocol.OpPut, Key: "b2", Value: val(t, c, 1), Version: far},
			{Op: protocol.OpPut, Key: "b3", Value: val(t, c, 1)},
			{Op: protocol.OpDelete, Key: "near", Version: far},
		}}))
		mustOK(t, rep.Results[0])
		refused(rep.Results[1])
		mustOK(t, rep.Results[2])
		refused(rep.Results[3])
		rep = mustOK(t, call(t, req, c, protocol.Request{Op: protocol.OpBatch, Version: far, Ops: []protocol.Request{
			{Op: protocol.OpPut, Key: "base1", Value: val(t, c, 1)},
			{Op: protocol.OpPut, Key: "base2", Value: val(t, c, 1)},
			{Op: protocol.OpPut, Key: "own", Value: val(t, c, 1), Version: ver(1)},
			{Op: protocol.OpGetOne, Key: "near"},
		}}))
		refused(rep.Results[0])
		refused(rep.Results[1])
		mustOK(t, rep.Results[2])
		mustOK(t, rep.Results[3])

		before := n.Stats().Endpoints[EndpointIngest].Errors
		for _, m := range []protocol.Request{
			{Op: protocol.OpPut, Key: "i1", Value: val(t, c, 1), Version: far},
			{Op: protocol.OpBatch, Ops: []protocol.Request{
				{Op: protocol.OpPut, Key: "i2", Value: val(t, c, 1), Version: far},
				{Op: protocol.OpPut, Key: "i3", Value: val(t, c, 1)},
			}},
			{Op: protocol.OpBatch, Version: far, Ops: []protocol.Request{{Op: protocol.OpPut, Key: "i4", Value: val(t, c, 1)}}},
		} {
			_, err := push.SendBytes(encodeReq(t, c, m), 0)
			require.NoError(t, err)
		}
		syncIngest(t, push, req, "far")
		require.Equal(t, before+3, n.Stats().Endpoints[EndpointIngest].Errors, "each message with a refused write")

		for _, k := range []string{"p", "b2", "base1", "base2", "i1", "i2", "i4"} {
			_, ok := lookup(t, n, k)
			require.False(t, ok, "%s: refused writes are not applied", k)
		}
		for _, k := range []string{"near", "b1", "b3", "own", "i3"} {
			v, ok := lookup(t, n, k)
			require.True(t, ok, k)
			require.False(t, v.Tombstone, k)
		}
	})
}

// TestNodeAssignsVersions: writes without a version get one from the
// node's clock, of its writer, each newer than the one before, so the last
// write wins as before versions existed; a BATCH without versions reserves
// consecutive versions for its ops; and a write without version is applied
// even over a record from ahead of the clock (copied in, or from before a
// restart), which the clock then orders after.
func TestNodeAssignsVersions(t *testing.T) {
	forEachEngine(t, Config{Name: "node-v"}, func(t *testing.T, c protocol.Codec, n *Node, req, push *zmq.Socket) {
		writer := hlc.WriterOf("node-v")
		get := func(k string) protocol.Reply {
			return mustOK(t, call(t, req, c, protocol.Request{Op: protocol.OpGetOne, Key: k, Versions: true}))
		}
		var last hlc.Version
		for i := range 5 {
			mustOK(t, call(t, req, c, protocol.Request{Op: protocol.OpPut, Key: "k", Value: val(t, c, i)}))
			got := get("k")
			require.Equal(t, val(t, c, i), got.Value)
			require.Equal(t, writer, got.Version.Writer)
			require.True(t, got.Version.Newer(last), "version %d: %v after %v", i, got.Version, last)
			last = got.Version
		}
		mustOK(t, call(t, req, c, protocol.Request{Op: protocol.OpDelete, Key: "k"}))
		nf := call(t, req, c, protocol.Request{Op: protocol.OpGetOne, Key: "k", Versions: true})
		mustErr(t, nf, protocol.CodeNotFound)
		require.True(t, nf.Version.Newer(last))
		require.Equal(t, writer, nf.Version.Writer)

		// A BATCH without versions: op i at base + i.
		rep := mustOK(t, call(t, req, c, protocol.Request{Op: protocol.OpBatch, Ops: []protocol.Request{
			{Op: protocol.OpPut, Key: "x", Value: val(t, c, 0)},
			{Op: protocol.OpPut, Key: "y", Value: val(t, c, 1)},
			{Op: protocol.OpGetOne, Key: "x"},
			{Op: protocol.OpPut, Key: "z", Value: val(t, c, 3)},
			{Op: protocol.OpDelete, Key: "x"},
		}}))
		for _, r := range rep.Results {
			mustOK(t, r)
			require.False(t, r.Superseded)
		}
		yv := get("y").Version // y is op 1
		base := hlc.Version{Time: yv.Time - 1, Writer: yv.Writer}
		require.True(t, base.Newer(nf.Version))
		require.Equal(t, base.Add(3), get("z").Version)
		xv, _ := lookup(t, n, "x")
		require.Equal(t, base.Add(4), xv.Version)
		require.True(t, xv.Tombstone)

		// Pushed without versions, in order.
		_, err := push.SendBytes(encodeReq(t, c, protocol.Request{Op: protocol.OpBatch, Ops: []protocol.Request{
			{Op: protocol.OpPut, Key: "p", Value: val(t, c, 1)},
			{Op: protocol.OpPut, Key: "p", Value: val(t, c, 2)},
		}}), 0)
		require.NoError(t, err)
		_, err = push.SendBytes(encodeReq(t, c, protocol.Request{Op: protocol.OpPut, Key: "p", Value: val(t, c, 3)}), 0)
		require.NoError(t, err)
		syncIngest(t, push, req, "assigned")
		pv := get("p")
		require.Equal(t, val(t, c, 3), pv.Value)
		require.True(t, pv.Version.Newer(xv.Version))

		// Records from ahead of the clock, even beyond its bound.
		ctx := context.Background()
		for k, ahead := range map[string]time.Duration{"soon": 30 * time.Second, "far": time.Hour} {
			v := hlc.Version{Time: hlc.At(time.Now().Add(ahead)), Writer: 9}
			for _, key := range []string{k, k + "-pushed", k + "-deleted"} {
				_, err := n.Store().Apply(ctx, key, store.Value{Codec: uint8(c), Data: val(t, c, "ahead"), Version: v})
				require.NoError(t, err)
			}
			require.False(t, mustOK(t, call(t, req, c, protocol.Request{Op: protocol.OpPut, Key: k, Value: val(t, c, "now")})).Superseded)
			require.True(t, mustOK(t, call(t, req, c, protocol.Request{Op: protocol.OpDelete, Key: k + "-deleted"})).Deleted)
			_, err := push.SendBytes(encodeReq(t, c, protocol.Request{Op: protocol.OpBatch, Ops: []protocol.Request{
				{Op: protocol.OpPut, Key: k + "-pushed", Value: val(t, c, "now")},
				{Op: protocol.OpPut, Key: "filler", Value: val(t, c, "now")},
			}}), 0)
			require.NoError(t, err)
			syncIngest(t, push, req, "ahead-"+k)
			for _, key := range []string{k, k + "-pushed"} {
				got := get(key)
				require.Equal(t, val(t, c, "now"), got.Value, key)
				require.True(t, got.Version.Newer(v), key)
			}
			mustErr(t, call(t, req, c, protocol.Request{Op: protocol.OpGetOne, Key: k + "-deleted"}), protocol.CodeNotFound)
		}
	})
}

// TestBatchBaseVersion: a BATCH's version is the base of its writes that
// carry none: operation i at base + i, counted over every operation; an
// operation's own version wins. Both endpoints.
func TestBatchBaseVersion(t *testing.T) {
	forEachEngine(t, Config{}, func(t *testing.T, c protocol.Codec, n *Node, req, push *zmq.Socket) {
		ops := func(prefix string) []protocol.Request {
			return []protocol.Request{
				{Op: protocol.OpPut, Key: prefix + "a", Value: val(t, c, 0)},
				{Op: protocol.OpPut, Key: prefix + "b", Value: val(t, c, 1)},
				{Op: protocol.OpPut, Key: prefix + "own", Value: val(t, c, 2), Version: ver(5)},
				{Op: protocol.OpDelete, Key: prefix + "d"},
				{Op: protocol.OpPut, Key: prefix + "c", Value: val(t, c, 4)},
			}
		}
		base := ver(100)
		rep := mustOK(t, call(t, req, c, protocol.Request{Op: protocol.OpBatch, Version: base, Ops: ops("r-")}))
		for _, r := range rep.Results {
			mustOK(t, r)
		}
		_, err := push.SendBytes(encodeReq(t, c, protocol.Request{Op: protocol.OpBatch, Version: base, Ops: ops("i-")}), 0)
		require.NoError(t, err)
		syncIngest(t, push, req, "base")
		for _, p := range []string{"r-", "i-"} {
			for k, want := range map[string]hlc.Version{"a": base, "b": base.Add(1), "own": ver(5), "d": base.Add(3), "c": base.Add(4)} {
				v, ok := lookup(t, n, p+k)
				require.True(t, ok, p+k)
				require.Equal(t, want, v.Version, p+k)
				require.Equal(t, k == "d", v.Tombstone, p+k)
			}
		}
		// The same BATCH again is a resend: nothing superseded.
		rep = mustOK(t, call(t, req, c, protocol.Request{Op: protocol.OpBatch, Version: base, Ops: ops("r-")}))
		for _, r := range rep.Results {
			require.False(t, mustOK(t, r).Superseded)
		}
		// An older base: every write superseded but the one with its own.
		rep = mustOK(t, call(t, req, c, protocol.Request{Op: protocol.OpBatch, Version: ver(50), Ops: ops("r-")}))
		var superseded []bool
		for _, r := range rep.Results {
			superseded = append(superseded, mustOK(t, r).Superseded)
		}
		require.Equal(t, []bool{true, true, false, true, true}, superseded)
	})
}

// TestTombstonesPurgedAfterTTL: the purge loop removes the tombstones
// older than TombstoneTTL; values stay.
func TestTombstonesPurgedAfterTTL(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			n, req, _ := startWithClients(t, Config{Store: e.open(t), TombstoneTTL: 50 * time.Millisecond})
			mustOK(t, call(t, req, protocol.JSON, protocol.Request{Op: protocol.OpPut, Key: "kept", Value: []byte(`1`)}))
			mustOK(t, call(t, req, protocol.JSON, protocol.Request{Op: protocol.OpPut, Key: "gone", Value: []byte(`1`)}))
			mustOK(t, call(t, req, protocol.JSON, protocol.Request{Op: protocol.OpDelete, Key: "gone"}))
			require.Eventually(t, func() bool { return n.Stats().Tombstones == 0 }, safety, 10*time.Millisecond)
			_, ok := lookup(t, n, "gone")
			require.False(t, ok, "the tombstone is purged")
			_, ok = lookup(t, n, "kept")
			require.True(t, ok)
		})
	}
}

// TestDropIfAway: a durable node whose store was last marked alive longer
// than TombstoneTTL ago drops every record (DropIfAway); one marked within
// the TTL, one never marked and an in-memory one keep theirs. A running
// node marks its store alive, and a last time when it closes.
func TestDropIfAway(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		alive   time.Duration // before now; 0: never marked
		dropped int
	}{
		{"away-too-long", 25 * time.Hour, 3},
		{"away-within-ttl", 23 * time.Hour, 0},
		{"never-marked", 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := durable.Open(t.TempDir(), durable.Options{})
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, st.Close()) })
			for _, k := range []string{"a", "b"} {
				_, err := st.Apply(ctx, k, store.Value{Codec: uint8(protocol.JSON), Data: []byte(`1`), Version: ver(1)})
				require.NoError(t, err)
			}
			_, err = st.Apply(ctx, "t", store.Value{Tombstone: true, Version: ver(2)})
			require.NoError(t, err)
			if tc.alive > 0 {
				require.NoError(t, st.MarkAlive(time.Now().Add(-tc.alive)))
			}
			n, err := New(Config{Store: st, TombstoneTTL: 24 * time.Hour, PollInterval: 10 * time.Millisecond})
			require.NoError(t, err)
			dropped, err := n.DropIfAway(ctx)
			require.NoError(t, err)
			require.Equal(t, tc.dropped, dropped)
			if tc.dropped > 0 {
				require.Equal(t, store.Stats{}, st.Stats())
				page, err := st.ScanRecords(ctx, store.Cursor{}, sharding.HashRange{}, nil, 0)
				require.NoError(t, err)
				require.Empty(t, page.Entries)
			} else {
				require.Equal(t, store.Stats{Keys: 2, Bytes: 4, Tombstones: 1}, st.Stats())
			}

			start := time.Now()
			require.NoError(t, n.Start())
			require.Eventually(t, func() bool {
				last, err := st.LastAlive()
				return err == nil && !last.Before(start)
			}, safety, 10*time.Millisecond, "a running node marks its store alive")
			require.NoError(t, n.Close())
			closed := time.Now()
			last, err := st.LastAlive()
			require.NoError(t, err)
			require.WithinRange(t, last, start, closed)
		})
	}
	t.Run("memory", func(t *testing.T) {
		n := startNode(t, Config{TombstoneTTL: time.Nanosecond})
		require.NoError(t, n.Store().Put(ctx, "a", store.Value{Codec: uint8(protocol.JSON), Data: []byte(`1`)}))
		dropped, err := n.DropIfAway(ctx)
		require.NoError(t, err)
		require.Zero(t, dropped)
	})
}

// TestProtocolDocVersionsExchange: the exchange docs/PROTOCOL.md §3.12
// shows is what a node answers, byte for byte.
func TestProtocolDocVersionsExchange(t *testing.T) {
	doc, err := os.ReadFile("../../docs/PROTOCOL.md")
	require.NoError(t, err)
	text := string(doc)
	i := strings.Index(text, "Key `g` holds `\"v\"`, written at version `")
	require.Positive(t, i, "the §3.12 example")
	text = text[i:]
	text = text[strings.Index(text, "```\n")+4:]
	text = text[:strings.Index(text, "```")]
	g, err := hlc.Parse("018c6d4a3b2c00019e3779b97f4a7c15")
	require.NoError(t, err)

	n, req, _ := startWithClients(t, Config{})
	_, err = n.Store().Apply(context.Background(), "g", store.Value{Codec: uint8(protocol.JSON), Data: []byte(`"v"`), Version: g})
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(text), "\n")
	require.Len(t, lines, 16)
	for j := 0; j < len(lines); j += 2 {
		request, ok := strings.CutPrefix(lines[j], "-> ")
		require.True(t, ok, lines[j])
		reply, ok := strings.CutPrefix(lines[j+1], "<- ")
		require.True(t, ok, lines[j+1])
		require.Equal(t, reply, string(rawCall(t, req, request)), request)
	}
}
