// Package acltest runs server_consumer and client_producer, as processes,
// against a Consul agent with ACLs on (default deny) and TLS only (client
// certificates required), with tokens holding the policies of
// deploy/consul-acl: each token does its job, and a call beyond it fails
// with exit code 4 and the permission it lacked. It holds tests only.
package acltest
