package noderun

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/zshard/zshard/consul"
	"github.com/zshard/zshard/internal/ctxtime"
	"github.com/zshard/zshard/internal/node"
	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/internal/reqclient"
	"github.com/zshard/zshard/internal/store"
	"github.com/zshard/zshard/layout"
	"github.com/zshard/zshard/sharding"
)

// A durable node (one with a data directory) that starts in a cluster whose
// settings are stored does two things before it serves reads (docs/
// DURABILITY.md tells the whole story):
//
//  1. Layout check, before it binds (layoutcheck.go).
//  2. Catch-up, with R > 0: it registers with Meta ready=false (writes reach
//     it, reads do not), waits until it sees itself passing plus Settle (so
//     writes routed before the producers saw it have landed on its peers),
//     then for each of its partitions scans the replicas that are passing
//     and ready, applies the union of their entries (the first replica in
//     preference order wins a disagreement) and deletes its keys that none
//     of them holds, except keys clients wrote to it meanwhile. Then it ends
//     catch-up mode and registers ready=true.

// catchUpPage is the SCAN page of a catch-up; catchUpTimeout bounds one
// SCAN; catchUpRounds bounds the attempts at a partition whose ready
// replicas fail to answer; catchUpChunks is how many hash ranges the
// partitions are synced in (bounding the memory of one step).
const (
	catchUpPage    = 1000
	catchUpTimeout = 10 * time.Second
	catchUpRounds  = 10
	catchUpChunks  = 256
)

// placement is the node's view of the layout: the tables whose preference
// lists place a key (two during a migration, From and To).
type placement struct {
	tables     []*sharding.Table
	partitions int
	explicit   bool // Settings.Members set: partitions outside every list are foreign
}

// placementOf is the placement of settings s for the node self, passing
// being the passing members: in legacy mode, the layout is passing with
// self among them.
func placementOf(s layout.Settings, self string, passing []consul.Member) (placement, error) {
	var names []string
	if s.Legacy() {
		names = []string{self}
		for _, m := range passing {
			if m.Name != self {
				names = append(names, m.Name)
			}
		}
		slices.Sort(names)
	}
	pl := placement{explicit: !s.Legacy() || s.Migration != nil}
	for _, list := range s.Layouts(names) {
		if len(list) == 0 {
			continue
		}
		t, err := s.Table(list)
		if err != nil {
			return placement{}, err
		}
		pl.tables = append(pl.tables, t)
		pl.partitions = t.Partitions()
	}
	if len(pl.tables) == 0 {
		return placement{}, errors.New("the settings place no partition: no members")
	}
	return pl, nil
}

// prefs returns the nodes holding partition p under any of the tables,
// in preference order, without duplicates.
func (pl placement) prefs(p int) []string {
	return layout.AppendPrefs(nil, p, pl.tables...)
}

// catchUpThenReady runs the catch-up, ends catch-up mode and registers the
// node as ready for reads. If the catch-up fails the node keeps taking
// writes but stays unready for reads.
func (s *Server) catchUpThenReady() {
	ctx, log, name := s.bgCtx, s.cfg.Logger, s.node.Name()
	if err := catchUp(ctx, s.cfg, s.node, s.catchUp, s.settings, log); err != nil {
		if ctx.Err() == nil {
			log.Error("catch-up failed; the node takes writes but stays unready for reads", "node", name, "err", err)
		}
		return
	}
	s.catchUp.Finish()
	for ctx.Err() == nil {
		err := s.reg.SetReady(ctx)
		if err == nil {
			log.Info("ready for reads", "node", name)
			return
		}
		log.Warn("cannot register as ready; retrying", "node", name, "err", err)
		_ = ctxtime.Sleep(ctx, time.Second)
	}
}

