// Package layout is the cluster layout every producer, node and rebalancer
// must agree on: the cluster settings, the migration a rebalance records in
// them, the legal steps of that migration, and which node lists serve the
// reads and the writes of a key in each of its phases.
//
// The package is pure, like sharding, on which it builds: it does no I/O, and
// imports nothing but sharding and the standard library. The consul package
// stores Settings as one JSON document under <prefix>cluster; the producer
// routes by [Settings.Route], a restarting node checks its data against
// [Settings.Layouts], and the rebalancer moves a [Migration] through its
// phases with [Settings.Advance].
//
// # Phases
//
// A migration changes the layout from the node list From to the node list To
// in three phases, copying, switched and cleaning (MigrationPhase.Next gives
// their order, Settings.Advance what each step changes). Settings.Route is
// the one table of what each phase reads and writes; docs/REBALANCING.md
// tells the whole protocol.
//
// With no Members recorded (legacy mode, a cluster never rebalanced) the
// layout is the passing members, whatever the caller counts as passing.
package layout
