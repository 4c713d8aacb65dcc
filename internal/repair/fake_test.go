package repair

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/zshard/zshard/internal/hlc"
	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/sharding"
)

// fakeRec is one record of a fake node: a value with its codec, or a
// tombstone, with its version.
type fakeRec struct {
	value   []byte
	codec   protocol.Codec
	version hlc.Version
	deleted bool
}

func (r fakeRec) equal(o fakeRec) bool {
	return r.version == o.version && r.deleted == o.deleted && r.codec == o.codec && bytes.Equal(r.value, o.value)
}

// fakeNode is an in-memory node that applies writes by last writer wins
// as docs/PROTOCOL.md §3.12 says.
type fakeNode struct {
	recs       map[string]fakeRec
	down       bool // every call fails, as a node that does not answer
	noVersions bool // PING lists raw only
	// fail, if not nil, makes a call fail when it returns true.
	fail func(req *protocol.Request) bool
	// before, if not nil, runs before a BATCH is applied (a concurrent
	// write), with the cluster locked.
	before func(n *fakeNode)
}

// fakeCluster is a Caller over fake nodes. Every request and reply goes
// through the wire encoding in codec, so what the repair sends is what a
// node would decode, and what it reads is what a node would write.
type fakeCluster struct {
	mu    sync.Mutex
	codec protocol.Codec
	nodes map[string]*fakeNode
	ops   map[string]map[protocol.Op]int // node -> op -> calls (BATCH items counted by op too)
}

func newFakeCluster(codec protocol.Codec, names ...string) *fakeCluster {
	fc := &fakeCluster{codec: codec, nodes: map[string]*fakeNode{}, ops: map[string]map[protocol.Op]int{}}
	for _, n := range names {
		fc.nodes[n] = &fakeNode{recs: map[string]fakeRec{}}
		fc.ops[n] = map[protocol.Op]int{}
	}
	return fc
}

func (fc *fakeCluster) Codec() protocol.Codec { return fc.codec }

var errFakeDown = errors.New("fake: no reply")

func (fc *fakeCluster) Call(ctx context.Context, node string, req protocol.Request) (protocol.Reply, error) {
	if err := ctx.Err(); err != nil {
		return protocol.Reply{}, err
	}
	msg, err := protocol.AppendRequest(nil, fc.codec, &req)
	if err != nil {
		return protocol.Reply{}, err
	}
	dec, _, err := protocol.DecodeRequest(msg, protocol.Limits{})
	if err != nil {
		return protocol.Reply{}, fmt.Errorf("fake: the node would refuse %s: %w", msg, err)
	}
	fc.mu.Lock()
	n := fc.nodes[node]
	if n == nil || n.down || (n.fail != nil && n.fail(&dec)) {
		fc.mu.Unlock()
		return protocol.Reply{}, fmt.Errorf("%s: %w", node, errFakeDown)
	}
	fc.ops[node][dec.Op]++
	rep := fc.handle(n, node, &dec)
	fc.mu.Unlock()
	out, err := protocol.AppendReply(nil, fc.codec, &rep)
	if err != nil {
		return protocol.Reply{}, err
	}
	got, _, err := protocol.DecodeReply(out)
	if err != nil {
		return protocol.Reply{}, err
	}
	if got.Status != protocol.StatusOK {
		return got, fmt.Errorf("fake: %s", got.Err)
	}
	return got, nil
}

func errReply(code protocol.Code, format string, args ...any) protocol.Reply {
	return protocol.Reply{Status: protocol.StatusError, Err: &protocol.Error{Code: code, Message: fmt.Sprintf(format, args...)}}
}

