package rebalance

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/zshard/zshard/internal/ctxtime"
	"github.com/zshard/zshard/internal/hlc"
	"github.com/zshard/zshard/internal/producer"
	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/layout"
	"github.com/zshard/zshard/sharding"
)

// scanLimit is the page of one partition SCAN inside a BATCH; scanTarget
// the entries one BATCH of SCANs aims at.
const (
	scanLimit  = 1000
	scanTarget = 8192
)

// scanParts streams the keys of partitions parts on node: fn is called once
// per partition page. It sends one BATCH of ScanBatch partition SCANs per
// round trip and follows the cursor of a partition bigger than a page.
func (r *rebalancer) scanParts(ctx context.Context, node string, parts []int, fn func(part int, es []protocol.Entry) error) error {
	P := r.p.Settings().Partitions
	if P == 0 {
		P = sharding.DefaultPartitions
	}
	scan := func(part int, cursor string) protocol.Request {
		hr := sharding.PartitionRange(part, P)
		return protocol.Request{Op: protocol.OpScan, Cursor: cursor, Limit: scanLimit, HashFrom: hr.From, HashTo: hr.To,
			Raw: r.raw, Versions: r.versions}
	}
	// The number of partitions per BATCH adapts to what they hold, so that
	// one reply carries about scanTarget entries whatever the key density.
	size, seen, scanned := min(16, r.cfg.ScanBatch), 0, 0
	for len(parts) > 0 {
		if scanned > 0 {
			size = max(1, min(r.cfg.ScanBatch, scanTarget*scanned/max(1, seen)))
		}
		chunk := parts[:min(size, len(parts))]
		parts = parts[len(chunk):]
		scanned += len(chunk)
		ops := make([]protocol.Request, len(chunk))
		for i, part := range chunk {
			ops[i] = scan(part, "")
		}
		rep, err := r.p.Call(ctx, node, protocol.Request{Op: protocol.OpBatch, Ops: ops})
		if err != nil {
			return fmt.Errorf("scanning %d partitions of %s: %w", len(chunk), node, err)
		}
		if len(rep.Results) != len(chunk) {
			return fmt.Errorf("scanning %s: %d results for %d scans", node, len(rep.Results), len(chunk))
		}
		for i, res := range rep.Results {
			part := chunk[i]
			for {
				if res.Status != protocol.StatusOK {
					return fmt.Errorf("scanning partition %d of %s: %v", part, node, res.Err)
				}
				seen += len(res.Collection)
				if err := fn(part, res.Collection); err != nil {
					return err
				}
				if res.Cursor == "" {
					break
				}
				if res, err = r.p.Call(ctx, node, scan(part, res.Cursor)); err != nil {
					return fmt.Errorf("scanning partition %d of %s: %w", part, node, err)
				}
			}
		}
	}
	return nil
}

// writeBatch sends ops to node in one BATCH and checks every result.
func (r *rebalancer) writeBatch(ctx context.Context, node string, ops []protocol.Request) error {
	rep, err := r.p.Call(ctx, node, protocol.Request{Op: protocol.OpBatch, Ops: ops})
	if err != nil {
		return fmt.Errorf("writing %d keys to %s: %w", len(ops), node, err)
	}
	for i, res := range rep.Results {
		if res.Status != protocol.StatusOK {
			return fmt.Errorf("writing %q to %s: %v", ops[i].Key, node, res.Err)
		}
	}
	if len(rep.Results) != len(ops) {
		return fmt.Errorf("writing to %s: %d results for %d ops", node, len(rep.Results), len(ops))
	}
	return nil
}

// pace sleeps as needed to keep the copy under MaxRate keys per second.
func (r *rebalancer) pace(ctx context.Context, n int) error {
	if r.cfg.MaxRate <= 0 {
		return nil
	}
	sent := r.op.Add(int64(n))
	due := r.copyStart.Add(time.Duration(float64(sent) / float64(r.cfg.MaxRate) * float64(time.Second)))
	if d := time.Until(due); d > 0 {
		return ctxtime.Sleep(ctx, d)
	}
	return nil
}

