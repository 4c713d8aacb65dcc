// Package testcluster starts the real processes that integration tests run
// against: a Consul dev agent built from the tools module (./bin/consul),
// bound to free loopback ports and torn down when the test ends.
//
// Tests that use it are skipped under `go test -short`. Without -short, a
// missing Consul binary fails the test with a message that says how to build
// it: an integration test that silently skips checks nothing.
package testcluster
