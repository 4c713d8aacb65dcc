// Package consul is zshard's membership layer over the Consul HTTP API.
//
// It does four things, each in its own file:
//
//   - register.go: a node registers itself as an instance of the zshard
//     service (ID = node name, Meta "rep" and "pull" = its endpoint URLs)
//     with a TTL health check that its own serving loop keeps passing, and
//     deregisters on graceful shutdown. If the agent forgets it (an agent
//     restart), the next heartbeat registers it again.
//   - members.go: clients read the passing instances and follow changes.
//   - settings.go and signals.go: cluster settings and the per-node add and
//     remove signals, stored as JSON under the KV prefix "zshard/" and
//     changed by check-and-set only.
//   - claim.go: supervisors on several hosts agree on which of them runs a
//     node, through Consul sessions and KV locks.
//
// Every long-running read is a blocking query (watch.go) that follows
// Consul's documented rules: the index is reset when it goes backwards or to
// zero, calls are rate limited, errors back off, and cancelling the context
// stops the watch promptly.
//
// KV layout, relative to the prefix (default "zshard/"):
//
//	cluster          settings: algorithm, partitions, replicas, epoch (JSON)
//	nodes/<name>     desired state of a node: the add/remove signal (JSON)
//	claims/<name>    held (Consul lock) by the supervisor running the node
package consul
