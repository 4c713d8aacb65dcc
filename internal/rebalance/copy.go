package rebalance

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/zshard/zshard/consul"
	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/internal/store"
	"github.com/zshard/zshard/sharding"
)

// group runs functions concurrently and keeps the first error; the context
// it returns is cancelled when one fails.
type group struct {
	wg     sync.WaitGroup
	mu     sync.Mutex
	err    error
	cancel context.CancelFunc
}

func newGroup(ctx context.Context) (*group, context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	return &group{cancel: cancel}, ctx
}

func (g *group) Go(f func() error) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		if err := f(); err != nil {
			g.mu.Lock()
			if g.err == nil {
				g.err = err
				g.cancel()
			}
			g.mu.Unlock()
		}
	}()
}

func (g *group) Wait() error {
	g.wg.Wait()
	g.cancel()
	return g.err
}

// scanLimit is the page of one partition SCAN inside a BATCH.
const scanLimit = 1000

// scanParts streams the keys of partitions parts on node: fn is called once
// per partition page. It sends one BATCH of ScanBatch partition SCANs per
// round trip and follows the cursor of a partition bigger than a page.
func (r *rebalancer) scanParts(ctx context.Context, node string, parts []int, fn func(part int, es []protocol.Entry) error) error {
	P := r.p.Settings().Partitions
	if P == 0 {
		P = sharding.DefaultPartitions
	}
	scan := func(part int, cursor string) protocol.Request {
		hr := store.PartitionRange(part, P)
		return protocol.Request{Op: protocol.OpScan, Cursor: cursor, Limit: scanLimit, HashFrom: hr.From, HashTo: hr.To}
	}
	for chunk := range slices.Chunk(parts, r.cfg.ScanBatch) {
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

// sender writes BATCHes of PUT/DELETE to one node with up to Window of them
// in flight: the acknowledgement of each is awaited, and a full queue blocks
// the reader (flow control).
type sender struct {
	r    *rebalancer
	node string
	q    chan []protocol.Request
	g    *group
	// onAck is called with every acknowledged batch.
	onAck func(ops []protocol.Request)
	// unpaced sends ignore Config.MaxRate.
	unpaced bool
}

func (r *rebalancer) newSender(ctx context.Context, g *group, node string, unpaced bool, onAck func([]protocol.Request)) *sender {
	s := &sender{r: r, node: node, q: make(chan []protocol.Request, r.cfg.Window), g: g, onAck: onAck, unpaced: unpaced}
	for range r.cfg.Window {
		g.Go(func() error {
			for ops := range s.q {
				if !s.unpaced {
					if err := r.pace(ctx, len(ops)); err != nil {
						return err
					}
				}
				if err := r.writeBatch(ctx, node, ops); err != nil {
					return err
				}
				if s.onAck != nil {
					s.onAck(ops)
				}
			}
			return nil
		})
	}
	return s
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
		return sleep(ctx, d)
	}
	return nil
}

func (s *sender) send(ctx context.Context, ops []protocol.Request) error {
	select {
	case s.q <- ops:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// copyAndVerify copies every transfer of plan from its source to its
// destination, then verifies each destination against its source and
// repairs the differences until a pass finds none.
func (r *rebalancer) copyAndVerify(ctx context.Context, plan sharding.Plan, from *sharding.Table, rep *Report) error {
	transfers := plan.Transfers()
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
	r.setPhase("copying")
	t0 := time.Now()
	r.copyStart = t0
	g, gctx := newGroup(ctx)
	senders := map[string]*sender{}
	for _, t := range transfers {
		if senders[t.To] == nil {
			senders[t.To] = r.newSender(gctx, g, t.To, false, func(ops []protocol.Request) {
				var b int64
				for _, o := range ops {
					b += int64(len(o.Key) + len(o.Value))
				}
				r.keys.Add(int64(len(ops)))
				r.bytes.Add(b)
			})
		}
	}
	var optimum sync.Mutex
	var readers sync.WaitGroup
	for src, parts := range bySource {
		readers.Add(1)
		g.Go(func() error {
			defer readers.Done()
			list := make([]int, 0, len(parts))
			for p := range parts {
				list = append(list, p)
			}
			slices.Sort(list)
			pending := map[string][]protocol.Request{}
			var n int64
			err := r.scanParts(gctx, src, list, func(part int, es []protocol.Entry) error {
				for _, dst := range parts[part] {
					for _, e := range es {
						n++
						pending[dst] = append(pending[dst], protocol.Request{Op: protocol.OpPut, Key: e.Key, Value: e.Value})
						if len(pending[dst]) >= r.cfg.BatchKeys {
							if err := senders[dst].send(gctx, pending[dst]); err != nil {
								return err
							}
							pending[dst] = nil
						}
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
			for dst, ops := range pending {
				if len(ops) > 0 {
					if err := senders[dst].send(gctx, ops); err != nil {
						return err
					}
				}
			}
			optimum.Lock()
			rep.Optimum += n
			optimum.Unlock()
			return nil
		})
	}
	go func() {
		readers.Wait()
		for _, s := range senders {
			close(s.q)
		}
	}()
	if err := g.Wait(); err != nil {
		return err
	}
	rep.Keys, rep.Bytes = r.keys.Load(), r.bytes.Load()
	rep.Copy = time.Since(t0)

	r.setPhase("verifying")
	t1 := time.Now()
	g, gctx = newGroup(ctx)
	for pair, parts := range byPair {
		g.Go(func() error { return r.verify(gctx, pair[0], pair[1], parts) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	rep.Fixed = r.fixed.Load()
	rep.Verify = time.Since(t1)
	return nil
}

// verify compares partitions parts on dst with src and repairs dst.
func (r *rebalancer) verify(ctx context.Context, src, dst string, parts []int) error {
	want := map[string][]byte{}
	if err := r.scanParts(ctx, src, parts, func(_ int, es []protocol.Entry) error {
		for _, e := range es {
			want[e.Key] = e.Value
		}
		return nil
	}); err != nil {
		return err
	}
	var diff []string
	if err := r.scanParts(ctx, dst, parts, func(_ int, es []protocol.Entry) error {
		for _, e := range es {
			v, ok := want[e.Key]
			if !ok || !bytes.Equal(v, e.Value) {
				diff = append(diff, e.Key) // extra on dst, or different
			}
			if ok {
				want[e.Key] = nil // seen
			}
		}
		return nil
	}); err != nil {
		return err
	}
	for k, v := range want {
		if v != nil {
			diff = append(diff, k) // missing on dst
		}
	}
	return r.reconcile(ctx, src, dst, diff)
}

// reconcile makes keys on dst equal to src, re-reading both until a round
// finds them equal (a concurrent write may land between the reads and the
// repair; the next round sees it).
func (r *rebalancer) reconcile(ctx context.Context, src, dst string, keys []string) error {
	for round := 0; len(keys) > 0; round++ {
		if round >= DefaultRounds {
			return fmt.Errorf("%w: %d keys of %s still differ on %s", ErrNotConverged, len(keys), src, dst)
		}
		if round > 0 {
			if err := sleep(ctx, 20*time.Millisecond); err != nil {
				return err
			}
		}
		sv, err := r.getMany(ctx, src, keys)
		if err != nil {
			return err
		}
		dv, err := r.getMany(ctx, dst, keys)
		if err != nil {
			return err
		}
		var ops []protocol.Request
		var next []string
		for i, k := range keys {
			s, d := sv[i], dv[i]
			if (s == nil) == (d == nil) && bytes.Equal(s, d) {
				continue
			}
			if s != nil {
				ops = append(ops, protocol.Request{Op: protocol.OpPut, Key: k, Value: s})
			} else {
				ops = append(ops, protocol.Request{Op: protocol.OpDelete, Key: k})
			}
			next = append(next, k)
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

// getMany reads keys on node; a nil value is a missing key.
func (r *rebalancer) getMany(ctx context.Context, node string, keys []string) ([][]byte, error) {
	out := make([][]byte, 0, len(keys))
	for chunk := range slices.Chunk(keys, r.cfg.BatchKeys) {
		ops := make([]protocol.Request, len(chunk))
		for i, k := range chunk {
			ops[i] = protocol.Request{Op: protocol.OpGetOne, Key: k}
		}
		rep, err := r.p.Call(ctx, node, protocol.Request{Op: protocol.OpBatch, Ops: ops})
		if err != nil {
			return nil, fmt.Errorf("reading %d keys on %s: %w", len(chunk), node, err)
		}
		if len(rep.Results) != len(chunk) {
			return nil, fmt.Errorf("reading on %s: %d results for %d reads", node, len(rep.Results), len(chunk))
		}
		for i, res := range rep.Results {
			switch {
			case res.Status == protocol.StatusOK:
				v := res.Value
				if v == nil {
					v = []byte{}
				}
				out = append(out, v)
			case res.Err != nil && res.Err.Code == protocol.CodeNotFound:
				out = append(out, nil)
			default:
				return nil, fmt.Errorf("reading %q on %s: %v", chunk[i], node, res.Err)
			}
		}
	}
	return out, nil
}

// cleanup deletes at every node that drops a partition the keys it holds
// there. A removed node is skipped: it is stopped next, and its store with it.
func (r *rebalancer) cleanup(ctx context.Context, plan sharding.Plan, kind consul.MigrationKind, node string) error {
	r.setPhase("deleting at the sources")
	byNode := map[string][]int{}
	for _, c := range plan.Changes {
		for _, d := range c.Dropped() {
			if kind == consul.MigrationRemove && d == node {
				continue
			}
			byNode[d] = append(byNode[d], c.Partition)
		}
	}
	live := map[string]bool{}
	for _, m := range r.p.Members() {
		live[m.Name] = true
	}
	g, gctx := newGroup(ctx)
	for d, parts := range byNode {
		if !live[d] {
			r.log.Warn("not cleaning a node that is not passing", "node", d, "partitions", len(parts))
			continue
		}
		// Deletes go through a sender too: acknowledged, Window in flight,
		// overlapping the next scans. They are not paced by MaxRate.
		snd := r.newSender(gctx, g, d, true, func(ops []protocol.Request) { r.deleted.Add(int64(len(ops))) })
		g.Go(func() error {
			defer close(snd.q)
			var ops []protocol.Request
			if err := r.scanParts(gctx, d, parts, func(_ int, es []protocol.Entry) error {
				for _, e := range es {
					ops = append(ops, protocol.Request{Op: protocol.OpDelete, Key: e.Key})
					if len(ops) >= r.cfg.BatchKeys {
						if err := snd.send(gctx, ops); err != nil {
							return err
						}
						ops = nil
					}
				}
				return nil
			}); err != nil {
				return err
			}
			if len(ops) > 0 {
				return snd.send(gctx, ops)
			}
			return nil
		})
	}
	return g.Wait()
}
