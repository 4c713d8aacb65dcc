// Package supervisor is the supervisor that `server_consumer N` starts: it
// runs zshard nodes, each as its own process, as members of a cluster.
//
// The supervisor (supervisor.go) follows the add/remove signals under the
// Consul KV prefix with blocking queries and reconciles: for every node that
// should run on its host and that it can claim (a Consul lock, so that of
// several supervisors exactly one runs a node), it launches a node process
// (`server_consumer node ...`); nodes that are removed are stopped; a node
// that crashes is restarted with backoff unless it was removed. Cancelling
// its context stops every node gracefully.
//
// A node process is `server_consumer node`, which runs the node runtime
// (package noderun): it binds its endpoints, then registers itself in
// Consul with a TTL check that it keeps passing only while its own request
// endpoint answers a PING, and deregisters when it is stopped.
//
// Threading: the supervisor's state is owned by the goroutine running Run;
// watches, child processes and timers report to it over channels.
package supervisor
