// Package consul is zshard's membership layer over the Consul HTTP API.
//
// It does these things, each in its own file:
//
//   - register.go: a node registers itself as an instance of the zshard
//     service (ID = node name, Meta "rep" and "pull" = its endpoint URLs,
//     Meta "metrics" = the URL of its Prometheus metrics, if it serves
//     them) with a TTL health check that its own serving loop keeps passing, and
//     deregisters on graceful shutdown. If the agent forgets it (an agent
//     restart), the next heartbeat registers it again.
//   - members.go: clients read the passing instances and follow changes.
//   - settings.go and signals.go: cluster settings (layout.Settings) and the
//     per-node add and remove signals, stored as JSON under the KV prefix
//     "zshard/" and changed by check-and-set only.
//   - claim.go: supervisors on several hosts agree on which of them runs a
//     node, through Consul sessions and KV locks; locks.go: other locks
//     taken by a session (one rebalancer or repair at a time).
//   - kv.go: plain JSON documents (the progress of a repair).
//
// Every long-running read is a blocking query (watch.go) that follows
// Consul's documented rules: the index is reset when it goes backwards or to
// zero, calls are rate limited, errors back off, and cancelling the context
// stops the watch promptly. A call refused by a Consul ACL fails with a
// *PermissionError naming the permission the token lacked (acl.go); a watch
// ends with it rather than retry. The ACL token and TLS to the agent come
// from Config or the CONSUL_* variables the Consul CLI reads (client.go).
//
// KV layout, relative to the prefix (default "zshard/"):
//
//	cluster          settings (JSON of layout.Settings): algorithm, partitions,
//	                 replicas, vnodes, epoch, members, migration
//	nodes/<name>     desired state of a node, the add/remove signal (JSON of
//	                 Signal): {"state":"up","host":"h1"} or {"state":"removed"}
//	claims/<name>    held (Consul lock) by the session of the supervisor
//	                 running the node; value: "<host> pid <pid>" of it
//	locks/<name>     a lock held by a session (Session.Lock); value: its
//	                 holder. locks/rebalance is held by the running rebalancer,
//	                 or by a running anti-entropy repair (holder "repair: ...")
//	repair           progress of the last anti-entropy repair (JSON of
//	                 repair.State): run id, epoch, partitions P, the last
//	                 partition done, counters so far, and whether it finished;
//	                 an interrupted `client_producer repair` continues from it
package consul
