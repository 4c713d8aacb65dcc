package node

import (
	"errors"
	"fmt"

	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/internal/store"
	"github.com/zshard/zshard/sharding"
)

// execute runs one decoded request (not a SYNC on the request endpoint,
// which the request loop handles) and returns its reply. Requests in codec
// c store values tagged c and read values converted to c, except raw ones:
// a PUT with "raw_value" stores the value tagged with its "value_codec",
// and a SCAN or DIGEST with "raw" reads values as stored.
func (n *Node) execute(c protocol.Codec, r *protocol.Request) protocol.Reply {
	n.stats.op(r.Op)
	rep, err := n.run(c, r)
	if err != nil {
		pe := protocol.AsError(err)
		n.stats.err(pe.Code)
		rep = protocol.Reply{Status: protocol.StatusError, Err: pe}
	}
	rep.ID = r.ID
	return rep
}

func (n *Node) run(c protocol.Codec, r *protocol.Request) (protocol.Reply, error) {
	ok := protocol.Reply{Op: r.Op, Status: protocol.StatusOK}
	if cu := n.catchup.Load(); cu != nil {
		switch r.Op {
		case protocol.OpGetOne, protocol.OpGetAll, protocol.OpScan, protocol.OpDigest:
			return ok, notReady(r.Op)
		case protocol.OpPut, protocol.OpDelete:
			cu.touch(r.Key)
		}
	}
	switch r.Op {
	case protocol.OpPut:
		return ok, n.put(c, r)
	case protocol.OpGetOne:
		v, found, err := n.store.Get(n.ctx, r.Key)
		if err != nil {
			return ok, storeErr(err)
		}
		if !found {
			return ok, protocol.Errorf(protocol.CodeNotFound, "key %q not found", r.Key)
		}
		if ok.Value, err = protocol.ConvertValue(v.Data, protocol.Codec(v.Codec), c); err != nil {
			return ok, err
		}
		ok.Key = r.Key
		return ok, nil
	case protocol.OpDelete:
		existed, err := n.store.Delete(n.ctx, r.Key)
		ok.Deleted = existed
		return ok, storeErr(err)
	case protocol.OpGetAll:
		page, err := n.store.Scan(n.ctx, store.Cursor{}, sharding.HashRange{}, 0)
		if err != nil {
			return ok, storeErr(err)
		}
		size := 0
		for _, e := range page.Entries {
			size += len(e.Key) + len(e.Value.Data) + 24
		}
		if size > n.cfg.MaxReplyBytes {
			return ok, protocol.Errorf(protocol.CodeTooLarge,
				"GET_ALL of %d keys needs about %d bytes, over the reply limit of %d; page through the keys with SCAN",
				len(page.Entries), size, n.cfg.MaxReplyBytes)
		}
		ok.Collection, err = collection(page.Entries, c, false)
		return ok, err
	case protocol.OpScan:
		from, limit, err := pageStart(r)
		if err != nil {
			return ok, err
		}
		page, err := n.store.ScanPartitions(n.ctx, from, sharding.HashRange{From: r.HashFrom, To: r.HashTo}, partitionSet(r), limit)
		if err != nil {
			return ok, storeErr(err)
		}
		if !page.Done {
			ok.Cursor = page.Next.String()
		}
		ok.Collection, err = collection(page.Entries, c, r.Raw)
		return ok, err
	case protocol.OpDigest:
		return n.digest(c, r, ok)
	case protocol.OpDeletePartitions:
		return n.deletePartitions(r, ok)
	case protocol.OpPing:
		ok.Node, ok.Protocol, ok.Features = n.cfg.Name, protocol.Version, []string{protocol.FeatureRaw}
		return ok, nil
	case protocol.OpStats:
		st := n.Stats()
		ok.Stats = &st
		return ok, nil
	case protocol.OpBatch:
		ok.Results = make([]protocol.Reply, len(r.Ops))
		for i := 0; i < len(r.Ops); i++ {
			if r.Ops[i].Op == protocol.OpSync {
				n.stats.op(protocol.OpSync)
				n.stats.err(protocol.CodeBadRequest)
				ok.Results[i] = protocol.ErrorReply(protocol.Errorf(protocol.CodeBadRequest,
					"SYNC inside BATCH is only accepted on the ingest endpoint"))
				continue
			}
			if j := n.putRunEnd(r.Ops, i); j > i+1 {
				n.requestPuts(c, r.Ops[i:j], ok.Results[i:j])
				i = j - 1
				continue
			}
			ok.Results[i] = n.execute(c, &r.Ops[i])
		}
		return ok, nil
	}
	return ok, protocol.Errorf(protocol.CodeUnknownOp, "op %v is not served here", r.Op)
}

