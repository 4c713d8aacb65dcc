package sharding_test

import (
	"fmt"

	"github.com/zshard/zshard/sharding"
)

// A producer builds one table per membership and routes every key with it.
func ExampleNewTable() {
	cfg := sharding.Config{Algorithm: sharding.Rendezvous, Replicas: 2}
	table, err := sharding.NewTable(cfg, sharding.NodesNamed("node-0", "node-1", "node-2", "node-3"))
	if err != nil {
		panic(err)
	}
	fmt.Println(table.Owner("user:42"))
	fmt.Println(table.AppendPrefs(nil, "user:42"))
	fmt.Println(table.Partitions(), table.Width())
	// Output:
	// node-1
	// [node-1 node-3 node-2]
	// 262144 3
}

// Adding a node: the plan says which partitions move, and every one of them
// moves to the new node.
func ExampleDiff() {
	cfg := sharding.Config{Algorithm: sharding.Consistent, Partitions: 1024}
	old, _ := sharding.NewTable(cfg, sharding.NodesNamed("node-0", "node-1", "node-2"))
	grown, _ := sharding.NewTable(cfg, sharding.NodesNamed("node-0", "node-1", "node-2", "node-3"))
	plan, _ := sharding.Diff(old, grown)
	to := map[string]int{}
	for _, c := range plan.Changes {
		to[c.New[0]]++
	}
	fmt.Printf("%d of %d partitions change; destinations: %v\n", len(plan.Changes), plan.Partitions, to)
	// Output:
	// 275 of 1024 partitions change; destinations: map[node-3:275]
}

// Direct placement, without a table: any Placer maps a hash to node indices.
func ExampleNewPlacer() {
	nodes := []sharding.Node{{Name: "big", Weight: 3}, {Name: "small"}}
	pl, _ := sharding.NewPlacer(sharding.Config{Algorithm: sharding.Rendezvous}, nodes)
	count := map[string]int{}
	for i := range 10000 {
		count[pl.Nodes()[pl.Owner(sharding.KeyHash(fmt.Sprint("k", i)))].Name]++
	}
	fmt.Println(count["big"] > 2*count["small"])
	// Output: true
}

func ExampleKeyHash() {
	h := sharding.KeyHash("user:42")
	fmt.Printf("%016x partition %d of 4096\n", h, sharding.PartitionOf(h, 4096))
	// Output: dc1fea7da8d2d1c2 partition 3521 of 4096
}