// copyAndVerify copies every transfer of plan from its source to its
// destination, then verifies each destination against its source and
// repairs the differences until a pass finds none.
func (r *rebalancer) copyAndVerify(ctx context.Context, plan sharding.Plan, from *sharding.Table, rep *Report) error {
	transfers := slices.DeleteFunc(plan.Transfers(), func(t sharding.Transfer) bool { return t.From == r.dead })
	bySource := map[string]map[int][]string{}
	byPair := map[[2]string][]int{}
	for _, t := range transfers {
		if bySource[t.From] == nil {
			bySource[t.From] = map[int][]string{}
		}
		bySource[t.From][t.Partition] = append(bySource[t.From][t.Partition], t.To)
		byPair[[2]string{t.From, t.To}] = append(byPair[[2]string{t.From, t.To}], t.Partition)
	}
	r.est.Store(r.estimate(ctx, plan, from))
	nodes := map[string]bool{}
	for _, t := range transfers {
		nodes[t.From], nodes[t.To] = true, true
	}
	var err error
	if r.raw, r.versions, err = r.features(ctx, nodes); err != nil {
		return err
	}
	if err := r.useCodecFor(ctx); err != nil {
		return err
	}
	sources := map[string]bool{}
	for src := range bySource {
		sources[src] = true
	}
	if err := r.waitReady(ctx, sources); err != nil {
		return err
	}
	r.setPhase("copying")
	t0 := time.Now()
	r.copyStart = t0
	r.copyAt.Store(t0)
	// Each source's pairs are verified as soon as its copy is acknowledged,
	// while the other sources still copy: they write other partitions.
	var mu sync.Mutex
	copied, done := t0, 0 // when the last copy ended, and how many did
	g, gctx := errgroup.WithContext(ctx)
	for src, parts := range bySource {
		g.Go(func() error {
			n, err := r.copyFrom(gctx, src, parts)
			mu.Lock()
			rep.Optimum += n
			copied, done = time.Now(), done+1
			if done == len(bySource) {
				r.setPhase("verifying")
			}
			mu.Unlock()
			if err != nil {
				return err
			}
			dsts := map[string][]int{}
			ready := map[string]bool{}
			for pair, ps := range byPair {
				if pair[0] == src {
					dsts[pair[1]] = ps
					ready[pair[1]] = true
				}
			}
			if err := r.waitReady(gctx, ready); err != nil {
				return err
			}
			return r.verifySource(gctx, src, dsts)
		})
	}
	err = g.Wait()
	rep.Keys, rep.Bytes = r.keys.Load(), r.bytes.Load()
	rep.Copy, rep.Verify = copied.Sub(t0), time.Since(copied)
	if err != nil {
		return err
	}
	rep.Fixed = r.fixed.Load()
	return nil
}

// waitReady waits until every node of nodes passes and is ready for reads
// (Consul Meta "ready"): a node that catches up from its replicas after it
// starts, a node just added included, takes writes but refuses reads, the
// SCANs and DIGESTs of the copy and of the verification. It fails after
// Config.JoinTimeout.
func (r *rebalancer) waitReady(ctx context.Context, nodes map[string]bool) error {
	deadline := time.Now().Add(r.cfg.JoinTimeout)
	for {
		var waiting []string
		ready := map[string]bool{}
		for _, m := range r.p.Members() {
			ready[m.Name] = m.Ready
		}
		for n := range nodes {
			if !ready[n] {
				waiting = append(waiting, n)
			}
		}
		if len(waiting) == 0 {
			return nil
		}
		slices.Sort(waiting)
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not passing and ready for reads within %v (catching up from their replicas, or down); "+
				"the migration stays in phase copying: run the command again", strings.Join(waiting, ", "), r.cfg.JoinTimeout)
		}
		if err := ctxtime.Sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