// put applies a PUT, or with "if_absent" a PUT of a key not present.
func (n *Node) put(c protocol.Codec, r *protocol.Request) error {
	v := putValue(c, r)
	if r.IfAbsent {
		_, err := n.store.PutIfAbsent(n.ctx, r.Key, v)
		return storeErr(err)
	}
	return storeErr(n.store.Put(n.ctx, r.Key, v))
}

// putValue is the value a PUT in codec c stores: its bytes, tagged with c
// or, when they came raw, with their own codec.
func putValue(c protocol.Codec, r *protocol.Request) store.Value {
	if r.ValueCodec != 0 {
		c = r.ValueCodec
	}
	return store.Value{Codec: uint8(c), Data: r.Value}
}

// collection returns entries as a reply carries them: converted to codec
// c, or with raw as stored. A value stored in c is its stored bytes either
// way, so with raw only the values of the other codec travel raw, with
// their codec: the common case costs no base64 in JSON.
func collection(entries []store.Entry, c protocol.Codec, raw bool) ([]protocol.Entry, error) {
	out := make([]protocol.Entry, len(entries))
	for i, e := range entries {
		if raw && protocol.Codec(e.Value.Codec) != c {
			out[i] = protocol.Entry{Key: e.Key, Value: e.Value.Data, Codec: protocol.Codec(e.Value.Codec)}
			continue
		}
		v, err := protocol.ConvertValue(e.Value.Data, protocol.Codec(e.Value.Codec), c)
		if err != nil {
			pe := protocol.AsError(err)
			return nil, protocol.Errorf(pe.Code, "key %q: %s", e.Key, pe.Message)
		}
		out[i] = protocol.Entry{Key: e.Key, Value: v}
	}
	return out, nil
}

func storeErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, store.ErrClosed) {
		return protocol.Errorf(protocol.CodeInternal, "node is shutting down")
	}
	return protocol.Errorf(protocol.CodeInternal, "store: %v", err)
}

// ingest applies one decoded message from the ingest endpoint; it returns
// how many operations failed (each already counted) and the first error.
// Runs of plain PUTs are gathered in in.puts instead, applied and reported
// by in.flush, which runs before any other op. SYNC markers in a BATCH are
// recorded once the whole batch is applied, which keeps the barrier promise
// (everything before them is applied).
//
// Applying a large BATCH on two goroutines (split by key hash) was tried
// and measured slower on 2 cores, so one goroutine applies everything.
func (n *Node) ingest(in *ingester, c protocol.Codec, r *protocol.Request) (failed int, first error) {
	if r.Op != protocol.OpBatch {
		n.stats.op(r.Op)
		in.flush()
		if err := n.ingestOne(c, r); err != nil {
			return 1, err
		}
		return 0, nil
	}
	n.stats.op(protocol.OpBatch)
	var counts [16]uint64
	for i := 0; i < len(r.Ops); i++ {
		op := &r.Ops[i]
		if op.Op == protocol.OpSync {
			continue
		}
		if j := n.putRunEnd(r.Ops, i); j > i {
			// A run of plain PUTs joins the next store commit.
			counts[protocol.OpPut&15] += uint64(j - i)
			in.add(c, r.Ops[i:j])
			i = j - 1
			continue
		}
		counts[op.Op&15]++
		in.flush()
		if err := n.ingestOne(c, op); err != nil {
			if failed == 0 {
				first = fmt.Errorf("ops[%d]: %w", i, err)
			}
			failed++
		}
	}
	for op, k := range counts {
		if k > 0 {
			n.stats.ops[op].Add(k)
		}
	}
	for i := range r.Ops {
		if r.Ops[i].Op == protocol.OpSync {
			n.stats.op(protocol.OpSync)
			in.flush()
			_ = n.ingestOne(c, &r.Ops[i]) // a SYNC marker cannot fail
		}
	}
	if in.bytes >= in.bulk {
		in.flush()
	}
	return failed, first
}