// catchUp brings the node's partitions up to date from their ready
// replicas (docs/DURABILITY.md) and returns when every partition is
// done or has no ready replica to learn from, or ctx is done.
func catchUp(ctx context.Context, p Config, n *node.Node, cu *node.CatchUp, s layout.Settings, log *slog.Logger) error {
	self := n.Name()
	if err := waitSeen(ctx, p.Consul, self, p.CatchUpSettle); err != nil {
		return err
	}
	start := time.Now()
	ms, err := p.Consul.Members(ctx)
	if err != nil {
		return err
	}
	pl, err := placementOf(s, self, ms)
	if err != nil {
		return err
	}
	mine := pl.mine(self)
	owned := 0
	for _, m := range mine {
		if m {
			owned++
		}
	}
	log.Info("catching up from the replicas before serving reads", "node", self, "partitions", owned)
	pending := chunks(pl.partitions)
	var total syncStats
	peers := replicas{}
	defer peers.close()
	for round := 0; len(pending) > 0; round++ {
		if round > 0 {
			if err := ctxtime.Sleep(ctx, time.Second); err != nil {
				return err
			}
			if ms, err = p.Consul.Members(ctx); err != nil {
				log.Warn("catch-up: cannot read the members; retrying", "node", self, "err", err)
				continue
			}
		}
		ready := peers.ready(ms, self)
		var failed [][2]int
		for _, ch := range pending {
			st, err := syncChunk(ctx, cu, n.Store(), pl, mine, ch, ready)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				log.Warn("catch-up: partitions not synced; retrying", "node", self, "partitions", fmt.Sprintf("%d-%d", ch[0], ch[1]-1), "err", err)
				failed = append(failed, ch)
				continue
			}
			total.add(st)
		}
		if len(failed) > 0 && round+1 >= catchUpRounds {
			log.Error("catch-up: giving up on partitions whose replicas did not answer; serving them as stored, possibly stale",
				"node", self, "ranges", len(failed))
			break
		}
		pending = failed
	}
	if err := cu.Sync(); err != nil {
		return fmt.Errorf("catch-up: making the copied entries durable: %w", err)
	}
	if total.unsourced > 0 {
		log.Warn("catch-up: no replica of some partitions is passing and ready; serving them as stored, possibly stale",
			"node", self, "partitions", total.unsourced)
	}
	log.Info("caught up", "node", self, "partitions_synced", total.synced, "keys_copied", total.put, "keys_deleted", total.deleted,
		"took", time.Since(start).Round(time.Millisecond))
	return nil
}

