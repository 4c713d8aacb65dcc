package shardingtest_test

import (
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
