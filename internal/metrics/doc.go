// Package metrics serves and reads the Prometheus metrics of zshard
// processes: Serve exposes a registry at /metrics over HTTP (every node and
// the supervisor run one, docs/OPERATIONS.md), and Scrape and Families read
// such an endpoint back, for `client_producer status --watch` and tests.
//
// The figures themselves are collected where they are kept: a node's by
// node.Node.Collector, its Pebble engine's by durable.Store.Collector, a
// supervisor's by the supervisor package.
package metrics
