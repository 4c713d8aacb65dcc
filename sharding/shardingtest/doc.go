// Package shardingtest checks that a placement algorithm (a
// sharding.Placer) has the properties zshard relies on, as io/fstest checks
// a file system. The built-in algorithms pass it; so must one written for
// a class or a cluster before it is registered with sharding.Register.
//
// A test of the algorithm calls Run:
//
//	func TestConformance(t *testing.T) {
//		shardingtest.Run(t, func(nodes []sharding.Node) (sharding.Placer, error) {
//			return mine.New(nodes)
//		})
//	}
//
// Run runs each property as a subtest, and a failure says what went wrong
// in numbers. Modulo placement (h mod n), for one, fails with
//
//	adding aaa moved 90,848 of 100,000 keys; optimum 9,090 (tolerance 10,908)
//
// The properties, over node-0..node-9 and the keys "key-0".."key-<K-1>"
// hashed with sharding.KeyHash:
//
//   - membership: the constructor rejects an empty membership, an empty
//     name and a duplicate name; Nodes returns the members sorted by name
//     (sharding.Normalize does both).
//   - prefs: Owner is a node; AppendPrefs appends min(n, nodes) distinct
//     nodes, the owner first, and leaves dst alone.
//   - order: the placement does not depend on the order of the members
//     given, and building it twice gives the same placement.
//   - remove: removing any node moves exactly that node's keys, none
//     between the nodes that stay, and a preference list only loses the
//     removed node (the others keep their order).
//   - add: adding a node (whatever its name sorts as) moves keys only to
//     it, about 1/(n+1) of them (at most Tolerance above the optimum), and
//     a preference list only gains the new node (Disruption and Reorder
//     apply here too).
//   - balance: at 10 and 100 nodes the most and least loaded nodes stay
//     within bounds of the mean, placing keys directly and through a
//     sharding.Table (Balance changes the bounds).
//   - weights (with Weighted): a node's share of the keys follows its
//     weight within 10%.
//
// Check runs the same suite and returns the failures as an error, for
// tools that grade an algorithm outside a test.
package shardingtest
