package maglev_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/sharding"
	"github.com/zshard/zshard/sharding/examples/maglev"
	"github.com/zshard/zshard/sharding/shardingtest"
)

func newMaglev(nodes []sharding.Node) (sharding.Placer, error) { return maglev.New(nodes) }

// TestConformance grades Maglev. It has the properties of the built-in
// algorithms but two, which it declares: a node joining or leaving moves
// about 0.4% of the keys between nodes that stay, and reorders about a
// quarter of the preference lists.
func TestConformance(t *testing.T) {
	shardingtest.Run(t, newMaglev, shardingtest.Disruption(0.01), shardingtest.Reorder(0.4))
}

// TestStrict grades Maglev as the built-in algorithms are graded, and
// checks that the kit names both shortcomings in numbers.
func TestStrict(t *testing.T) {
	err := shardingtest.Check(newMaglev)
	require.Error(t, err)
	t.Log(err)
	require.Regexp(t, `remove: removing node-\d+ moved \d+ of 100,000 keys between surviving nodes; want at most 0`, err.Error())
}
