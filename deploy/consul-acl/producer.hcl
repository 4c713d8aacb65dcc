# zshard producer policy: client_producer put, load, get, getall, delete,
# status and the producer library. It reads membership and settings and
# writes nothing to Consul: the data goes to the nodes, never to Consul.
# The settings of a new cluster are stored once by the operator token
# (the first writing client_producer command run with it).

# Read the passing instances and the Consul nodes they run on.
service "zshard" {
  policy = "read"
}
node_prefix "" {
  policy = "read"
}

# Read the settings (algorithm, partitions, R, layout, epoch).
key_prefix "zshard/" {
  policy = "read"
}
