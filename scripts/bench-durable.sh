#!/usr/bin/env bash
# scripts/bench-durable.sh [RUNS] [client_producer bench flags...]
#
# The end-to-end figures of docs/BENCHMARKS.md "Durable storage": RUNS
# (default 3) runs of scripts/bench.sh, each measuring, in one run and on
# fresh private clusters of 4 node processes, the in-memory engine and
# durable nodes with --sync none, batch and always (hrw, msgpack, 1M keys of
# 100 bytes), then redis-server without persistence and with appendonly yes
# + appendfsync always / everysec. Each run's report goes to
# $OUT/run-<i>.txt (default OUT=bench-durable).
#
#   scripts/bench-durable.sh              # 3 runs, 1M keys
#   scripts/bench-durable.sh 1 --keys 100000
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${1:-3}
shift || true
out=${OUT:-bench-durable}
mkdir -p "$out"
for i in $(seq 1 "$runs"); do
	echo "bench-durable: run $i of $runs" >&2
	scripts/bench.sh --algorithms hrw --codecs msgpack --storage memory,none,batch,always \
		--keys 1000000 --latency-ops 5000 --no-baselines "$@" | tee "$out/run-$i.txt"
done
