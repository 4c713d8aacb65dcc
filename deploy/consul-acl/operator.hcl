# zshard operator policy: client_producer add-node, remove-node (the
# rebalancer), repair, and the first command that stores the settings of a
# new cluster. Everything the producer policy allows, plus writes under the
# prefix and the session that holds the rebalance lock.

service "zshard" {
  policy = "read"
}
node_prefix "" {
  policy = "read"
}

# The session of the lock zshard/locks/rebalance, taken by a rebalance or
# a repair so that they never overlap.
session_prefix "" {
  policy = "write"
}

# Settings (layout, epoch, migration), add/remove signals, the rebalance
# lock and the progress of a repair.
key_prefix "zshard/" {
  policy = "write"
}
