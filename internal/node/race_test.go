//go:build race

package node

// raceEnabled is true when the tests run under the race detector, which
// makes the 1M-key test take most of a minute; it is skipped there (it runs
// without -race and has no concurrency of its own to check).
const raceEnabled = true
