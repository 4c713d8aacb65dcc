#!/usr/bin/env bash
# scripts/bench.sh [client_producer bench flags...]
#
# Measures the producer against its baselines in one run: installs the
# baselines (scripts/bootstrap.sh --bench: redis-server, redis-tools), starts a
# private Consul dev agent on free loopback ports, runs `client_producer bench`
# (which starts its own private clusters of node processes in that agent, and
# redis-server on a free port), and tears everything down on exit, also on
# Ctrl-C or failure.
#
#   scripts/bench.sh                                  # K=100000 quick run
#   scripts/bench.sh --keys 1000000 --plots out/      # the docs/BENCHMARKS.md figures
#   scripts/bench.sh --keys 1000000 --json > bench.json
set -euo pipefail
cd "$(dirname "$0")/.."

NAME=bench
# shellcheck source=lib.sh
source scripts/lib.sh

scripts/bootstrap.sh --bench || echo "bench: baselines not installed; redis figures will be missing" >&2
go build -o "$work/client_producer" ./client_producer

start_consul

echo "bench: Consul at $CONSUL_HTTP_ADDR; go $(go env GOVERSION), $(nproc) CPUs, $(uname -sr)" >&2
"$work/client_producer" --consul "$CONSUL_HTTP_ADDR" bench "$@"
