# Shared by the scripts that run a private zshard cluster (demo.sh,
# bench.sh): process cleanup, free ports, a private Consul dev agent.
# Source it after `cd` to the repository root; it sets BIN, work and pids.
#
#   NAME=demo; source scripts/lib.sh
#   start_consul            # exports CONSUL_HTTP_ADDR
#   some_server & pids+=($!)
#
# On exit (also on Ctrl-C or failure) every process in pids is stopped in
# reverse order with SIGTERM and waited for; the work directory is removed
# on success and kept, with its logs, on failure.

BIN=$PWD/bin
work=$(mktemp -d -t "zshard-$NAME.XXXXXX")
pids=()

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	# Reverse order: servers stop (and deregister) before the Consul agent.
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		kill -TERM "${pids[i]}" 2>/dev/null || true
		wait "${pids[i]}" 2>/dev/null || true
	done
	if [[ $rc -eq 0 ]]; then
		rm -rf "$work"
		echo "$NAME: done, everything stopped" >&2
	else
		echo "$NAME: failed (exit $rc), everything stopped; logs are in $work" >&2
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
	echo "$NAME: $*" >&2
	exit 1
}

free_port() {
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# free_base N: a port P such that P..P+N-1 are all free now.
free_base() {
	/usr/bin/python3 - "$1" <<'PY'
import random, socket, sys
n = int(sys.argv[1])
for _ in range(1000):
    base = random.randint(10000, 31500)  # below the ephemeral ports (32768+) connections take
    socks = []
    try:
        for p in range(base, base + n):
            s = socket.socket(); s.bind(("127.0.0.1", p)); socks.append(s)
        print(base); break
    except OSError:
        pass
    finally:
        for s in socks: s.close()
PY
}

# start_consul: a Consul dev agent on free loopback ports, logging to
# $work/consul.log; returns once it has elected itself leader and exports
# CONSUL_HTTP_ADDR.
start_consul() {
	[[ -x $BIN/consul ]] || fail "no $BIN/consul: run 'make tools' first"
	local http_port
	http_port=$(free_port)
	"$BIN/consul" agent -dev -bind 127.0.0.1 -client 127.0.0.1 \
		-http-port "$http_port" -serf-lan-port "$(free_port)" -server-port "$(free_port)" \
		-serf-wan-port -1 -dns-port -1 -grpc-port -1 -grpc-tls-port -1 \
		>"$work/consul.log" 2>&1 &
	pids+=($!)
	export CONSUL_HTTP_ADDR=127.0.0.1:$http_port
	# A KV write succeeds only once the agent has elected itself leader.
	for _ in $(seq 150); do
		if "$BIN/consul" kv put "zshard-$NAME/.ready" 1 >/dev/null 2>&1; then
			"$BIN/consul" kv delete "zshard-$NAME/.ready" >/dev/null
			return 0
		fi
		sleep 0.2
	done
	fail "Consul did not elect a leader in 30 s (log: $work/consul.log)"
}