// features reports whether every node of nodes lists the raw feature in
// its PING reply, and whether every one lists the versions feature too.
// With raw, the copy, the digests and the repairs move values raw, as
// stored, byte for byte with their codec (a conversion to the producer's
// codec changes some values and fails on others); else, with a node older
// than raw values among them, they all move values converted to the
// producer's codec, as before raw values existed. With versions as well,
// the copy carries each record's version and the tombstones (a copy then
// never replaces a newer write, and a delete is copied as one), and the
// digests and the comparisons are of versions; else the copy writes
// "if_absent", as before versions existed.
func (r *rebalancer) features(ctx context.Context, nodes map[string]bool) (raw, versions bool, err error) {
	raw, versions = true, true
	for node := range nodes {
		rep, err := r.p.Call(ctx, node, protocol.Request{Op: protocol.OpPing})
		if err != nil {
			return false, false, fmt.Errorf("asking %s for its features: %w", node, err)
		}
		if !slices.Contains(rep.Features, protocol.FeatureRaw) {
			r.log.Warn("a node does not speak raw values: copying values converted to the producer's codec", "node", node,
				"codec", r.p.Codec())
			return false, false, nil
		}
		if versions && !slices.Contains(rep.Features, protocol.FeatureVersions) {
			r.log.Warn("a node does not speak write versions: copying without versions, if absent", "node", node)
			versions = false
		}
	}
	return raw, versions, nil
}

// useCodecFor switches the rebalancer's producer to the configured codec
// when the copy moves values converted to it (not raw): run opens it
// with msgpack, which raw copies carry best.
func (r *rebalancer) useCodecFor(ctx context.Context) error {
	want := cmp.Or(r.cfg.Producer.Codec, protocol.JSON)
	if r.raw || r.p.Codec() == want {
		return nil
	}
	p, err := producer.New(ctx, r.cfg.Producer)
	if err != nil {
		return err
	}
	r.p.Close()
	r.p = p
	return nil
}

// copyOf is the write that copies e, a record read from a source: with
// versions, a PUT of its value or a DELETE (a tombstone) carrying its
// version, which the destination applies only if it holds nothing newer;
// a value without version, and every value without versions, as a PUT
// "if_absent", which never replaces what the destination holds.
func (r *rebalancer) copyOf(e protocol.Entry) protocol.Request {
	if e.Deleted {
		return protocol.Request{Op: protocol.OpDelete, Key: e.Key, Version: e.Version}
	}
	req := r.p.PutOf(e.Key, e.Value, r.codecOf(e), e.Version.IsZero())
	req.Version = e.Version
	return req
}

// codecOf is the codec of e's value: its own in a raw SCAN reply, else
// (not raw, or a node that ignored "raw") the producer's.
func (r *rebalancer) codecOf(e protocol.Entry) protocol.Codec {
	if e.Codec != 0 {
		return e.Codec
	}
	return r.p.Codec()
}

// copyFrom copies the partitions of parts (partition -> destinations) from
// src: one scan of src filtered by the set of those partitions, its pages
// pushed to the destinations while the next page is read. It returns the
// keys copied (one per destination).
func (r *rebalancer) copyFrom(ctx context.Context, src string, parts map[int][]string) (int64, error) {
	set := sharding.NewPartitionSet(r.partitions())
	for p := range parts {
		set.Add(p)
	}
	var n int64
	err := r.stream(ctx, false, func(b *bulkStream) error {
		return r.scanSet(ctx, src, set, func(es []protocol.Entry) error {
			for _, e := range es {
				for _, dst := range parts[set.Of(sharding.KeyHash(e.Key))] {
					n++
					if err := b.copy(ctx, dst, e); err != nil {
						return err
					}
				}
			}
			return nil
		})
	})
	return n, err
}

// partitions is P of the cluster.
func (r *rebalancer) partitions() int {
	if p := r.p.Settings().Partitions; p > 0 {
		return p
	}
	return sharding.DefaultPartitions
}

// setPage is the page of a SCAN filtered by a partition set.
const setPage = 10000

