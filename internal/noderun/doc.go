// Package noderun runs one zshard node as a member of a cluster: the
// sequence `server_consumer node` runs, in the node processes a supervisor
// launches, and in the nodes of a benchmark.
//
// Start goes through the steps in order:
//
//  1. open the store: with a data directory and no store given, the
//     durable store in that directory;
//  2. layout check (layoutcheck.go): a durable node in a cluster whose
//     settings are stored drops the partitions the layout no longer gives
//     it, before it binds;
//  3. serve: bind the request and ingest endpoints;
//  4. register in Consul, with a TTL check kept passing only while the
//     node's own request endpoint answers a PING (the heartbeat);
//  5. catch-up (catchup.go): with replicas, the durable node copies what it
//     missed from its ready replicas while registered as not ready for
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
