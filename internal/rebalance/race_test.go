//go:build race

package rebalance_test

// raceEnabled shrinks the integration tests under the race detector, which
// slows the rebalancer and the test's own checks several times over.
const raceEnabled = true
