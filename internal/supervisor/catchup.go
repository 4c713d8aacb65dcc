package supervisor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/zshard/zshard/consul"
	"github.com/zshard/zshard/internal/node"
	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/internal/store"
	"github.com/zshard/zshard/layout"
	"github.com/zshard/zshard/sharding"
)

// A durable node (one with a data directory) that starts in a cluster whose
// settings are stored does two things before it serves reads (docs/
// DURABILITY.md tells the whole story):
//
//  1. Layout check, before it binds: with an explicit layout
//     (Settings.Members), it deletes the keys of every partition whose
//     preference list does not contain it (under Migration.From and To too
//     while a rebalance is in progress), so keys a rebalance moved away
//     while it was down are not resurrected, and records the epoch in
//     <data dir>/layoutFile.
//  2. Catch-up, with R > 0: it registers with Meta ready=false (writes reach
//     it, reads do not), waits until it sees itself passing plus Settle (so
//     writes routed before the producers saw it have landed on its peers),
//     then for each of its partitions scans the replicas that are passing
//     and ready, applies the union of their entries (the first replica in
//     preference order wins a disagreement) and deletes its keys that none
//     of them holds, except keys clients wrote to it meanwhile. Then it ends
//     catch-up mode and registers ready=true.

// layoutFile records, in a node's data directory, the layout its data was
// last checked against.
const layoutFile = "zshard-layout.json"

// DefaultCatchUpSettle is NodeProcess.CatchUpSettle's default.
const DefaultCatchUpSettle = 2 * time.Second

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

// layoutRecord is the content of layoutFile.
type layoutRecord struct {
	Epoch   uint64   `json:"epoch"`
	Members []string `json:"members"`
}

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

// readLayout returns the layout recorded in dir, ok false when none is.
func readLayout(dir string) (layoutRecord, bool) {
	b, err := os.ReadFile(filepath.Join(dir, layoutFile))
	if err != nil {
		return layoutRecord{}, false
	}
	var r layoutRecord
	if json.Unmarshal(b, &r) != nil {
		return layoutRecord{}, false
	}
	return r, true
}

// writeLayout records r in dir (write to a temporary file, fsync, rename).
func writeLayout(dir string, r layoutRecord) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, layoutFile+".tmp")
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, layoutFile))
}

// dropForeign deletes from st the keys of every partition whose preference
// lists do not contain self (one pass over the store), and returns how many
// it deleted.
func dropForeign(ctx context.Context, st store.Store, pl placement, self string) (int, error) {
	mine := pl.mine(self)
	dropped := 0
	cursor := store.Cursor{}
	for {
		page, err := st.Scan(ctx, cursor, sharding.HashRange{}, catchUpPage)
		if err != nil {
			return dropped, err
		}
		for _, e := range page.Entries {
			if mine[sharding.PartitionOf(e.Hash, pl.partitions)] {
				continue
			}
			if _, err := st.Delete(ctx, e.Key); err != nil {
				return dropped, err
			}
			dropped++
		}
		if page.Done {
			return dropped, nil
		}
		cursor = page.Next // strictly after: deleting what was returned is fine
	}
}

// checkLayout runs the layout check of a durable node before it serves:
// it drops the partitions the current layout does not give it and records
// the epoch. It returns the settings, ok false when the cluster has none.
func checkLayout(ctx context.Context, p NodeProcess, n *node.Node, log *slog.Logger) (layout.Settings, bool, error) {
	s, _, err := p.Consul.Settings(ctx)
	if errors.Is(err, consul.ErrNotFound) {
		log.Info("no cluster settings yet; nothing to check the data against", "node", n.Name())
		return s, false, nil
	}
	if err != nil {
		return s, false, fmt.Errorf("reading the cluster settings: %w", err)
	}
	prev, had := readLayout(p.DataDir)
	if had && prev.Epoch != s.Epoch {
		log.Info("the layout changed while the node was down", "node", n.Name(),
			"recorded_epoch", prev.Epoch, "epoch", s.Epoch, "recorded_members", prev.Members, "members", s.Members)
	}
	if len(s.Members) == 0 && s.Migration == nil {
		return s, true, nil // legacy layout: no rebalance ever moved keys
	}
	pl, err := placementOf(s, n.Name(), nil)
	if err != nil {
		return s, true, err
	}
	dropped, err := dropForeign(ctx, n.Store(), pl, n.Name())
	if err != nil {
		return s, true, fmt.Errorf("dropping the partitions moved away: %w", err)
	}
	if dropped > 0 {
		log.Warn("deleted keys of partitions the layout no longer places on this node (moved away while it was down)",
			"node", n.Name(), "keys", dropped, "epoch", s.Epoch, "migration", s.Migration != nil)
	}
	if err := writeLayout(p.DataDir, layoutRecord{Epoch: s.Epoch, Members: s.Members}); err != nil {
		log.Warn("cannot record the layout epoch in the data directory", "node", n.Name(), "err", err)
	}
	return s, true, nil
}