// handle runs one decoded request on n; the cluster is locked.
func (fc *fakeCluster) handle(n *fakeNode, name string, r *protocol.Request) protocol.Reply {
	ok := protocol.Reply{Op: r.Op, Status: protocol.StatusOK}
	switch r.Op {
	case protocol.OpPing:
		ok.Node, ok.Protocol, ok.Features = name, protocol.Version, []string{protocol.FeatureRaw, protocol.FeatureVersions}
		if n.noVersions {
			ok.Features = []string{protocol.FeatureRaw}
		}
	case protocol.OpDigest:
		if !r.Versions {
			return errReply(protocol.CodeBadRequest, "the fake digests with versions only")
		}
		set := &sharding.PartitionSet{N: r.Partitions, Bits: r.Bitmap}
		byPart := map[int]*protocol.Digest{}
		for _, k := range n.keys(r.HashFrom, r.HashTo, set) {
			rec := n.recs[k]
			p := set.Of(sharding.KeyHash(k))
			d := byPart[p]
			if d == nil {
				d = &protocol.Digest{Partition: p}
				byPart[p] = d
			}
			d.Keys++
			d.Sum += protocol.VersionEntryHash(k, rec.version, rec.deleted)
		}
		ok.Digests = []protocol.Digest{}
		for _, p := range slicesSortedKeys(byPart) {
			ok.Digests = append(ok.Digests, *byPart[p])
		}
	case protocol.OpScan:
		if !r.Versions || !r.Raw {
			return errReply(protocol.CodeBadRequest, "the fake scans with versions and raw only")
		}
		var set *sharding.PartitionSet
		if r.Partitions > 0 {
			set = &sharding.PartitionSet{N: r.Partitions, Bits: r.Bitmap}
		}
		limit := cmp.Or(r.Limit, protocol.DefaultScanLimit)
		ok.Collection = []protocol.Entry{}
		for _, k := range n.keys(r.HashFrom, r.HashTo, set) {
			if r.Cursor != "" && cursorOf(k) <= r.Cursor {
				continue
			}
			if len(ok.Collection) == limit {
				ok.Cursor = cursorOf(ok.Collection[limit-1].Key)
				break
			}
			rec := n.recs[k]
			e := protocol.Entry{Key: k, Version: rec.version, Deleted: rec.deleted}
			if !rec.deleted {
				e.Value = rec.value
				if rec.codec != fc.codec {
					e.Codec = rec.codec
				}
			}
			ok.Collection = append(ok.Collection, e)
		}
	case protocol.OpBatch:
		if n.before != nil {
			n.before(n)
		}
		for i := range r.Ops {
			op := &r.Ops[i]
			fc.ops[name][op.Op]++
			res := n.write(op, r.OpVersion(i), fc.codec)
			res.Op = op.Op
			ok.Results = append(ok.Results, res)
		}
	case protocol.OpPut, protocol.OpDelete:
		return n.write(r, r.Version, fc.codec)
	default:
		return errReply(protocol.CodeUnknownOp, "the fake does not do %v", r.Op)
	}
	return ok
}

// write applies a PUT or DELETE at version v.
func (n *fakeNode) write(r *protocol.Request, v hlc.Version, codec protocol.Codec) protocol.Reply {
	ok := protocol.Reply{Op: r.Op, Status: protocol.StatusOK}
	cur, has := n.recs[r.Key]
	switch r.Op {
	case protocol.OpPut:
		if r.IfAbsent && has {
			return ok
		}
		if has && !v.IsZero() && cur.version.Newer(v) {
			ok.Superseded = true
			return ok
		}
		c := codec
		if r.ValueCodec != 0 {
			c = r.ValueCodec
		}
		n.recs[r.Key] = fakeRec{value: bytes.Clone(r.Value), codec: c, version: v}
	case protocol.OpDelete:
		if has && !v.IsZero() && cur.version.Newer(v) {
			ok.Superseded = true
			return ok
		}
		ok.Deleted = has && !cur.deleted
		if v.IsZero() {
			delete(n.recs, r.Key)
		} else {
			n.recs[r.Key] = fakeRec{version: v, deleted: true}
		}
	default:
		return errReply(protocol.CodeBadRequest, "the fake writes PUT and DELETE only, not %v", r.Op)
	}
	return ok
}

// keys returns n's keys with from <= hash < to (to 0: no bound) in set
// (nil: every partition), in scan order.
func (n *fakeNode) keys(from, to uint64, set *sharding.PartitionSet) []string {
	var out []string
	for k := range n.recs {
		if h := sharding.KeyHash(k); (sharding.HashRange{From: from, To: to}).Contains(h) && set.Contains(h) {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, func(a, b string) int { return cmp.Compare(cursorOf(a), cursorOf(b)) })
	return out
}

// cursorOf is the position of key in scan order, as a string that sorts
// so (the nodes' cursor format).
func cursorOf(key string) string { return fmt.Sprintf("%016x%s", sharding.KeyHash(key), key) }

func slicesSortedKeys[V any](m map[int]V) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
