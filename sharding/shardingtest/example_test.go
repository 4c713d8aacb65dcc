package shardingtest_test

import (
	"fmt"
	"testing"

	"github.com/zshard/zshard/sharding"
	"github.com/zshard/zshard/sharding/shardingtest"
)

// The test of a placement algorithm: rendezvous hashing passes the suite.
func TestHRW(t *testing.T) {
	shardingtest.Run(t, func(nodes []sharding.Node) (sharding.Placer, error) {
		return sharding.NewHRW(nodes)
	}, shardingtest.Weighted())
}

// Check grades an algorithm outside a test: modulo placement balances its
// keys, but a node joining or leaving moves most of them.
func ExampleCheck() {
	err := shardingtest.Check(func(nodes []sharding.Node) (sharding.Placer, error) {
		return newModulo(nodes)
	})
	fmt.Println(err)
	// Output:
	// remove: removing node-0 moved 80,276 of 100,000 keys between surviving nodes; want at most 0 (only its own 9,859 keys must move)
	// add: adding aaa moved 90,848 of 100,000 keys; optimum 9,090 (tolerance 10,908)
}
