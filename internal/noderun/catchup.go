package noderun

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/zshard/zshard/consul"
	"github.com/zshard/zshard/internal/ctxtime"
	"github.com/zshard/zshard/internal/curve"
	"github.com/zshard/zshard/internal/node"
	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/internal/reqclient"
	"github.com/zshard/zshard/internal/store"
	"github.com/zshard/zshard/layout"
	"github.com/zshard/zshard/sharding"
)

// A node that starts in a cluster whose settings are stored does, before
// it serves reads (docs/DURABILITY.md tells the whole story):
//
//  1. Durable nodes: layout check, before it binds (layoutcheck.go), after
//     dropping all their data if they were away longer than the tombstone
//     TTL and R > 0 (node.DropIfAway).
//  2. Catch-up, with R > 0, durable or in memory, unless the layout gives
//     it no partition or an add-node migration copies into it: it
//     registers with Meta ready=false (writes reach it, reads do not),
//     waits until it sees itself passing; if no replica of its partitions
//     is ready it serves at once, else it waits Settle (so writes routed
//     before the producers saw it have landed on its peers), then for each
//     of its partitions scans the replicas that are passing and ready, with
//     versions, and applies every record (values and tombstones) by last
//     writer wins, as any write. Then it ends catch-up mode and registers
//     ready=true.

// catchUpPage is the SCAN page of a catch-up; catchUpTimeout bounds one
// SCAN; catchUpRounds bounds the attempts at a partition whose ready
// replicas fail to answer; catchUpChunks is how many hash ranges the
// partitions are synced in (the unit of a retry); a SCAN carries its
// partition set only up to maxSetPartitions partitions (an 8 KiB bitmap
// in every page request), and the node filters the entries beyond.
const (
	catchUpPage      = 1000
	catchUpTimeout   = 10 * time.Second
	catchUpRounds    = 10
	catchUpChunks    = 256
	maxSetPartitions = 1 << 16
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

// noCatchUp returns why the node self needs no catch-up under settings s
// (with R > 0), or "": it holds no partition of the recorded layout, nor
// of a migration's, so there is nothing to copy (a node not yet added);
// or an add-node migration copying into it is in progress, which copies
// and verifies its partitions itself, reading the node meanwhile.
func noCatchUp(s layout.Settings, self string) string {
	if m := s.Migration; m != nil && m.Kind == layout.MigrationAdd && m.Node == self && m.Phase == layout.PhaseCopying {
		return "the add-node migration in progress copies this node's partitions"
	}
	pl, err := placementOf(s, self, nil)
	if err != nil {
		return "" // catchUp reports it
	}
	if !slices.Contains(pl.mine(self), true) {
		return "the layout gives this node no partition"
	}
	return ""
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
	if err := waitSeen(ctx, p.Consul, self); err != nil {
		return err
	}
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
	peers := replicas{curve: p.curveClient(), clients: map[string]*reqclient.Client{}, keys: map[string]string{}}
	defer peers.close()
	if !pl.anySource(mine, peers.ready(ms, self)) {
		// Nothing to learn from, now or after the settle: serve at once
		// (every node of a cluster starting together is here).
		log.Warn("catch-up: no replica of this node's partitions is passing and ready; serving them as stored, possibly stale",
			"node", self, "partitions", owned, "keys_held", n.Store().Stats().Keys)
		return nil
	}
	if err := ctxtime.Sleep(ctx, p.CatchUpSettle); err != nil {
		return err
	}
	start := time.Now()
	if ms, err = p.Consul.Members(ctx); err != nil {
		return err
	}
	log.Info("catching up from the replicas before serving reads", "node", self, "partitions", owned,
		"keys_held", n.Store().Stats().Keys)
	pending := chunks(pl.partitions)
	var total syncStats
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
			st, err := syncChunk(ctx, cu, pl, mine, ch, ready)
			total.add(st) // what a failed chunk applied stays applied
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				log.Warn("catch-up: partitions not synced; retrying", "node", self, "partitions", fmt.Sprintf("%d-%d", ch[0], ch[1]-1), "err", err)
				failed = append(failed, ch)
				continue
			}
			total.synced += st.synced
			total.unsourced += st.unsourced
		}
		if len(failed) > 0 && round+1 >= catchUpRounds {
			log.Error("catch-up: giving up on partitions whose replicas did not answer; serving them as stored, possibly stale",
				"node", self, "ranges", len(failed))
			break
		}
		pending = failed
	}
	if err := cu.Sync(); err != nil {
		return fmt.Errorf("catch-up: making the copied records durable: %w", err)
	}
	if total.unsourced > 0 {
		log.Warn("catch-up: no replica of some partitions is passing and ready; serving them as stored, possibly stale",
			"node", self, "partitions", total.unsourced)
	}
	took := time.Since(start)
	log.Info("caught up", "node", self, "partitions_synced", total.synced, "records_scanned", total.scanned,
		"records_applied", total.applied, "took", took.Round(time.Millisecond),
		"records_per_second", int(float64(total.scanned)/max(took.Seconds(), 1e-3)))
	return nil
}