// scanSet streams the keys of the partitions of set on node, in scan order:
// SCANs filtered by set, each page passed to fn while the next is being
// read. Only keys of set reach fn, also from a node that ignores the
// filter (one older than the partition fields; it sends every key).
func (r *rebalancer) scanSet(ctx context.Context, node string, set *sharding.PartitionSet, fn func([]protocol.Entry) error) error {
	g, gctx := errgroup.WithContext(ctx)
	pages := make(chan []protocol.Entry, 1)
	g.Go(func() error {
		defer close(pages)
		cursor := ""
		for {
			rep, err := r.p.Call(gctx, node, protocol.Request{Op: protocol.OpScan, Cursor: cursor, Limit: setPage,
				Partitions: set.N, Bitmap: set.Bits, Raw: r.raw, Versions: r.versions})
			if err != nil {
				return fmt.Errorf("scanning %d partitions of %s: %w", set.Count(0, set.N), node, err)
			}
			select {
			case pages <- rep.Collection:
			case <-gctx.Done():
				return gctx.Err()
			}
			if cursor = rep.Cursor; cursor == "" {
				return nil
			}
		}
	})
	g.Go(func() error {
		for es := range pages {
			kept := es[:0]
			for _, e := range es {
				if set.Contains(sharding.KeyHash(e.Key)) {
					kept = append(kept, e)
				}
			}
			if err := fn(kept); err != nil {
				return err
			}
		}
		return nil
	})
	return g.Wait()
}

// digestChunk is how many partitions of a set one DIGEST covers (at most
// half of node.MaxDigestPartitions).
const digestChunk = 32768

// digests returns the DIGESTs of node for the partitions of set, by
// partition; partitions without keys are absent.
func (r *rebalancer) digests(ctx context.Context, node string, set *sharding.PartitionSet) (map[int]protocol.Digest, error) {
	out := map[int]protocol.Digest{}
	for p := set.Next(0); p >= 0; {
		// [p, q] holds digestChunk partitions of set (or up to the end).
		q, k := p, 1
		for next := set.Next(q + 1); next >= 0 && k < digestChunk; next = set.Next(q + 1) {
			q, k = next, k+1
		}
		req := protocol.Request{Op: protocol.OpDigest, Partitions: set.N, Bitmap: set.Bits,
			HashFrom: sharding.PartitionRange(p, set.N).From, HashTo: sharding.PartitionRange(q, set.N).To,
			Raw: r.raw, Versions: r.versions}
		rep, err := r.p.Call(ctx, node, req)
		if err != nil {
			return nil, fmt.Errorf("digests of %d partitions of %s: %w", k, node, err)
		}
		for _, d := range rep.Digests {
			out[d.Partition] = d
		}
		p = set.Next(q + 1)
	}
	return out, nil
}

// unknownOp reports whether err is a node's unknown_op reply: a node older
// than the op.
func unknownOp(err error) bool {
	var re *producer.ReplyError
	return errors.As(err, &re) && re.Code == protocol.CodeUnknownOp
}

