# zshard node policy: the token of server_consumer, the supervisor and the
# nodes it starts (they share it). Service "zshard" and the KV prefix
# "zshard/" are the defaults; change both if you run with --service.

# Register each node, keep its TTL check passing, deregister it.
service "zshard" {
  policy = "write"
}

# Read the instances on every agent (the health endpoint hides the
# instances of nodes the token may not read) and the agent's own name
# (a node checks at registration that no live process holds its name).
node_prefix "" {
  policy = "read"
}
agent_prefix "" {
  policy = "read"
}

# The supervisor's session, which holds its claims on the nodes it runs.
session_prefix "" {
  policy = "write"
}

# Read the settings (layout, epoch), the add/remove signals and the
# rebalance lock's holder.
key_prefix "zshard/" {
  policy = "read"
}

# server_consumer N writes the add signal of node-0..node-{N-1} when none
# exists; supervisors claim the nodes they run.
key_prefix "zshard/nodes/" {
  policy = "write"
}
key_prefix "zshard/claims/" {
  policy = "write"
}
