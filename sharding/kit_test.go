package sharding_test

import (
	"fmt"
	"testing"

	"github.com/zshard/zshard/sharding"
	"github.com/zshard/zshard/sharding/shardingtest"
)

// builtinBounds are the balance bounds of the built-in algorithms, per node
// count, placing directly and through a Table of the default P, on the key
// set of the kit: 1M keys carry the design's targets, -short's 100k keys
// more sampling noise and looser bounds.
var builtinBounds = map[bool]map[string]map[int][2]shardingtest.Bound{
	false: { // 1M keys
		sharding.Consistent: {10: {bd(1.10, 0.90), bd(1.10, 0.90)}, 100: {bd(1.10, 0.90), bd(1.12, 0.88)}},
		sharding.Rendezvous: {10: {bd(1.01, 0.99), bd(1.05, 0.95)}, 100: {bd(1.04, 0.96), bd(1.10, 0.90)}},
	},
	true: { // 100k keys
		sharding.Consistent: {10: {bd(1.10, 0.90), bd(1.10, 0.90)}, 100: {bd(1.15, 0.85), bd(1.18, 0.82)}},
		sharding.Rendezvous: {10: {bd(1.03, 0.97), bd(1.05, 0.95)}, 100: {bd(1.10, 0.88), bd(1.12, 0.88)}},
	},
}

// TestConformance grades every built-in algorithm with the kit it offers
// others: both move the minimum, keep preference lists stable, balance
// within the bounds above and honour weights.
func TestConformance(t *testing.T) {
	keys := 1_000_000
	if testing.Short() {
		keys = 100_000
	}
	for _, alg := range []string{sharding.Consistent, sharding.Rendezvous} {
		t.Run(alg, func(t *testing.T) {
			opts := []shardingtest.Option{shardingtest.Keys(keys), shardingtest.Weighted()}
			for n, b := range builtinBounds[testing.Short()][alg] {
				opts = append(opts, shardingtest.Balance(n, b[0], b[1]))
			}
			shardingtest.Run(t, placer(sharding.Config{Algorithm: alg}), opts...)
		})
	}
	// A ring of 4 points per node balances poorly (far outside the bounds
	// of the default); it still moves the minimum.
	t.Run("consistent-vnodes=4", func(t *testing.T) {
		loose := shardingtest.Bound{Peak: 4, Trough: 0}
		shardingtest.Run(t, placer(sharding.Config{Algorithm: sharding.Consistent, VNodes: 4}),
			shardingtest.Tolerance(2), shardingtest.Balance(10, loose, loose), shardingtest.Balance(100, loose, loose))
	})
}

// bd is the bound {peak, trough}.
func bd(peak, trough float64) shardingtest.Bound {
	return shardingtest.Bound{Peak: peak, Trough: trough}
}

// placer returns the kit's constructor of the algorithm c.
func placer(c sharding.Config) shardingtest.NewPlacer {
	return func(nodes []sharding.Node) (sharding.Placer, error) { return sharding.NewPlacer(c, nodes) }
}

// TestAlgorithmsRegistered checks that the built-ins are in the registry.
func TestAlgorithmsRegistered(t *testing.T) {
	if got := fmt.Sprint(sharding.Algorithms()); got != "[consistent hrw]" {
		t.Fatalf("Algorithms() = %s", got)
	}
}