// batchable reports whether op is a PUT that may join a PutMany: not an
// if_absent one, whose write depends on what is stored.
func batchable(op *protocol.Request) bool { return op.Op == protocol.OpPut && !op.IfAbsent }

// putRunEnd returns the end of the run of batchable PUTs that starts at
// ops[i], or i when there is none or the store has no PutMany.
func (n *Node) putRunEnd(ops []protocol.Request, i int) int {
	if n.batcher == nil {
		return i
	}
	j := i
	for j < len(ops) && batchable(&ops[j]) {
		j++
	}
	return j
}

// requestPuts applies a run of PUTs of a request BATCH in one store commit
// and fills in their replies, as execute would one by one: all OK, or all
// the same error.
func (n *Node) requestPuts(c protocol.Codec, ops []protocol.Request, replies []protocol.Reply) {
	n.stats.ops[protocol.OpPut&15].Add(uint64(len(ops)))
	err := n.putMany(n.appendPuts(make([]store.Entry, 0, len(ops)), c, ops))
	for i := range ops {
		if err != nil {
			replies[i] = protocol.ErrorReply(protocol.AsError(err))
		} else {
			replies[i] = protocol.Reply{Op: protocol.OpPut, Status: protocol.StatusOK}
		}
		replies[i].ID = ops[i].ID
	}
}

// appendPuts appends the entries ops store to entries; a catching-up node
// records their keys as client writes first.
func (n *Node) appendPuts(entries []store.Entry, c protocol.Codec, ops []protocol.Request) []store.Entry {
	cu := n.catchup.Load()
	for i := range ops {
		if cu != nil {
			cu.touch(ops[i].Key)
		}
		entries = append(entries, store.Entry{Key: ops[i].Key, Value: putValue(c, &ops[i])})
	}
	return entries
}

// putMany applies entries in one store commit (n.batcher) and counts an
// error for each when it fails; then none of them is applied.
func (n *Node) putMany(entries []store.Entry) error {
	err := storeErr(n.batcher.PutMany(n.ctx, entries))
	if err != nil {
		code := protocol.AsError(err).Code
		for range entries {
			n.stats.err(code)
		}
	}
	return err
}

// ingestOne applies one PUT, DELETE or SYNC marker. The caller counts the
// op; ingestOne counts its error.
func (n *Node) ingestOne(c protocol.Codec, r *protocol.Request) error {
	var err error
	if cu := n.catchup.Load(); cu != nil && (r.Op == protocol.OpPut || r.Op == protocol.OpDelete) {
		cu.touch(r.Key)
	}
	switch r.Op {
	case protocol.OpPut:
		err = n.put(c, r)
	case protocol.OpDelete:
		_, err = n.store.Delete(n.ctx, r.Key)
		err = storeErr(err)
	case protocol.OpSync:
		// The barrier promises that what came before it is applied and,
		// unless the policy is SyncNone, durable.
		if err = n.syncStore(); err != nil {
			break
		}
		n.tokens.add(r.Token)
		n.wakeRequestLoop()
	default:
		err = protocol.Errorf(protocol.CodeBadRequest, "op %v is not accepted on the ingest endpoint (PUT, DELETE, BATCH and SYNC are)", r.Op)
	}
	if err != nil {
		n.stats.err(protocol.AsError(err).Code)
	}
	return err
}
