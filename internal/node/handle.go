package node

import (
	"errors"
	"fmt"

	"github.com/zshard/zshard/internal/hlc"
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
	return n.settle(r, rep, err)
}

// executeOp runs operation i of the request-endpoint BATCH b (not a
// SYNC), a write at the version bs gives it.
func (n *Node) executeOp(c protocol.Codec, b *protocol.Request, i int, bs *batchStamps) protocol.Reply {
	r := &b.Ops[i]
	if !isVersioned(r.Op) {
		return n.execute(c, r)
	}
	n.stats.op(r.Op)
	rep := protocol.Reply{Op: r.Op, Status: protocol.StatusOK}
	st, err := bs.of(n, b, i)
	if err == nil {
		rep, err = n.write(c, r, st, rep)
	}
	return n.settle(r, rep, err)
}

// settle returns the reply to r: rep, or the error reply of err (counted),
// which keeps the version of a GET_ONE's tombstone in its not_found.
func (n *Node) settle(r *protocol.Request, rep protocol.Reply, err error) protocol.Reply {
	if err != nil {
		pe := protocol.AsError(err)
		n.stats.err(pe.Code)
		v := rep.Version
		if pe.Code != protocol.CodeNotFound {
			v = hlc.Version{}
		}
		rep = protocol.Reply{Status: protocol.StatusError, Err: pe, Version: v}
	}
	rep.ID = r.ID
	return rep
}

func (n *Node) run(c protocol.Codec, r *protocol.Request) (protocol.Reply, error) {
	ok := protocol.Reply{Op: r.Op, Status: protocol.StatusOK}
	if n.catchup.Load() != nil {
		switch r.Op {
		case protocol.OpGetOne, protocol.OpGetAll, protocol.OpScan, protocol.OpDigest:
			return ok, notReady(r.Op)
		}
	}
	switch r.Op {
	case protocol.OpPut, protocol.OpDelete:
		st, err := n.stampOf(r)
		if err != nil {
			return ok, err
		}
		return n.write(c, r, st, ok)
	case protocol.OpGetOne:
		return n.getOne(c, r, ok)
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
		ok.Collection, err = collection(page.Entries, c, false, false)
		return ok, err
	case protocol.OpScan:
		from, limit, err := pageStart(r)
		if err != nil {
			return ok, err
		}
		hr, set := sharding.HashRange{From: r.HashFrom, To: r.HashTo}, partitionSet(r)
		var page store.Page
		if r.Versions {
			page, err = n.store.ScanRecords(n.ctx, from, hr, set, limit)
		} else {
			page, err = n.store.ScanPartitions(n.ctx, from, hr, set, limit)
		}
		if err != nil {
			return ok, storeErr(err)
		}
		if !page.Done {
			ok.Cursor = page.Next.String()
		}
		ok.Collection, err = collection(page.Entries, c, r.Raw, r.Versions)
		return ok, err
	case protocol.OpDigest:
		return n.digest(c, r, ok)
	case protocol.OpDeletePartitions:
		return n.deletePartitions(r, ok)
	case protocol.OpPing:
		ok.Node, ok.Protocol, ok.Features = n.cfg.Name, protocol.Version, features
		return ok, nil
	case protocol.OpStats:
		st := n.Stats()
		ok.Stats = &st
		return ok, nil
	case protocol.OpBatch:
		ok.Results = make([]protocol.Reply, len(r.Ops))
		bs := n.newBatchStamps(r)
		for i := 0; i < len(r.Ops); i++ {
			if r.Ops[i].Op == protocol.OpSync {
				n.stats.op(protocol.OpSync)
				n.stats.err(protocol.CodeBadRequest)
				ok.Results[i] = protocol.ErrorReply(protocol.Errorf(protocol.CodeBadRequest,
					"SYNC inside BATCH is only accepted on the ingest endpoint"))
				continue
			}
			if j := n.putRunEnd(r.Ops, i); j > i+1 {
				n.requestPuts(c, r, i, j, &bs, ok.Results[i:j])
				i = j - 1
				continue
			}
			ok.Results[i] = n.executeOp(c, r, i, &bs)
		}
		return ok, nil
	}
	return ok, protocol.Errorf(protocol.CodeUnknownOp, "op %v is not served here", r.Op)
}