// catchUp brings the node's partitions up to date from their ready
// replicas (docs/DURABILITY.md) and returns when every partition is
// done or has no ready replica to learn from, or ctx is done.
func catchUp(ctx context.Context, p NodeProcess, n *node.Node, cu *node.CatchUp, s layout.Settings, log *slog.Logger) error {
	self := n.Name()
	// Writes reach the node once the producers see it; wait for that, then
	// let writes routed just before land on the peers.
	for {
		ms, err := p.Consul.Members(ctx)
		if err == nil && slices.ContainsFunc(ms, func(m consul.Member) bool { return m.Name == self }) {
			break
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	if err := sleepCtx(ctx, p.CatchUpSettle); err != nil {
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
	peers := map[string]*reqClient{}
	defer func() {
		for _, c := range peers {
			c.close()
		}
	}()
	for round := 0; len(pending) > 0; round++ {
		if round > 0 {
			if err := sleepCtx(ctx, time.Second); err != nil {
				return err
			}
			if ms, err = p.Consul.Members(ctx); err != nil {
				log.Warn("catch-up: cannot read the members; retrying", "node", self, "err", err)
				continue
			}
		}
		ready := map[string]*reqClient{}
		for _, m := range ms {
			if !m.Ready || m.Name == self {
				continue
			}
			c := peers[m.Name]
			if c == nil || c.endpoint != m.RepURL {
				if c != nil {
					c.close()
				}
				c = &reqClient{endpoint: m.RepURL, timeout: catchUpTimeout}
				peers[m.Name] = c
			}
			ready[m.Name] = c
		}
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
	ch [2]int, ready map[string]*reqClient) (syncStats, error) {
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
	held := map[string]map[string]store.Value{} // replica -> key -> value
	for name := range scanned {
		got := map[string]store.Value{}
		err := ready[name].scan(ctx, hr, func(k string, v store.Value) {
			p := sharding.PartitionOf(sharding.KeyHash(k), pl.partitions)
			if slices.Contains(sources[p], name) {
				got[k] = v
			}
		})
		if err != nil {
			return syncStats{}, err
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

// reqClient sends requests to one node over a REQ socket, one at a time.
// After a failure the socket is replaced: a REQ socket that lost its reply
// cannot send again. It is used from one goroutine.
type reqClient struct {
	endpoint string
	timeout  time.Duration
	sock     *zmq.Socket
}

func (c *reqClient) call(req protocol.Request) (protocol.Reply, error) {
	if c.sock == nil {
		s, err := zmq.NewSocket(zmq.REQ)
		if err != nil {
			return protocol.Reply{}, err
		}
		_ = s.SetLinger(0)
		_ = s.SetRcvtimeo(c.timeout)
		_ = s.SetSndtimeo(c.timeout)
		if err := s.Connect(c.endpoint); err != nil {
			s.Close()
			return protocol.Reply{}, err
		}
		c.sock = s
	}
	msg, err := protocol.AppendRequest(nil, protocol.JSON, &req)
	if err != nil {
		return protocol.Reply{}, err
	}
	if _, err := c.sock.SendBytes(msg, 0); err != nil {
		c.close()
		return protocol.Reply{}, fmt.Errorf("%v to %s: %w", req.Op, c.endpoint, err)
	}
	b, err := c.sock.RecvBytes(0)
	if err != nil {
		c.close()
		return protocol.Reply{}, fmt.Errorf("%v to %s: no reply within %v: %w", req.Op, c.endpoint, c.timeout, err)
	}
	rep, _, err := protocol.DecodeReply(b)
	if err != nil {
		return protocol.Reply{}, fmt.Errorf("%v to %s: %w", req.Op, c.endpoint, err)
	}
	if rep.Status != protocol.StatusOK {
		if rep.Err != nil {
			return rep, fmt.Errorf("%v to %s: %w", req.Op, c.endpoint, rep.Err)
		}
		return rep, fmt.Errorf("%v to %s: status %q", req.Op, c.endpoint, rep.Status)
	}
	return rep, nil
}

// scan calls fn with every key of range hr on the node and its value as
// stored there, page by page. The SCAN is raw, so a copy keeps the bytes
// and the codec of the original, even a value with no form in the other
// codec; a node older than raw SCANs answers in JSON, and its values are
// taken as JSON.
func (c *reqClient) scan(ctx context.Context, hr sharding.HashRange, fn func(string, store.Value)) error {
	cursor := ""
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		rep, err := c.call(protocol.Request{Op: protocol.OpScan, Cursor: cursor, Limit: catchUpPage, HashFrom: hr.From, HashTo: hr.To, Raw: true})
		if err != nil {
			return err
		}
		for _, e := range rep.Collection {
			codec := e.Codec
			if codec == 0 {
				codec = protocol.JSON
			}
			fn(e.Key, store.Value{Codec: uint8(codec), Data: e.Value})
		}
		if cursor = rep.Cursor; cursor == "" {
			return nil
		}
	}
}

func (c *reqClient) close() {
	if c.sock != nil {
		c.sock.Close()
		c.sock = nil
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
