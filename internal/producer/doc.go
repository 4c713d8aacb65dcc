// Package producer is zshard's routing client: it follows the cluster's
// membership and settings in Consul, places every key with the cluster's
// algorithm (package sharding) and sends each operation to the nodes that
// own it, speaking wire protocol v1 (package protocol, docs/PROTOCOL.md).
//
// # Placement
//
// New reads the cluster settings at zshard/cluster (initialising them from
// Config.Settings with a check-and-set if no producer did yet) and the passing
// members, builds an immutable sharding.Table over the member names and keeps
// it in an atomic.Pointer. Two blocking-query watches (membership and
// settings) rebuild and swap that snapshot when either changes, so a node
// registered by hand is routed to without restarting the producer. Every
// operation loads the snapshot once and uses it throughout.
//
// Config.Static replaces Consul by a fixed list of members (StaticMembers
// lays out the nodes of `server_consumer --static N`): the producer places
// keys over them with Config.Settings and follows nothing.
//
// # Data paths
//
//   - Put, Get, Delete: one request per replica on the node's request endpoint
//     (a DEALER socket, one request in flight per socket). Every request carries
//     an "id" and replies with another id are dropped, so a late reply can never
//     be taken for the answer to a later request.
//   - Do: the pipelined path. The calling goroutine sends up to Config.Window
//     requests per node before it waits for replies.
//   - Bulk: fire-and-forget BATCH messages on each node's ingest endpoint (PUSH),
//     then Bulk.Sync pushes a SYNC marker to every node it wrote to and waits
//     for the matching SYNC reply on the request endpoint: once Sync returns nil,
//     every operation added before it has been applied on every replica.
//   - Scan and GetAll: paged SCAN of every member, deduplicated by key.
//
// # Replication
//
// With R replicas (cluster setting) the preference list of a key holds R+1
// distinct nodes (fewer when the cluster is smaller), drawn from the
// cluster's recorded members (layout.Settings.Members), never from the
// nodes passing right now: a node that is down is skipped, not replaced.
// Put and Delete go to the key's nodes that pass and succeed when
// Config.WriteConsistency of its R+1 nodes acknowledge (default Quorum, a
// majority); when fewer pass, they fail at once with ErrUnavailable naming
// the nodes that are down. Get asks the key's first node and falls back
// along its list when a node does not answer, fails, or does not hold the
// key; it reports ErrNotFound only when a node that answered lacks the key,
// and ErrUnavailable when none of the key's nodes is up. Nodes that failed
// recently are asked last. R = 0 is the class behaviour: one copy, one request.
//
// # Failures
//
// Every send has a timeout (Config.SendTimeout) and every wait for a reply has
// a deadline (Config.RequestTimeout, or the context's if sooner). Sockets are
// created with ZMQ_IMMEDIATE, so nothing is queued for a peer with no live
// connection: the send times out instead. After a timeout the socket is closed
// and a fresh one used (reconnect). Reads (GET_ONE, SCAN, STATS, SYNC of a
// token) change nothing and are retried Config.Retries times before the node
// counts as down. A PUT or DELETE is retried only when it was never sent; once
// sent, a lost reply may hide an applied write, and sending it again could
// overwrite a later write of another client, so it counts as a failed
// acknowledgement of that replica (the caller may write again).
//
// # Threading
//
// A Producer is safe for concurrent use. libzmq sockets are not: each socket
// is used by one goroutine at a time. Request sockets live in a per-node pool;
// a call takes one out, uses it alone and puts it back (the pool's mutex is the
// full memory barrier libzmq asks for when a socket changes threads). A Bulk
// owns its PUSH sockets until it is closed and is not safe for concurrent use;
// give each loading goroutine its own Bulk. Close waits for calls in progress,
// closes every socket with LINGER 0 and terminates the ZeroMQ context last.
package producer
