package repair

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/zshard/zshard/internal/curve"
	"github.com/zshard/zshard/internal/producer"
	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/sharding"
)

// Defaults of the options Run and Background share.
const (
	// DefaultChunkPartitions is how many consecutive partitions Run
	// compares per round of DIGESTs (one DIGEST per node) and records its
	// progress after.
	DefaultChunkPartitions = 16384
	// DefaultBatchKeys bounds the writes of one BATCH to a node.
	DefaultBatchKeys = 512
	// DefaultBatchBytes bounds the keys and values of one BATCH to a node.
	DefaultBatchBytes = 1 << 20
	// maxChunkPartitions is the most partitions one DIGEST may cover
	// (node.MaxDigestPartitions).
	maxChunkPartitions = 65536
	// scanPage is the page of the SCANs of differing partitions.
	scanPage = 4096
)

// options are what the engine is told, defaults filled in.
type options struct {
	dryRun           bool
	maxKeyRate       int
	maxPartitionRate int
	chunk            int
	batchKeys        int
	batchBytes       int
	log              *slog.Logger
}

func (o options) withDefaults() options {
	if o.chunk <= 0 {
		o.chunk = DefaultChunkPartitions
	}
	o.chunk = min(o.chunk, maxChunkPartitions)
	if o.batchKeys <= 0 {
		o.batchKeys = DefaultBatchKeys
	}
	o.batchKeys = min(o.batchKeys, protocol.DefaultMaxBatchOps)
	if o.batchBytes <= 0 {
		o.batchBytes = DefaultBatchBytes
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	return o
}

// Report is the outcome of a repair: of a Run (with DryRun, what it would
// do), or of one round of Background.
type Report struct {
	// RunID names the run (its record in Consul); Resumed is true when it
	// continued an interrupted one. Empty for a dry run and a background
	// round.
	RunID   string `json:"run_id,omitempty"`
	Resumed bool   `json:"resumed,omitempty"`
	DryRun  bool   `json:"dry_run"`
	// Partitions is how many partitions the run covers (P for Run, those
	// the node leads for a background round).
	Partitions int `json:"partitions"`
	// Compared counts the partitions whose replicas were compared (two or
	// more of them up), Differing those whose digests differed, Partial
	// the compared ones of which some replica was down, and Skipped those
	// with fewer than two replicas up: nothing to compare (at R=0, every
	// partition).
	Compared  int `json:"compared"`
	Differing int `json:"differing"`
	Partial   int `json:"partial"`
	Skipped   int `json:"skipped"`
	// Fixed counts, by node, the keys written to it because it lacked
	// their newest record or held an older version (with DryRun: that
	// would be written). Only nodes written to are listed.
	Fixed map[string]int64 `json:"fixed"`
	// Superseded counts writes a node did not apply because it held a
	// newer version by then (a concurrent write); Failed writes it
	// answered with an error.
	Superseded int64 `json:"superseded"`
	Failed     int64 `json:"failed"`
	// Keys counts the records (values and tombstones) the replicas
	// digested; Scanned the records read from differing partitions.
	Keys    int64 `json:"keys"`
	Scanned int64 `json:"scanned"`
	// Down maps each replica that was skipped to why: not passing its
	// health check, not ready, or the error it failed with. Its
	// partitions were compared among the other replicas.
	Down map[string]string `json:"down,omitempty"`
	// Elapsed is the time the run took (for a resumed run, all of its
	// parts).
	Elapsed time.Duration `json:"elapsed_ns"`
}

// FixedTotal is the sum of Fixed over the nodes.
func (r Report) FixedTotal() int64 {
	var n int64
	for _, v := range r.Fixed {
		n += v
	}
	return n
}

// engine compares and repairs partitions over one placement table. Its
// methods that take a context are called from one goroutine at a time; it
// runs goroutines of its own per node.
type engine struct {
	c     Caller
	codec protocol.Codec
	opt   options
	table *sharding.Table
	parts int // P
	pace  *pacer

	mu    sync.Mutex
	down  map[string]string // node -> why it is skipped
	fixed map[string]int64
	// refused is the first error of a node refusing the repair's key
	// (CURVE: not an admin's, or not allowed at all): the repair stops
	// with it, since every node would refuse alike.
	refused error

	compared, differing, partial, skipped atomic.Int64
	done                                  atomic.Int64 // partitions done, for progress
	keys, scanned, superseded, failed     atomic.Int64
	logged                                atomic.Int64 // write failures logged
}

// newEngine returns an engine over table whose nodes are up except those
// in down (node -> why).
func newEngine(c Caller, table *sharding.Table, down map[string]string, opt options) *engine {
	opt = opt.withDefaults()
	e := &engine{c: c, codec: c.Codec(), opt: opt, table: table, parts: table.Partitions(),
		pace: newPacer(opt.maxKeyRate, opt.maxPartitionRate), down: maps.Clone(down), fixed: map[string]int64{}}
	if e.down == nil {
		e.down = map[string]string{}
	}
	if !e.codec.Valid() {
		e.codec = protocol.JSON
	}
	return e
}

// markDown skips node from now on.
func (e *engine) markDown(node string, why error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.refused == nil && refusesKey(why) {
		e.refused = fmt.Errorf("repair: %s: %w (run it with an admin key of the nodes)", node, why)
	}
	if _, ok := e.down[node]; !ok {
		e.down[node] = why.Error()
		e.opt.log.Warn("repair skips a replica", "node", node, "err", why)
	}
}

// upList appends to dst the replicas of partition p that are up, in
// preference order.
func (e *engine) upList(dst []string, p int) []string {
	start := len(dst)
	dst = e.table.AppendPartitionPrefs(dst, p)
	e.mu.Lock()
	defer e.mu.Unlock()
	kept := slices.DeleteFunc(dst[start:], func(n string) bool { _, down := e.down[n]; return down })
	return dst[:start+len(kept)]
}

// report returns the counters so far.
func (e *engine) report() Report {
	e.mu.Lock()
	defer e.mu.Unlock()
	r := Report{DryRun: e.opt.dryRun, Compared: int(e.compared.Load()), Differing: int(e.differing.Load()),
		Partial: int(e.partial.Load()), Skipped: int(e.skipped.Load()), Fixed: maps.Clone(e.fixed),
		Superseded: e.superseded.Load(), Failed: e.failed.Load(), Keys: e.keys.Load(), Scanned: e.scanned.Load()}
	if len(e.down) > 0 {
		r.Down = maps.Clone(e.down)
	}
	return r
}

// addFixed counts n keys fixed on node.
func (e *engine) addFixed(node string, n int64) {
	e.mu.Lock()
	e.fixed[node] += n
	e.mu.Unlock()
}

// nodeError is the failure of one node; the repair skips the node and
// goes on without it.
type nodeError struct {
	node string
	err  error
}

func (e *nodeError) Error() string { return e.node + ": " + e.err.Error() }
func (e *nodeError) Unwrap() error { return e.err }

// nodeErr wraps err, the failure of a call to node while doing what, as a
// nodeError, unless ctx is done: then the call failed because the work
// was cancelled, not because of the node.
func nodeErr(ctx context.Context, node, what string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return &nodeError{node: node, err: fmt.Errorf("%s: %w", what, err)}
}

// checkFeatures asks every node up whether it speaks versions (its PING
// features). A node that does not answer is skipped; the nodes that
// answer without the feature are returned.
func (e *engine) checkFeatures(ctx context.Context) ([]string, error) {
	var old []string
	for _, n := range e.table.Nodes() {
		e.mu.Lock()
		_, down := e.down[n.Name]
		e.mu.Unlock()
		if down {
			continue
		}
		rep, err := e.c.Call(ctx, n.Name, protocol.Request{Op: protocol.OpPing})
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			e.markDown(n.Name, fmt.Errorf("PING: %w", err))
			continue
		}
		if !slices.Contains(rep.Features, protocol.FeatureVersions) || !slices.Contains(rep.Features, protocol.FeatureRaw) {
			old = append(old, n.Name)
		}
	}
	return old, nil
}