// verifySource compares the partitions src copied to each destination
// (dsts: destination -> partitions) by DIGESTs of src and of the
// destinations, all at once, each node reading only those partitions. It
// then compares key by key, and repairs, only the partitions whose digests
// differ, or every partition of a pair whose nodes do not know DIGEST.
// The source is digested after its copy, not from what the copy read: a
// key deleted meanwhile but copied still matches what was read.
func (r *rebalancer) verifySource(ctx context.Context, src string, dsts map[string][]int) error {
	setOf := func(parts []int) *sharding.PartitionSet {
		set := sharding.NewPartitionSet(r.partitions())
		for _, p := range parts {
			set.Add(p)
		}
		return set
	}
	var all []int
	for _, parts := range dsts {
		all = append(all, parts...)
	}
	var mu sync.Mutex
	var want map[int]protocol.Digest            // nil: src does not know DIGEST
	got := map[string]map[int]protocol.Digest{} // the same, by destination
	g, gctx := errgroup.WithContext(ctx)
	digest := func(node string, set *sharding.PartitionSet, into func(map[int]protocol.Digest)) {
		g.Go(func() error {
			d, err := r.digests(gctx, node, set)
			if unknownOp(err) {
				d, err = nil, nil
			}
			mu.Lock()
			into(d)
			mu.Unlock()
			return err
		})
	}
	digest(src, setOf(all), func(d map[int]protocol.Digest) { want = d })
	for dst, parts := range dsts {
		digest(dst, setOf(parts), func(d map[int]protocol.Digest) { got[dst] = d })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	g, gctx = errgroup.WithContext(ctx)
	for dst, parts := range dsts {
		differ := parts
		if want != nil && got[dst] != nil {
			differ = nil
			for _, p := range parts {
				if want[p] != got[dst][p] {
					differ = append(differ, p)
				}
			}
			if len(differ) == 0 {
				continue
			}
			r.log.Info("partitions differ after the copy; comparing their keys",
				"source", src, "destination", dst, "partitions", len(differ))
		}
		g.Go(func() error { return r.verifyKeys(gctx, src, dst, differ) })
	}
	return g.Wait()
}

// verifyKeys compares partitions parts on dst with src (both scanned at
// once, partition by partition) and repairs dst.
func (r *rebalancer) verifyKeys(ctx context.Context, src, dst string, parts []int) error {
	want, got := map[string]value{}, map[string]value{}
	g, gctx := errgroup.WithContext(ctx)
	for node, m := range map[string]map[string]value{src: want, dst: got} {
		g.Go(func() error {
			return r.scanParts(gctx, node, parts, func(_ int, es []protocol.Entry) error {
				for _, e := range es {
					m[e.Key] = r.valueOf(e)
				}
				return nil
			})
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	var diff []string
	for k, v := range got {
		if w, ok := want[k]; !ok || !same(v, w) {
			diff = append(diff, k) // extra on dst, or different
		}
	}
	for k := range want {
		if _, ok := got[k]; !ok {
			diff = append(diff, k) // missing on dst
		}
	}
	return r.reconcile(ctx, src, dst, diff)
}

// reconcile makes keys on dst equal to src (with versions: at least as
// new as src, converged). A difference is repaired only
// when it is stable: read twice, Config.Settle apart, with the same values.
// A concurrent write is sent to both nodes and may have reached one and not
// yet the other; copying the older side over it would lose it, while a
// stable difference is a stale copy (or a resurrected delete) to repair from
// the source. Repaired keys are checked again until a round finds them equal.
func (r *rebalancer) reconcile(ctx context.Context, src, dst string, keys []string) error {
	for round := 0; len(keys) > 0; round++ {
		if round >= DefaultRounds {
			return fmt.Errorf("%w: %d keys of %s still differ on %s", ErrNotConverged, len(keys), src, dst)
		}
		s1, d1, err := r.readBoth(ctx, src, dst, keys)
		if err != nil {
			return err
		}
		var differ []string
		var ds1, dd1 []value
		for i, k := range keys {
			if !r.converged(s1[i], d1[i]) {
				differ = append(differ, k)
				ds1, dd1 = append(ds1, s1[i]), append(dd1, d1[i])
			}
		}
		if len(differ) == 0 {
			return nil
		}
		if err := ctxtime.Sleep(ctx, r.cfg.Settle); err != nil {
			return err
		}
		s2, d2, err := r.readBoth(ctx, src, dst, differ)
		if err != nil {
			return err
		}
		var ops []protocol.Request
		var next []string
		for i, k := range differ {
			if r.converged(s2[i], d2[i]) {
				continue // a concurrent write reached both
			}
			next = append(next, k)
			if !same(s2[i], ds1[i]) || !same(d2[i], dd1[i]) {
				continue // still changing: look again next round
			}
			ops = append(ops, r.repairOf(k, s2[i]))
		}
		for chunk := range slices.Chunk(ops, r.cfg.BatchKeys) {
			if err := r.writeBatch(ctx, dst, chunk); err != nil {
				return err
			}
			r.fixed.Add(int64(len(chunk)))
		}
		keys = next
	}
	return nil
}

// value is a record read from a node: a value in codec, or with versions
// a tombstone (deleted), and its version. nil data and not deleted is a
// missing key.
type value struct {
	data    []byte
	codec   protocol.Codec
	version hlc.Version
	deleted bool
}

// valueOf is the record of entry e of a SCAN.
func (r *rebalancer) valueOf(e protocol.Entry) value {
	if e.Deleted {
		return value{version: e.Version, deleted: true}
	}
	v := value{data: e.Value, codec: r.codecOf(e), version: e.Version}
	if v.data == nil {
		v.data = []byte{}
	}
	return v
}

// missing reports whether v is no record at all.
func (v value) missing() bool { return v.data == nil && !v.deleted }

// same reports whether two reads agree.
func same(a, b value) bool {
	return (a.data == nil) == (b.data == nil) && a.codec == b.codec && bytes.Equal(a.data, b.data) &&
		a.version == b.version && a.deleted == b.deleted
}

// converged reports whether dst, read as d, needs nothing from src, read
// as s. Without versions: they are the same. With versions: d is at least
// as new as s (a newer version on d is a write src gets too), a tombstone
// on d stands for a key src does not hold, and a value without version
// (never ordered) must be the same on both.
func (r *rebalancer) converged(s, d value) bool {
	switch {
	case !r.versions:
		return same(s, d)
	case s.missing():
		return d.missing() || d.deleted
	case d.missing():
		return false
	case !s.version.IsZero() || !d.version.IsZero():
		return d.version.Compare(s.version) >= 0
	}
	return same(s, d)
}

// repairOf is the write that makes key, read as s on the source, converge
// on the destination: the source's record, with its version when it has
// one (the destination keeps a newer write), or a DELETE when the source
// has none. A record without version is written as before versions
// existed: a plain PUT, or a plain DELETE.
func (r *rebalancer) repairOf(key string, s value) protocol.Request {
	switch {
	case s.deleted:
		return protocol.Request{Op: protocol.OpDelete, Key: key, Version: s.version}
	case s.missing():
		return protocol.Request{Op: protocol.OpDelete, Key: key}
	}
	req := r.p.PutOf(key, s.data, s.codec, false)
	req.Version = s.version
	return req
}

// readBoth reads keys on src and on dst.
func (r *rebalancer) readBoth(ctx context.Context, src, dst string, keys []string) (sv, dv []value, err error) {
	if sv, err = r.getMany(ctx, src, keys); err != nil {
		return nil, nil, err
	}
	dv, err = r.getMany(ctx, dst, keys)
	return sv, dv, err
}

// getMany reads keys on node. Each key is read with a SCAN of its hash
// alone, since SCAN, unlike GET_ONE, has a raw form; a key another key's
// hash collides with is picked out of the page.
func (r *rebalancer) getMany(ctx context.Context, node string, keys []string) ([]value, error) {
	out := make([]value, 0, len(keys))
	for chunk := range slices.Chunk(keys, r.cfg.BatchKeys) {
		ops := make([]protocol.Request, len(chunk))
		for i, k := range chunk {
			h := sharding.KeyHash(k)
			// h+1 wraps to 0, no upper bound, for the last hash.
			ops[i] = protocol.Request{Op: protocol.OpScan, HashFrom: h, HashTo: h + 1, Raw: r.raw, Versions: r.versions}
		}
		rep, err := r.p.Call(ctx, node, protocol.Request{Op: protocol.OpBatch, Ops: ops})
		if err != nil {
			return nil, fmt.Errorf("reading %d keys on %s: %w", len(chunk), node, err)
		}
		if len(rep.Results) != len(chunk) {
			return nil, fmt.Errorf("reading on %s: %d results for %d reads", node, len(rep.Results), len(chunk))
		}
		for i, res := range rep.Results {
			if res.Status != protocol.StatusOK {
				return nil, fmt.Errorf("reading %q on %s: %v", chunk[i], node, res.Err)
			}
			var v value
			for _, e := range res.Collection {
				if e.Key == chunk[i] {
					v = r.valueOf(e)
				}
			}
			out = append(out, v)
		}
	}
	return out, nil
}

// cleanup deletes at every node that drops a partition the keys it holds
// there. A removed node is skipped: it is stopped next, and its store with it.
func (r *rebalancer) cleanup(ctx context.Context, plan sharding.Plan, kind layout.MigrationKind, node string) error {
	r.setPhase("deleting at the sources")
	byNode := map[string][]int{}
	for _, c := range plan.Changes {
		for _, d := range c.Dropped() {
			if kind == layout.MigrationRemove && d == node {
				continue
			}
			byNode[d] = append(byNode[d], c.Partition)
		}
	}
	live := map[string]bool{}
	for _, m := range r.p.Members() {
		live[m.Name] = true
	}
	g, gctx := errgroup.WithContext(ctx)
	for d, parts := range byNode {
		if !live[d] {
			r.log.Warn("not cleaning a node that is not passing", "node", d, "partitions", len(parts))
			continue
		}
		g.Go(func() error { return r.clean(gctx, d, parts) })
	}
	return g.Wait()
}

// clean deletes the keys of partitions parts on node: DELETE_PARTITIONS
// page by page, or, on a node that does not know it, a scan of the
// partitions and acknowledged bulk DELETEs.
func (r *rebalancer) clean(ctx context.Context, node string, parts []int) error {
	set := sharding.NewPartitionSet(r.partitions())
	for _, p := range parts {
		set.Add(p)
	}
	cursor := ""
	for {
		rep, err := r.p.Call(ctx, node, protocol.Request{Op: protocol.OpDeletePartitions, Cursor: cursor, Limit: setPage,
			Partitions: set.N, Bitmap: set.Bits})
		if unknownOp(err) {
			break
		}
		if err != nil {
			return fmt.Errorf("deleting %d partitions on %s: %w", len(parts), node, err)
		}
		r.deleted.Add(int64(rep.Count))
		if cursor = rep.Cursor; cursor == "" {
			return nil
		}
	}
	return r.stream(ctx, true, func(b *bulkStream) error {
		return r.scanParts(ctx, node, parts, func(_ int, es []protocol.Entry) error {
			for _, e := range es {
				if err := b.del(ctx, node, e.Key); err != nil {
					return err
				}
			}
			return nil
		})
	})
}

// bulkStream writes through a producer Bulk (the nodes' ingest endpoints,
// as fast as a bulk load) to named nodes, and waits for the acknowledgement
// (a SYNC barrier) every AckEvery operations: at most that many are
// unacknowledged at a time (flow control), and progress counts only
// acknowledged keys.
type bulkStream struct {
	r       *rebalancer
	b       *producer.Bulk
	deletes bool
	n       int
	keys    int64
	bytes   int64
}

// stream runs fn with a bulkStream and acknowledges what it wrote.
func (r *rebalancer) stream(ctx context.Context, deletes bool, fn func(*bulkStream) error) error {
	b, err := r.p.NewBulk()
	if err != nil {
		return err
	}
	defer b.Close()
	s := &bulkStream{r: r, b: b, deletes: deletes}
	if err := fn(s); err != nil {
		return err
	}
	return s.ack(ctx)
}

// copy queues the copy of e, a record read from a source, to node.
func (s *bulkStream) copy(ctx context.Context, node string, e protocol.Entry) error {
	if err := s.r.pace(ctx, 1); err != nil {
		return err
	}
	if err := s.b.SendTo(ctx, node, s.r.copyOf(e)); err != nil {
		return err
	}
	s.keys++
	s.bytes += int64(len(e.Key) + len(e.Value))
	return s.maybeAck(ctx)
}

func (s *bulkStream) del(ctx context.Context, node, key string) error {
	if err := s.b.DeleteTo(ctx, node, key); err != nil {
		return err
	}
	s.keys++
	return s.maybeAck(ctx)
}

func (s *bulkStream) maybeAck(ctx context.Context) error {
	if s.n++; s.n < s.r.ackEvery() {
		return nil
	}
	return s.ack(ctx)
}

// ack waits until every node written to applied everything so far.
func (s *bulkStream) ack(ctx context.Context) error {
	if err := s.b.Sync(ctx); err != nil {
		return err
	}
	if s.deletes {
		s.r.deleted.Add(s.keys)
	} else {
		s.r.keys.Add(s.keys)
		s.r.bytes.Add(s.bytes)
	}
	s.n, s.keys, s.bytes = 0, 0, 0
	return nil
}

// ackEvery is how many operations a stream writes between acknowledgements:
// Config.AckEvery, smaller when the copy is paced so progress stays live.
func (r *rebalancer) ackEvery() int {
	if r.cfg.MaxRate > 0 {
		return max(100, min(r.cfg.AckEvery, r.cfg.MaxRate/4))
	}
	return r.cfg.AckEvery
}
