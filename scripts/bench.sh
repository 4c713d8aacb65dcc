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

BIN=$PWD/bin
work=$(mktemp -d -t zshard-bench.XXXXXX)
pids=()

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		kill -TERM "${pids[i]}" 2>/dev/null || true
		wait "${pids[i]}" 2>/dev/null || true
	done
	if [[ $rc -eq 0 ]]; then
		rm -rf "$work"
	else
		echo "bench: failed (exit $rc), everything stopped; logs are in $work" >&2
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() { echo "bench: $*" >&2; exit 1; }
free_port() {
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

scripts/bootstrap.sh --bench || echo "bench: baselines not installed; redis figures will be missing" >&2
[[ -x $BIN/consul ]] || fail "no $BIN/consul: run 'make tools' first"

go build -o "$work/client_producer" ./client_producer

http_port=$(free_port)
"$BIN/consul" agent -dev -bind 127.0.0.1 -client 127.0.0.1 \
	-http-port "$http_port" -serf-lan-port "$(free_port)" -server-port "$(free_port)" \
	-serf-wan-port -1 -dns-port -1 -grpc-port -1 -grpc-tls-port -1 \
	>"$work/consul.log" 2>&1 &
pids+=($!)
export CONSUL_HTTP_ADDR=127.0.0.1:$http_port
for _ in $(seq 150); do
	if "$BIN/consul" kv put zshard-bench/.ready 1 >/dev/null 2>&1; then break; fi
	sleep 0.2
done
"$BIN/consul" kv get zshard-bench/.ready >/dev/null 2>&1 || fail "Consul did not elect a leader (log: $work/consul.log)"

echo "bench: Consul at $CONSUL_HTTP_ADDR; go $(go env GOVERSION), $(nproc) CPUs, $(uname -sr)" >&2
"$work/client_producer" --consul "$CONSUL_HTTP_ADDR" bench "$@"
