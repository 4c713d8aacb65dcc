// Package zshard is the root of a sharded key-value datastore.
//
// Server nodes (see ./server_consumer) speak ZeroMQ and register themselves
// in Consul; a producer client (see ./client_producer) shards PUT, GET_ONE
// and GET_ALL operations across them with a pluggable placement algorithm
// (package sharding) and drives rebalancing when nodes are added or removed.
//
// The wire protocol is specified in docs/PROTOCOL.md.
package zshard
