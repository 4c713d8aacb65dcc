// Package faulttest holds end-to-end fault tests: a real Consul agent, a
// server_consumer supervisor running its nodes as real processes, and the
// client_producer command, while nodes are stopped (SIGSTOP), resumed,
// killed and removed. They check what the documentation promises about
// failures: a node that is down is skipped, never replaced, and no
// acknowledged write is lost or shadowed.
//
// The package has tests only; -short skips them.
package faulttest
