// Package bench measures the producer end to end and, in the same run, the
// baselines it is compared against: raw ZeroMQ PUSH/PULL and REQ/REP echo,
// and redis-server through redis-benchmark when it is installed.
//
// For every algorithm and codec asked, Run starts a fresh private cluster
// (its own Consul service name and KV prefix, N nodes as child processes or
// in this process), loads K keys of V-byte values through the bulk PUSH path
// (acknowledged by SYNC barriers) and through pipelined acknowledged PUT
// requests, reads them back with pipelined GET_ONE and measures the latency of
// one-at-a-time GET_ONE, then records the keys per node. Each throughput
// phase records its CPU time (user and system) over the node processes and
// this process, and each redis-benchmark run that of redis-server and
// redis-benchmark, run over as many keys as the producer's (-r K): a cost
// per operation beside every rate. `client_producer
// bench` is its command line; scripts/bench.sh runs it with a private Consul.
//
// The package sits above both the producer and the node: it runs the nodes
// it measures, so the producer's own package tree links no server code.
package bench