// spanOf is the hash range from the first partition of parts (sorted) to
// the end of its last.
func spanOf(parts []int, P int) sharding.HashRange {
	return sharding.HashRange{From: sharding.PartitionRange(parts[0], P).From, To: sharding.PartitionRange(parts[len(parts)-1], P).To}
}

// compareChunk compares the partitions parts (sorted, spanning at most
// maxChunkPartitions) on their replicas that are up, by one DIGEST with
// versions per node, and repairs those whose digests differ.
func (e *engine) compareChunk(ctx context.Context, parts []int) error {
	if len(parts) == 0 {
		return nil
	}
	if err := e.pace.wait(ctx, 0, len(parts)); err != nil {
		return err
	}
	sets := map[string]*sharding.PartitionSet{}
	var buf []string
	for _, p := range parts {
		buf = e.upList(buf[:0], p)
		if len(buf) < 2 {
			continue
		}
		for _, n := range buf {
			if sets[n] == nil {
				sets[n] = sharding.NewPartitionSet(e.parts)
			}
			sets[n].Add(p)
		}
	}
	digests, err := e.digestAll(ctx, sets, parts)
	if err != nil {
		return err
	}
	if err := e.refusal(); err != nil {
		return err
	}
	var differ []int
	width := e.table.Width()
	for _, p := range parts {
		buf = e.upList(buf[:0], p)
		if len(buf) < 2 {
			e.skipped.Add(1)
			continue
		}
		e.compared.Add(1)
		if len(buf) < width {
			e.partial.Add(1)
		}
		i := p - parts[0]
		first := digests[buf[0]][i]
		for _, n := range buf[1:] {
			if d := digests[n][i]; d.Keys != first.Keys || d.Sum != first.Sum {
				differ = append(differ, p)
				break
			}
		}
	}
	if len(differ) > 0 {
		e.differing.Add(int64(len(differ)))
		e.opt.log.Debug("partitions differ", "count", len(differ), "first", differ[0])
		if err := e.fix(ctx, differ); err != nil {
			return err
		}
		if err := e.refusal(); err != nil {
			return err
		}
	}
	e.done.Add(int64(len(parts)))
	return nil
}

