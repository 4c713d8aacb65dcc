// Package noderun runs one zshard node as a member of a cluster: the
// sequence `server_consumer node` runs, in the node processes a supervisor
// launches, and in the nodes of a benchmark.
//
// Start goes through the steps in order:
//
//  1. open the store: with a data directory and no store given, the
//     durable store in that directory;
//  2. in a cluster whose settings are stored, before it binds: a durable
//     node with replicas that was away longer than the tombstone TTL drops
//     all its data (node.DropIfAway), and a durable node drops the
//     partitions the layout no longer gives it (layoutcheck.go);
//  3. serve: bind the request and ingest endpoints;
//  4. register in Consul, with a TTL check kept passing only while the
//     node's own request endpoint answers a PING (the heartbeat);
//  5. catch-up (catchup.go): with replicas (R > 0), every node, durable or
//     in memory, copies the records of its partitions from its ready
//     replicas, applied by version, while registered as not ready for
//     reads, then registers as ready.
//
// Stop (or, for Run, the end of its context) deregisters the node first,
// so clients stop routing to it, then closes the node and the store it
// opened.
//
// Threading: Start and Stop are called from one goroutine; a Server runs
// its heartbeat and its catch-up on goroutines of its own, which Stop ends
// and waits for.
package noderun
