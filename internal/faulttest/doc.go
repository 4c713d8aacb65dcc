// Package faulttest holds end-to-end fault tests: a real Consul agent, a
// server_consumer supervisor running its nodes as real processes, and the
// client_producer command, while nodes are stopped (SIGSTOP), resumed,
// killed and removed. They check what the documentation promises about
// failures: a node that is down is skipped, never replaced, and no
// acknowledged write is lost or shadowed.
//
// TestHistory (history_test.go) is a seeded fault-injection history test:
// in-process producers write overlapping keys and record every operation
// while nodes are killed, stopped, added and removed and the Consul agent
// restarts; after a heal step every key's replicas must be identical, no
// acknowledged write may be lost unless superseded and no deleted key may
// come back, and histories of keys owned by one producer each must be
// linearizable. It runs for minutes and only with ZSHARD_HISTORY=1.
//
// The package has tests only; -short skips them.
package faulttest
