#!/usr/bin/env bash
# make demo: starts a private Consul dev agent and a server_consumer
# supervisor on free loopback ports, runs zshard end to end, and tears
# everything down on exit (also on Ctrl-C or failure). Nothing is left
# running and no ports stay taken.
set -euo pipefail
cd "$(dirname "$0")/.."

NAME=demo
# shellcheck source=lib.sh
source scripts/lib.sh

step() { printf '\n== %s\n' "$*"; }

# instances [passing]: the names of the registered (or only passing) nodes.
instances() {
	curl -fsS "http://$CONSUL_HTTP_ADDR/v1/health/service/zshard${1:+?passing}" |
		/usr/bin/python3 -c 'import json,sys; print(" ".join(sorted(e["Service"]["ID"] for e in json.load(sys.stdin))))'
}
passing() { instances passing; }

# show_members: the passing instances with the endpoints they registered.
show_members() {
	curl -fsS "http://$CONSUL_HTTP_ADDR/v1/health/service/zshard?passing" | /usr/bin/python3 -c '
import json, sys
row = "{:8} {:26} {}"
print(row.format("NAME", "REQUEST (Meta rep)", "INGEST (Meta pull)"))
for e in sorted(json.load(sys.stdin), key=lambda e: e["Service"]["ID"]):
    s = e["Service"]
    print(row.format(s["ID"], s["Meta"]["rep"], s["Meta"]["pull"]))'
}

# wait_passing "NAMES": waits until exactly NAMES are registered and passing.
wait_passing() {
	for _ in $(seq 150); do
		if [[ "$(passing 2>/dev/null)" == "$1" && "$(instances 2>/dev/null)" == "$1" ]]; then
			echo "passing: $1"
			return 0
		fi
		sleep 0.2
	done
	fail "timed out waiting until exactly '$1' pass (now: '$(instances)')"
}

step "building server_consumer and client_producer"
go build -o "$BIN/" ./server_consumer ./client_producer

step "starting a Consul dev agent (log: $work/consul.log)"
start_consul
echo "Consul at $CONSUL_HTTP_ADDR"

step "server_consumer 4: a supervisor launches node-0..node-3, each registers itself (log: $work/server.log)"
base=$(free_base 211)
"$BIN/server_consumer" 4 --base-rep-port "$base" --base-pull-port $((base + 100)) \
	--base-metrics-port $((base + 200)) --metrics-port $((base + 210)) \
	>"$work/server.log" 2>&1 &
pids+=($!)
wait_passing "node-0 node-1 node-2 node-3"
show_members

producer() { "$BIN/client_producer" --hash consistent "$@"; }

step "producer: PUT, GET_ONE, DELETE through Consul membership and consistent hashing"
producer put user:1 '{"name":"ada"}' --value-json
producer put user:2 grace
producer get user:1
producer get user:2
producer delete user:2

step "producer: load 10000 keys (bulk PUSH with a SYNC barrier per node), then read them all back"
producer load --keys 10000 --value-size 100
producer getall > "$work/getall.txt"   # GET_ALL: paged SCAN of every node
head -3 "$work/getall.txt"
producer status

step "benchmark: client_producer bench, 20000 keys, against raw ZeroMQ in the same run"
"$BIN/client_producer" bench --keys 20000 --latency-ops 2000 --algorithms consistent --no-redis --codecs msgpack

step "add node-4 (dry run first): what would move"
producer add-node node-4 --dry-run

step "add node-4: add signal through Consul -> the supervisor launches it -> the producer moves exactly the keys node-4 now owns"
producer add-node node-4 --quiet
wait_passing "node-0 node-1 node-2 node-3 node-4"
producer status

step "remove node-0: the producer moves node-0's keys to their new owners, then sends the remove signal; the supervisor stops it"
producer remove-node node-0 --quiet
wait_passing "node-1 node-2 node-3 node-4"
producer getall > "$work/getall-after.txt"
if cmp -s <(sort "$work/getall.txt") <(sort "$work/getall-after.txt"); then
	echo "getall: the same $(wc -l <"$work/getall-after.txt") keys and values as before the add and the remove"
else
	fail "getall after rebalancing differs from before"
fi
producer status

step "signals and settings under zshard/ in Consul"
"$BIN/consul" kv get -recurse zshard/nodes/
"$BIN/consul" kv get zshard/cluster