// refusal returns the error of a node that refused the repair's key, if
// any.
func (e *engine) refusal() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.refused
}

// refusesKey reports whether err is a node refusing the caller's key: a
// forbidden reply or a CURVE refusal.
func refusesKey(err error) bool {
	var pe *protocol.Error      // from a NodeCaller
	var re *producer.ReplyError // from a producer
	return curve.IsRefused(err) || errors.Is(err, curve.ErrKeyNeeded) ||
		errors.As(err, &pe) && pe.Code == protocol.CodeForbidden ||
		errors.As(err, &re) && re.Code == protocol.CodeForbidden
}

// compareRange compares the partitions [lo, hi) chunk by chunk
// (compareChunk), and calls after, if not nil, with the last partition of
// each chunk done.
func (e *engine) compareRange(ctx context.Context, lo, hi int, after func(last int) error) error {
	parts := make([]int, 0, min(e.opt.chunk, hi-lo))
	for ; lo < hi; lo += e.opt.chunk {
		end := min(lo+e.opt.chunk, hi)
		parts = parts[:0]
		for p := lo; p < end; p++ {
			parts = append(parts, p)
		}
		if err := e.compareChunk(ctx, parts); err != nil {
			return err
		}
		if after != nil {
			if err := after(end - 1); err != nil {
				return err
			}
		}
	}
	return nil
}

// digestPartitions bounds the partitions one DIGEST covers: a node
// answers a request at a time on its request endpoint, so a DIGEST must
// stay short (a few thousand records) for the node's other clients, its
// own health check included.
const digestPartitions = 2048