// waitSeen returns once self is among the passing members: writes reach
// the node once the producers see it.
func waitSeen(ctx context.Context, c *consul.Client, self string) error {
	for {
		ms, err := c.Members(ctx)
		if err == nil && slices.ContainsFunc(ms, func(m consul.Member) bool { return m.Name == self }) {
			return nil
		}
		if err := ctxtime.Sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

// anySource reports whether some partition of mine has a replica among
// ready.
func (pl placement) anySource(mine []bool, ready map[string]*reqclient.Client) bool {
	for p, m := range mine {
		if !m {
			continue
		}
		for _, name := range pl.prefs(p) {
			if ready[name] != nil {
				return true
			}
		}
	}
	return false
}

// replicas holds one client per replica across the rounds of a catch-up,
// by node name; a node's client is replaced when its endpoint or CURVE key
// changes.
type replicas struct {
	curve   *curve.Client // nil: plaintext
	clients map[string]*reqclient.Client
	keys    map[string]string // the CURVE key each client expects
}

// ready returns the clients of the members ready for reads, self excepted.
func (r replicas) ready(ms []consul.Member, self string) map[string]*reqclient.Client {
	out := map[string]*reqclient.Client{}
	for _, m := range ms {
		if !m.Ready || m.Name == self {
			continue
		}
		c := r.clients[m.Name]
		if c == nil || c.Endpoint() != m.RepURL || r.keys[m.Name] != m.Curve {
			if c != nil {
				c.Close()
			}
			c = reqclient.New(m.RepURL, catchUpTimeout)
			if r.curve != nil {
				key, err := r.curve.ServerKeyFor(m.Name, m.Curve)
				if err != nil {
					continue // it cannot be reached securely; another replica may
				}
				c.Secure(r.curve, m.Name, key)
			}
			r.clients[m.Name] = c
			r.keys[m.Name] = m.Curve
		}
		out[m.Name] = c
	}
	return out
}

// close closes every client.
func (r replicas) close() {
	for _, c := range r.clients {
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

// syncStats counts what a catch-up did: partitions synced and without a
// ready replica, records scanned on the replicas and applied here.
type syncStats struct {
	synced, unsourced, scanned, applied int
}

// add adds the records of o (partitions are counted once a chunk is done).
func (s *syncStats) add(o syncStats) {
	s.scanned += o.scanned
	s.applied += o.applied
}

// syncChunk brings every partition of ch (partitions [ch[0], ch[1])) that
// is mine and has a ready replica up to date: it scans, with versions, the
// records of those partitions on each of their ready replicas and applies
// them through cu, by version. Partitions without a ready replica are left
// as they are. Any replica failing to answer fails the chunk, to be tried
// again; what it applied before stays.
func syncChunk(ctx context.Context, cu *node.CatchUp, pl placement, mine []bool,
	ch [2]int, ready map[string]*reqclient.Client) (syncStats, error) {
	var out syncStats
	hr := sharding.HashRange{From: sharding.PartitionRange(ch[0], pl.partitions).From, To: sharding.PartitionRange(ch[1]-1, pl.partitions).To}
	// sources[r]: the partitions of ch that are mine and of which the ready
	// replica r is a replica, by p - ch[0].
	sources := map[string][]bool{}
	for p := ch[0]; p < ch[1]; p++ {
		if !mine[p] {
			continue
		}
		sourced := false
		for _, name := range pl.prefs(p) {
			if ready[name] == nil {
				continue
			}
			if sources[name] == nil {
				sources[name] = make([]bool, ch[1]-ch[0])
			}
			sources[name][p-ch[0]] = true
			sourced = true
		}
		if sourced {
			out.synced++
		} else {
			out.unsourced++
		}
	}
	var entries []store.Entry
	for _, name := range slices.Sorted(maps.Keys(sources)) {
		parts := sources[name]
		var set *sharding.PartitionSet // sent to the replica, so it skips the others
		if pl.partitions <= maxSetPartitions {
			set = sharding.NewPartitionSet(pl.partitions)
			for i, ok := range parts {
				if ok {
					set.Add(ch[0] + i)
				}
			}
		}
		err := ready[name].ScanRecords(ctx, hr.From, hr.To, set, catchUpPage, func(page []protocol.Entry) error {
			out.scanned += len(page)
			entries = entries[:0]
			for _, e := range page {
				// The replica filters too, unless it is older than
				// partition sets or the set was not sent.
				p := sharding.PartitionOf(sharding.KeyHash(e.Key), pl.partitions)
				if p < ch[0] || p >= ch[1] || !parts[p-ch[0]] {
					continue
				}
				entries = append(entries, store.Entry{Key: e.Key, Value: store.Value{
					Codec: uint8(e.Codec), Data: e.Value, Version: e.Version, Tombstone: e.Deleted}})
			}
			applied, err := cu.Apply(ctx, entries)
			out.applied += applied
			return err
		})
		if err != nil {
			return out, fmt.Errorf("%s: %w", name, err)
		}
	}
	return out, nil
}