// waitSeen returns once self is among the passing members, plus settle:
// writes reach the node once the producers see it, and writes routed just
// before land on the peers meanwhile.
func waitSeen(ctx context.Context, c *consul.Client, self string, settle time.Duration) error {
	for {
		ms, err := c.Members(ctx)
		if err == nil && slices.ContainsFunc(ms, func(m consul.Member) bool { return m.Name == self }) {
			break
		}
		if err := ctxtime.Sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	return ctxtime.Sleep(ctx, settle)
}

// replicas holds one client per replica across the rounds of a catch-up,
// by node name; a node's client is replaced when its endpoint changes.
type replicas map[string]*reqclient.Client

// ready returns the clients of the members ready for reads, self excepted.
func (r replicas) ready(ms []consul.Member, self string) map[string]*reqclient.Client {
	out := map[string]*reqclient.Client{}
	for _, m := range ms {
		if !m.Ready || m.Name == self {
			continue
		}
		c := r[m.Name]
		if c == nil || c.Endpoint() != m.RepURL {
			if c != nil {
				c.Close()
			}
			c = reqclient.New(m.RepURL, catchUpTimeout)
			r[m.Name] = c
		}
		out[m.Name] = c
	}
	return out
}

// close closes every client.
func (r replicas) close() {
	for _, c := range r {
		c.Close()
	}
}

// mine returns, for every partition, whether self is in its preference lists.
func (pl placement) mine(self string) []bool {
	out := make([]bool, pl.partitions)
	for p := range out {
		out[p] = slices.Contains(pl.prefs(p), self)
	}
	return out
}

// chunks splits partitions 0..partitions-1 into catchUpChunks runs of
// consecutive partitions, [first, last+1) each: one run is one contiguous
// hash range, scanned with one paged SCAN per replica.
func chunks(partitions int) [][2]int {
	k := min(catchUpChunks, partitions)
	out := make([][2]int, 0, k)
	for c := range k {
		out = append(out, [2]int{c * partitions / k, (c + 1) * partitions / k})
	}
	return out
}

// syncStats counts what a catch-up did.
type syncStats struct {
	synced, unsourced, put, deleted int
}

func (s *syncStats) add(o syncStats) {
	s.synced += o.synced
	s.unsourced += o.unsourced
	s.put += o.put
	s.deleted += o.deleted
}

// syncChunk makes every partition of ch (partitions [ch[0], ch[1])) that
// is mine and has a ready replica the union of what those replicas hold
// (the first replica in preference order wins a disagreement), through
// cu, so keys written by clients meanwhile are left alone. Partitions
// without a ready replica are left as they are. Any replica failing to
// answer fails the chunk, to be tried again.
func syncChunk(ctx context.Context, cu *node.CatchUp, st store.Store, pl placement, mine []bool,
	ch [2]int, ready map[string]*reqclient.Client) (syncStats, error) {
	var out syncStats
	hr := sharding.HashRange{From: sharding.PartitionRange(ch[0], pl.partitions).From, To: sharding.PartitionRange(ch[1]-1, pl.partitions).To}
	// sources[p]: the ready replicas of partition p other than this node,
	// in preference order; nil when p is not mine or has none.
	sources := make(map[int][]string)
	scanned := map[string]bool{}
	for p := ch[0]; p < ch[1]; p++ {
		if !mine[p] {
			continue
		}
		for _, name := range pl.prefs(p) {
			if ready[name] != nil {
				sources[p] = append(sources[p], name)
				scanned[name] = true
			}
		}
		if sources[p] == nil {
			out.unsourced++
		} else {
			out.synced++
		}
	}
	if len(scanned) == 0 {
		return out, nil
	}
	want, err := union(ctx, hr, pl, sources, scanned, ready)
	if err != nil {
		return syncStats{}, err
	}
	// Local keys: delete those no replica holds, keep equal values as they are.
	cursor := store.Cursor{}
	for {
		page, err := st.Scan(ctx, cursor, hr, catchUpPage)
		if err != nil {
			return out, err
		}
		for _, e := range page.Entries {
			if sources[sharding.PartitionOf(e.Hash, pl.partitions)] == nil {
				continue // not mine (dropped before start), or no replica to learn from
			}
			v, ok := want[e.Key]
			switch {
			case !ok:
				applied, err := cu.Delete(ctx, e.Key)
				if err != nil {
					return out, err
				}
				if applied {
					out.deleted++
				}
			case e.Value.Codec == v.Codec && bytes.Equal(e.Value.Data, v.Data):
				delete(want, e.Key)
			}
		}
		if page.Done {
			break
		}
		cursor = page.Next
	}
	for k, v := range want {
		applied, err := cu.Put(ctx, k, v)
		if err != nil {
			return out, err
		}
		if applied {
			out.put++
		}
	}
	return out, nil
}

// union scans range hr on every replica of scanned and returns, for every
// key of a partition in sources, the value of the first of its sources in
// preference order that holds it.
func union(ctx context.Context, hr sharding.HashRange, pl placement, sources map[int][]string, scanned map[string]bool,
	ready map[string]*reqclient.Client) (map[string]store.Value, error) {
	held := map[string]map[string]store.Value{} // replica -> key -> value
	for name := range scanned {
		got := map[string]store.Value{}
		// A raw SCAN: a copy keeps the bytes and the codec of the original.
		err := ready[name].ScanRaw(ctx, hr.From, hr.To, catchUpPage, func(e protocol.Entry) {
			p := sharding.PartitionOf(sharding.KeyHash(e.Key), pl.partitions)
			if slices.Contains(sources[p], name) {
				got[e.Key] = store.Value{Codec: uint8(e.Codec), Data: e.Value}
			}
		})
		if err != nil {
			return nil, err
		}
		held[name] = got
	}
	want := map[string]store.Value{}
	for _, got := range held {
		for k := range got {
			if _, ok := want[k]; ok {
				continue
			}
			p := sharding.PartitionOf(sharding.KeyHash(k), pl.partitions)
			for _, name := range sources[p] {
				if v, ok := held[name][k]; ok {
					want[k] = v
					break
				}
			}
		}
	}
	return want, nil
}
