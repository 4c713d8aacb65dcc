// Package reqclient is the one-request-at-a-time ZeroMQ client of a zshard
// node: a REQ socket that sends a request, waits for its reply within a
// timeout, and is replaced after any failure, because a REQ socket that
// lost its reply cannot send again.
//
// The node runtime uses it for the health check (PING to the node's own
// request endpoint) and for the catch-up of a restarted node (paged raw
// SCANs of its replicas). Clients that keep many requests in flight use a
// DEALER socket of their own instead (the producer's pipeline).
//
// Threading: a Client is used from one goroutine at a time; it owns its
// socket.
package reqclient
