// Package node runs one zshard storage node: a ZeroMQ ROUTER request
// endpoint and a PULL ingest endpoint in front of a store.Store, speaking
// wire protocol v1 (package protocol, docs/PROTOCOL.md).
//
// Threading: each ZeroMQ socket is owned by exactly one goroutine. The
// request loop owns the ROUTER socket and the receiving end of an inproc
// wake-up pipe; the ingest loop owns the PULL socket and the sending end of
// that pipe, which it uses to tell the request loop that a SYNC token has
// been applied. The store is shared and safe for concurrent use.
package node
