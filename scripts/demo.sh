#!/usr/bin/env bash
# make demo: starts a private Consul dev agent on free loopback ports, runs
# what zshard can do end to end, and tears everything down on exit (also on
# Ctrl-C or failure). Nothing is left running and no ports stay taken.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=$PWD/bin
work=$(mktemp -d -t zshard-demo.XXXXXX)
pids=()

cleanup() {
	local rc=$?
	for pid in "${pids[@]}"; do
		kill -INT "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$work"
	if [[ $rc -eq 0 ]]; then echo "demo: done, everything stopped"; else echo "demo: failed (exit $rc), everything stopped" >&2; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { printf '\n== %s\n' "$*"; }

free_port() {
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

step "starting a Consul dev agent (logs in $work/consul.log)"
http_port=$(free_port)
"$BIN/consul" agent -dev -bind 127.0.0.1 -client 127.0.0.1 \
	-http-port "$http_port" -serf-lan-port "$(free_port)" -server-port "$(free_port)" \
	-serf-wan-port -1 -dns-port -1 -grpc-port -1 -grpc-tls-port -1 \
	>"$work/consul.log" 2>&1 &
pids+=($!)
export CONSUL_HTTP_ADDR=127.0.0.1:$http_port
# A KV write succeeds only once the agent has elected itself leader.
ready=
for _ in $(seq 150); do
	if "$BIN/consul" kv put zshard/.ready 1 >/dev/null 2>&1; then ready=1; break; fi
	sleep 0.2
done
[[ -n $ready ]] || { echo "demo: Consul did not become ready; its log:" >&2; tail -20 "$work/consul.log" >&2; exit 1; }
"$BIN/consul" members

step "cluster settings under zshard/ in Consul"
"$BIN/consul" kv put zshard/config/algorithm consistent
"$BIN/consul" kv get -recurse zshard/
