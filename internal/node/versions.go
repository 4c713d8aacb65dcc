package node

import (
	"errors"
	"time"

	"github.com/zshard/zshard/internal/hlc"
	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/internal/store"
)

// Every PUT and DELETE the node applies has a version (docs/PROTOCOL.md
// §3.12): the client's, which the node's clock observes, or, for a write
// without one (class clients, pyzmq, older producers), one the node issues
// from its own clock. A write is applied with store.Apply, so the highest
// version of a key wins whatever order the writes arrive in, and a DELETE
// leaves a tombstone.

// stamp is the version a write is applied at.
type stamp struct {
	v hlc.Version
	// assigned: the node issued v because the write carried none. Such a
	// write is applied whatever the key holds, as before versions existed
	// (see applyAssigned).
	assigned bool
}

// observe advances the node's clock past the client version v, or refuses
// v when it is too far ahead of the clock: the error is then the
// bad_request to answer.
func (n *Node) observe(v hlc.Version) error {
	err := n.clock.Observe(v)
	if err == nil {
		return nil
	}
	if errors.Is(err, hlc.ErrFuture) {
		ahead := time.Until(time.UnixMilli(v.Millis())).Round(time.Millisecond)
		return protocol.Errorf(protocol.CodeBadRequest,
			`"version" %v is %v ahead of this node's clock, beyond the bound of %v (max-clock-ahead): the writer's clock is wrong; the write is not applied`,
			v, ahead, n.cfg.MaxClockAhead)
	}
	return protocol.Errorf(protocol.CodeBadRequest, "version %v: %v", v, err)
}

// stampOf returns the version the single write r (not inside a BATCH) is
// applied at: its own, observed, or a new one of the node's clock.
func (n *Node) stampOf(r *protocol.Request) (stamp, error) {
	if !r.Version.IsZero() {
		return stamp{v: r.Version}, n.observe(r.Version)
	}
	return stamp{v: n.clock.Now(), assigned: true}, nil
}

// batchStamps gives the writes of one BATCH their versions: operation i
// gets r.OpVersion(i), and when the BATCH has no base but some write has
// no version, the node reserves len(r.Ops) consecutive versions once and
// uses them as the base, so a batch costs one clock operation, not one per
// write.
type batchStamps struct {
	base     hlc.Version
	assigned bool  // the node reserved base
	baseErr  error // the client's base is too far ahead
}

// newBatchStamps returns the stamps of the BATCH r.
func (n *Node) newBatchStamps(r *protocol.Request) batchStamps {
	if len(r.Ops) == 0 {
		return batchStamps{}
	}
	if !r.Version.IsZero() {
		// The highest version the base gives covers all the others.
		return batchStamps{base: r.Version, baseErr: n.observe(r.Version.Add(uint64(len(r.Ops) - 1)))}
	}
	for i := range r.Ops {
		if isVersioned(r.Ops[i].Op) && r.Ops[i].Version.IsZero() {
			return batchStamps{base: n.clock.Reserve(len(r.Ops)), assigned: true}
		}
	}
	return batchStamps{}
}

// of returns the version of operation i of the BATCH r, a PUT or DELETE.
func (b *batchStamps) of(n *Node, r *protocol.Request, i int) (stamp, error) {
	if v := r.Ops[i].Version; !v.IsZero() {
		return stamp{v: v}, n.observe(v)
	}
	if b.baseErr != nil {
		return stamp{}, b.baseErr
	}
	return stamp{v: b.base.Add(uint64(i)), assigned: b.assigned}, nil
}

// isVersioned reports whether op is a write that carries a version.
func isVersioned(op protocol.Op) bool { return op == protocol.OpPut || op == protocol.OpDelete }

// applyPut applies the PUT r at st; superseded reports that the key holds
// a newer version and r was not applied. With if_absent the value is
// stored only when the key has no record (a tombstone is one), and such a
// PUT is never superseded.
func (n *Node) applyPut(c protocol.Codec, r *protocol.Request, st stamp) (superseded bool, err error) {
	v := putValue(c, r)
	v.Version = st.v
	if r.IfAbsent {
		_, err := n.store.PutIfAbsent(n.ctx, r.Key, v)
		return false, storeErr(err)
	}
	applied, err := n.store.Apply(n.ctx, r.Key, v)
	if err != nil {
		return false, storeErr(err)
	}
	if !applied && st.assigned {
		applied, err = n.applyAssigned(r.Key, v)
	}
	return !applied, storeErr(err)
}

// applyDelete applies a DELETE of key at st: a tombstone of its version.
// With report, deleted tells whether a value was there and the tombstone
// replaced it (the reply's "deleted"); without, the record is not read
// first (the ingest endpoint has no reply).
func (n *Node) applyDelete(key string, st stamp, report bool) (deleted, superseded bool, err error) {
	var old store.Value
	found := false
	if report {
		if old, found, err = n.store.Lookup(n.ctx, key); err != nil {
			return false, false, storeErr(err)
		}
	}
	tomb := store.Value{Tombstone: true, Version: st.v}
	applied, err := n.store.Apply(n.ctx, key, tomb)
	if err != nil {
		return false, false, storeErr(err)
	}
	if !applied && st.assigned {
		if applied, err = n.applyAssigned(key, tomb); err != nil {
			return false, false, storeErr(err)
		}
	}
	return applied && found && !old.Tombstone, !applied, nil
}

// applyAssigned applies v, a write the node versioned that lost to the
// record key holds: a version from ahead of the node's clock (one copied
// from a replica, or written before the node restarted with its clock
// behind). The clock observes the stored version and v is applied again
// with a newer one, so that a write without version wins as it did before
// versions existed. It loses only to a newer write that lands meanwhile.
func (n *Node) applyAssigned(key string, v store.Value) (bool, error) {
	old, found, err := n.store.Lookup(n.ctx, key)
	if err != nil {
		return false, err
	}
	if found {
		_ = n.clock.Observe(old.Version) // refused beyond the bound: see below
	}
	v.Version = n.clock.Now()
	if found && !v.Version.Newer(old.Version) {
		v.Version = hlc.Version{Time: old.Version.Time + 1, Writer: n.clock.Writer()}
	}
	return n.store.Apply(n.ctx, key, v)
}
