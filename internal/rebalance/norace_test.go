//go:build !race

package rebalance_test

const raceEnabled = false
