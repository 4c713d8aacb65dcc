// Package node runs one zshard storage node: a ZeroMQ ROUTER request
// endpoint and a PULL ingest endpoint in front of a store.Store, speaking
// wire protocol v1 (package protocol, docs/PROTOCOL.md).
//
// Every write the node applies has a version (docs/PROTOCOL.md §3.12): the
// client's, which the node's hybrid logical clock observes (refusing one
// further ahead than Config.MaxClockAhead), or one the clock issues for a
// write without (versions.go). Writes go through store.Apply, so the
// highest version of a key wins whatever order writes arrive in, and a
// DELETE leaves a tombstone, purged after Config.TombstoneTTL
// (tombstones.go). A node restarting with replicas catches up through
// CatchUp, which applies its replicas' records the same way (catchup.go).
//
// Threading: each ZeroMQ socket is owned by exactly one goroutine. The
// request loop owns the ROUTER socket and the receiving end of an inproc
// wake-up pipe; the ingest loop owns the PULL socket and the sending end of
// that pipe, which it uses to tell the request loop that a SYNC token has
// been applied. With Config.Curve, a curve loop owns the ZAP handler's
// socket and the monitors of both endpoints (curve.go). The purge loop, and on a durable store the loop recording
// that the node is up, own no socket. The store and the clock are shared
// and safe for concurrent use.
package node