// features are the PING features of the node.
var features = []string{protocol.FeatureRaw, protocol.FeatureVersions}

// write applies the PUT or DELETE r at st and fills in its reply ok.
func (n *Node) write(c protocol.Codec, r *protocol.Request, st stamp, ok protocol.Reply) (protocol.Reply, error) {
	var err error
	if r.Op == protocol.OpPut {
		ok.Superseded, err = n.applyPut(c, r, st)
	} else {
		ok.Deleted, ok.Superseded, err = n.applyDelete(r.Key, st, true)
	}
	return ok, err
}

// getOne answers GET_ONE: the key's value; with "versions" also its
// version, and for a tombstone a not_found that carries the tombstone's.
func (n *Node) getOne(c protocol.Codec, r *protocol.Request, ok protocol.Reply) (protocol.Reply, error) {
	var v store.Value
	var found bool
	var err error
	if r.Versions {
		v, found, err = n.store.Lookup(n.ctx, r.Key)
	} else {
		v, found, err = n.store.Get(n.ctx, r.Key)
	}
	if err != nil {
		return ok, storeErr(err)
	}
	if !found || v.Tombstone {
		ok.Version = v.Version // zero when not found
		return ok, protocol.Errorf(protocol.CodeNotFound, "key %q not found", r.Key)
	}
	if ok.Value, err = protocol.ConvertValue(v.Data, protocol.Codec(v.Codec), c); err != nil {
		return ok, err
	}
	ok.Key = r.Key
	if r.Versions {
		ok.Version = v.Version
	}
	return ok, nil
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
// their codec: the common case costs no base64 in JSON. With versions
// every entry carries its version, and tombstones come as deleted entries.
func collection(entries []store.Entry, c protocol.Codec, raw, versions bool) ([]protocol.Entry, error) {
	out := make([]protocol.Entry, len(entries))
	for i, e := range entries {
		if versions {
			out[i].Version = e.Value.Version
			if e.Value.Tombstone {
				out[i].Key, out[i].Deleted = e.Key, true
				continue
			}
		}
		if raw && protocol.Codec(e.Value.Codec) != c {
			out[i].Key, out[i].Value, out[i].Codec = e.Key, e.Value.Data, protocol.Codec(e.Value.Codec)
			continue
		}
		v, err := protocol.ConvertValue(e.Value.Data, protocol.Codec(e.Value.Codec), c)
		if err != nil {
			pe := protocol.AsError(err)
			return nil, protocol.Errorf(pe.Code, "key %q: %s", e.Key, pe.Message)
		}
		out[i].Key, out[i].Value = e.Key, v
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
		n.stats.ingestOp(r.Op)
		in.flush()
		var st stamp
		var err error
		if isVersioned(r.Op) {
			st, err = n.stampOf(r)
		}
		if err := n.ingestOne(c, r, st, err); err != nil {
			return 1, err
		}
		return 0, nil
	}
	n.stats.ingestOp(protocol.OpBatch)
	var counts [16]uint64
	bs := n.newBatchStamps(r)
	fail := func(i int, err error) {
		if failed == 0 {
			first = fmt.Errorf("ops[%d]: %w", i, err)
		}
		failed++
	}
	for i := 0; i < len(r.Ops); i++ {
		op := &r.Ops[i]
		if op.Op == protocol.OpSync {
			continue
		}
		if j := n.putRunEnd(r.Ops, i); j > i {
			// A run of plain PUTs joins the next store commit.
			counts[protocol.OpPut&15] += uint64(j - i)
			for ; i < j; i++ {
				if err := in.add(c, r, i, &bs); err != nil {
					fail(i, err)
				}
			}
			i = j - 1
			continue
		}
		counts[op.Op&15]++
		in.flush()
		var st stamp
		var err error
		if isVersioned(op.Op) {
			st, err = bs.of(n, r, i)
		}
		if err := n.ingestOne(c, op, st, err); err != nil {
			fail(i, err)
		}
	}
	for op, k := range counts {
		if k > 0 {
			n.stats.ingestOps[op].Add(k)
		}
	}
	for i := range r.Ops {
		if r.Ops[i].Op == protocol.OpSync {
			n.stats.ingestOp(protocol.OpSync)
			in.flush()
			_ = n.ingestOne(c, &r.Ops[i], stamp{}, nil) // a SYNC marker cannot fail
		}
	}
	if in.bytes >= in.bulk {
		in.flush()
	}
	return failed, first
}

// batchable reports whether op is a PUT that may join an ApplyMany: not an
// if_absent one, whose write depends on what is stored.
func batchable(op *protocol.Request) bool { return op.Op == protocol.OpPut && !op.IfAbsent }

// putRunEnd returns the end of the run of batchable PUTs that starts at
// ops[i], or i when there is none or the store applies many writes no
// cheaper than one by one.
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

// requestPuts applies PUTs i to j-1 of the request BATCH b in one store
// commit and fills in their replies, as executeOp would one by one: OK
// (superseded where the key holds a newer version), the error of a version
// refused, or the store's error for all.
func (n *Node) requestPuts(c protocol.Codec, b *protocol.Request, i, j int, bs *batchStamps, replies []protocol.Reply) {
	n.stats.ops[protocol.OpPut&15].Add(uint64(j - i))
	entries := make([]store.Entry, 0, j-i)
	assigned := make([]bool, 0, j-i)
	at := make([]int, 0, j-i) // the reply of each entry
	for k := i; k < j; k++ {
		rep := &replies[k-i]
		*rep = protocol.Reply{Op: protocol.OpPut, Status: protocol.StatusOK, ID: b.Ops[k].ID}
		st, err := bs.of(n, b, k)
		if err != nil {
			*rep = n.settle(&b.Ops[k], *rep, err)
			continue
		}
		v := putValue(c, &b.Ops[k])
		v.Version = st.v
		entries = append(entries, store.Entry{Key: b.Ops[k].Key, Value: v})
		assigned = append(assigned, st.assigned)
		at = append(at, k-i)
	}
	applied := make([]bool, len(entries))
	err := n.applyMany(entries, applied, assigned)
	for e, k := range at {
		if err != nil {
			replies[k] = n.settle(&b.Ops[i+k], replies[k], err)
		} else {
			replies[k].Superseded = !applied[e]
		}
	}
}

// applyMany applies entries in one store commit and, when that fails,
// returns the error to answer (none of them is then applied); applied[i]
// reports whether entries[i] was. The writes the node versioned
// (assigned[i]) that lost to a newer record are applied again past it
// (applyAssigned).
func (n *Node) applyMany(entries []store.Entry, applied, assigned []bool) error {
	if err := n.store.ApplyMany(n.ctx, entries, applied); err != nil {
		return storeErr(err)
	}
	for i := range entries {
		if applied[i] || !assigned[i] {
			continue
		}
		ok, err := n.applyAssigned(entries[i].Key, entries[i].Value)
		if err != nil {
			return storeErr(err)
		}
		applied[i] = ok
	}
	return nil
}

// ingestOne applies one PUT or DELETE at st (or fails with stErr, the
// error of its version), or a SYNC marker. The caller counts the op;
// ingestOne counts its error.
func (n *Node) ingestOne(c protocol.Codec, r *protocol.Request, st stamp, stErr error) error {
	err := stErr
	switch {
	case err != nil:
	case r.Op == protocol.OpPut:
		_, err = n.applyPut(c, r, st)
	case r.Op == protocol.OpDelete:
		_, _, err = n.applyDelete(r.Key, st, false)
	case r.Op == protocol.OpSync:
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