// digestAll asks every node of sets, at once, for the DIGESTs with
// versions of its set among parts (sorted), in requests of at most
// digestPartitions consecutive partitions. The result holds, by node, the
// digest of partition parts[0]+i at index i (zero where the node holds no
// record). A node that fails is skipped (markDown) and absent.
func (e *engine) digestAll(ctx context.Context, sets map[string]*sharding.PartitionSet, parts []int) (map[string][]protocol.Digest, error) {
	lo := parts[0]
	span := parts[len(parts)-1] - lo + 1
	var mu sync.Mutex
	out := make(map[string][]protocol.Digest, len(sets))
	var wg sync.WaitGroup
	for node, set := range sets {
		wg.Go(func() {
			ds := make([]protocol.Digest, span)
			for from := 0; from < len(parts); from += digestPartitions {
				sub := parts[from:min(from+digestPartitions, len(parts))]
				if set.Count(sub[0], sub[len(sub)-1]+1) == 0 {
					continue
				}
				hr := spanOf(sub, e.parts)
				req := protocol.Request{Op: protocol.OpDigest, Versions: true, Partitions: set.N, Bitmap: set.Bits,
					HashFrom: hr.From, HashTo: hr.To}
				rep, err := e.c.Call(ctx, node, req)
				if err != nil {
					if ctx.Err() == nil {
						e.markDown(node, fmt.Errorf("DIGEST: %w", err))
					}
					return
				}
				var keys int64
				for _, d := range rep.Digests {
					if i := d.Partition - lo; i >= 0 && i < span && set.Has(d.Partition) {
						ds[i] = d
						keys += int64(d.Keys)
					}
				}
				e.keys.Add(keys)
				if err := e.pace.wait(ctx, int(keys), 0); err != nil {
					return
				}
			}
			mu.Lock()
			out[node] = ds
			mu.Unlock()
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// fix compares the records of the partitions parts on their replicas and
// writes the newest of each key where it is missing or older. A node that
// fails is skipped, and the partitions compared again without it.
func (e *engine) fix(ctx context.Context, parts []int) error {
	for {
		err := e.fixOnce(ctx, parts)
		var ne *nodeError
		if !errors.As(err, &ne) || ctx.Err() != nil {
			return err
		}
		e.markDown(ne.node, ne.err)
	}
}

// fixOnce is one attempt of fix: every replica up of parts streams the
// records of its share of them (SCANs with versions, raw, filtered by a
// partition set), all at once, and the streams are merged in scan order,
// key by key. The first node to fail ends it with a nodeError.
func (e *engine) fixOnce(ctx context.Context, parts []int) error {
	lists := make(map[int][]string, len(parts))
	sets := map[string]*sharding.PartitionSet{}
	for _, p := range parts {
		list := e.upList(nil, p)
		if len(list) < 2 {
			continue
		}
		lists[p] = list
		for _, n := range list {
			if sets[n] == nil {
				sets[n] = sharding.NewPartitionSet(e.parts)
			}
			sets[n].Add(p)
		}
	}
	if len(sets) == 0 {
		return nil
	}
	hr := spanOf(parts, e.parts)
	g, gctx := errgroup.WithContext(ctx)
	names := slices.Sorted(maps.Keys(sets))
	streams := make([]*stream, len(names))
	for i, n := range names {
		s := &stream{node: n, pages: make(chan []protocol.Entry, 1)}
		streams[i] = s
		g.Go(func() error { return e.scan(gctx, s, sets[n], hr) })
	}
	var w *writers
	if !e.opt.dryRun {
		w = e.startWriters(g, gctx, names)
	}
	g.Go(func() error {
		defer w.close()
		return e.merge(gctx, streams, lists, w)
	})
	return g.Wait()
}

// scan streams to s.pages the records of set within hr on s.node: SCANs
// with versions and raw, page by page. It closes s.pages only once the
// scan is complete, so that a reader never takes a failed scan for a
// finished one.
func (e *engine) scan(ctx context.Context, s *stream, set *sharding.PartitionSet, hr sharding.HashRange) error {
	cursor := ""
	for {
		req := protocol.Request{Op: protocol.OpScan, Cursor: cursor, Limit: scanPage, HashFrom: hr.From, HashTo: hr.To,
			Partitions: set.N, Bitmap: set.Bits, Raw: true, Versions: true}
		rep, err := e.c.Call(ctx, s.node, req)
		if err != nil {
			return nodeErr(ctx, s.node, "SCAN", err)
		}
		kept := rep.Collection[:0]
		for _, en := range rep.Collection {
			if h := sharding.KeyHash(en.Key); hr.Contains(h) && set.Contains(h) {
				kept = append(kept, en)
			}
		}
		e.scanned.Add(int64(len(kept)))
		if err := e.pace.wait(ctx, len(kept), 0); err != nil {
			return err
		}
		select {
		case s.pages <- kept:
		case <-ctx.Done():
			return ctx.Err()
		}
		if cursor = rep.Cursor; cursor == "" {
			close(s.pages)
			return nil
		}
	}
}

// stream is one node's records of the partitions being fixed, in scan
// order, as the merge reads them.
type stream struct {
	node  string
	pages chan []protocol.Entry
	page  []protocol.Entry
	i     int
	hash  uint64 // of the current entry
	done  bool
}

// entry is the current record.
func (s *stream) entry() *protocol.Entry { return &s.page[s.i] }

// next moves to the next record, reading pages as needed; done at the end.
func (s *stream) next(ctx context.Context) error {
	s.i++
	for s.i >= len(s.page) {
		select {
		case pg, ok := <-s.pages:
			if !ok {
				s.done, s.page = true, nil
				return nil
			}
			s.page, s.i = pg, 0
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.hash = sharding.KeyHash(s.page[s.i].Key)
	return nil
}

// before reports whether s's current record comes before o's in scan
// order (hash, then key bytes).
func (s *stream) before(o *stream) bool {
	if s.hash != o.hash {
		return s.hash < o.hash
	}
	return s.entry().Key < o.entry().Key
}

// merge walks the streams in scan order, one key at a time, and has the
// newest record of each key written to the replicas of its partition
// (lists) that lack it or hold an older version; with w nil (a dry run)
// it only counts them.
func (e *engine) merge(ctx context.Context, streams []*stream, lists map[int][]string, w *writers) error {
	for _, s := range streams {
		s.i = -1
		if err := s.next(ctx); err != nil {
			return err
		}
	}
	var at []*stream
	var recs []*protocol.Entry
	for {
		var first *stream
		for _, s := range streams {
			if !s.done && (first == nil || s.before(first)) {
				first = s
			}
		}
		if first == nil {
			break
		}
		key, hash := first.entry().Key, first.hash
		at = at[:0]
		for _, s := range streams {
			if !s.done && s.hash == hash && s.entry().Key == key {
				at = append(at, s)
			}
		}
		list := lists[sharding.PartitionOf(hash, e.parts)]
		recs = recs[:0]
		for _, n := range list {
			var r *protocol.Entry
			for _, s := range at {
				if s.node == n {
					r = s.entry()
				}
			}
			recs = append(recs, r)
		}
		newest, stale := decide(recs)
		for _, i := range stale {
			if w == nil {
				e.addFixed(list[i], 1)
				continue
			}
			if err := w.add(ctx, list[i], e.writeOf(recs[newest])); err != nil {
				return err
			}
		}
		for _, s := range at {
			if err := s.next(ctx); err != nil {
				return err
			}
		}
	}
	return w.flush(ctx)
}

// decide returns, of the records of one key on its replicas (nil where a
// replica has none), the index of the newest one and the indexes of the
// replicas to write it to: those without a record or with an older
// version. Equal versions are the same write. A value without a version
// (written before versions existed, or without one) cannot be ordered
// against another: it is written only where the key has no record at
// all, and a tombstone without a version (never written by a node) is not
// written anywhere. stale is empty when there is nothing to do.
func decide(recs []*protocol.Entry) (newest int, stale []int) {
	newest = -1
	for i, r := range recs {
		if r != nil && (newest < 0 || r.Version.Newer(recs[newest].Version)) {
			newest = i
		}
	}
	if newest < 0 {
		return -1, nil
	}
	nr := recs[newest]
	if nr.Version.IsZero() && nr.Deleted {
		return newest, nil
	}
	for i, r := range recs {
		if r == nil || nr.Version.Newer(r.Version) {
			stale = append(stale, i)
		}
	}
	return newest, stale
}

// writeOf is the write that stores r, the newest record of key r.Key, on
// a replica: a PUT of its value raw with its version, or a DELETE with
// its version; a value without version goes "if_absent", so that it never
// replaces anything.
func (e *engine) writeOf(r *protocol.Entry) protocol.Request {
	if r.Deleted {
		return protocol.Request{Op: protocol.OpDelete, Key: r.Key, Version: r.Version}
	}
	req := protocol.Request{Op: protocol.OpPut, Key: r.Key, Value: r.Value, Version: r.Version, IfAbsent: r.Version.IsZero()}
	if r.Codec != 0 && r.Codec != e.codec {
		req.ValueCodec = r.Codec
	}
	if req.Value == nil {
		req.Value = []byte{}
	}
	return req
}

// writers sends the repairs of one fixOnce: the merge adds writes per
// node, and one goroutine per node sends them in acknowledged BATCHes on
// its request endpoint. A nil *writers does nothing (a dry run).
type writers struct {
	e       *engine
	ch      map[string]chan []protocol.Request
	pending map[string][]protocol.Request
	bytes   map[string]int
}

// startWriters starts one writer per node of names in g.
func (e *engine) startWriters(g *errgroup.Group, ctx context.Context, names []string) *writers {
	w := &writers{e: e, ch: map[string]chan []protocol.Request{}, pending: map[string][]protocol.Request{}, bytes: map[string]int{}}
	for _, n := range names {
		ch := make(chan []protocol.Request, 2)
		w.ch[n] = ch
		g.Go(func() error { return e.writeLoop(ctx, n, ch) })
	}
	return w
}

// add queues req for node, and sends the node's batch when it is full.
func (w *writers) add(ctx context.Context, node string, req protocol.Request) error {
	w.pending[node] = append(w.pending[node], req)
	w.bytes[node] += len(req.Key) + len(req.Value) + 64
	if len(w.pending[node]) >= w.e.opt.batchKeys || w.bytes[node] >= w.e.opt.batchBytes {
		return w.send(ctx, node)
	}
	return nil
}

// send hands node's pending writes to its writer.
func (w *writers) send(ctx context.Context, node string) error {
	ops := w.pending[node]
	if len(ops) == 0 {
		return nil
	}
	w.pending[node], w.bytes[node] = nil, 0
	select {
	case w.ch[node] <- ops:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// flush sends every node's pending writes.
func (w *writers) flush(ctx context.Context) error {
	if w == nil {
		return nil
	}
	for _, n := range slices.Sorted(maps.Keys(w.pending)) {
		if err := w.send(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

// close ends the writers once they have sent what they were given.
func (w *writers) close() {
	if w == nil {
		return
	}
	for _, ch := range w.ch {
		close(ch)
	}
}

// writeLoop sends the batches of ch to node, each one BATCH on its
// request endpoint, and counts the results.
func (e *engine) writeLoop(ctx context.Context, node string, ch <-chan []protocol.Request) error {
	for ops := range ch {
		if err := e.pace.wait(ctx, len(ops), 0); err != nil {
			return err
		}
		rep, err := e.c.Call(ctx, node, protocol.Request{Op: protocol.OpBatch, Ops: ops})
		if err != nil {
			return nodeErr(ctx, node, fmt.Sprintf("writing %d keys", len(ops)), err)
		}
		if len(rep.Results) != len(ops) {
			return nodeErr(ctx, node, "writing", fmt.Errorf("%d results for %d writes", len(rep.Results), len(ops)))
		}
		var fixed int64
		for i, res := range rep.Results {
			switch {
			case res.Status != protocol.StatusOK:
				e.failed.Add(1)
				if e.logged.Add(1) <= 10 {
					e.opt.log.Warn("a repair write failed", "node", node, "key", ops[i].Key, "err", res.Err)
				}
			case res.Superseded:
				e.superseded.Add(1)
			default:
				fixed++
			}
		}
		e.addFixed(node, fixed)
	}
	return nil
}
