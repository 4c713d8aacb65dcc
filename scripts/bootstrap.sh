#!/usr/bin/env bash
# Installs the system packages zshard needs to build and test.
#
#   scripts/bootstrap.sh            packages for building and testing
#   scripts/bootstrap.sh --bench    also the baselines the benchmarks compare against
#
# As root it installs what is missing with apt-get; otherwise it prints the
# exact command to run and exits non-zero. It does nothing when everything is
# already there, so every make target can call it cheaply.
set -euo pipefail

# libzmq3-dev + pkg-config: pebbe/zmq4 links libzmq through cgo.
# python3-zmq + python3-msgpack: the class-lab interop tests run a real Python
# client (Debian's /usr/bin/python3, which is where these modules install).
packages=(libzmq3-dev pkg-config python3-zmq python3-msgpack)

if [[ "${1:-}" == "--bench" ]]; then
	# redis-server/redis-benchmark: a baseline the producer benchmark reports against.
	packages+=(redis-server redis-tools)
fi

missing=()
for p in "${packages[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if [[ ${#missing[@]} -eq 0 ]]; then
	exit 0
fi

cmd="apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
if [[ $(id -u) -ne 0 ]]; then
	echo "bootstrap: missing system packages: ${missing[*]}" >&2
	echo "bootstrap: install them with:" >&2
	echo "    sudo sh -c '$cmd'" >&2
	exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
	echo "bootstrap: missing system packages: ${missing[*]}, and apt-get is not available." >&2
	echo "bootstrap: install the equivalents of these Debian packages with your package manager." >&2
	exit 1
fi

echo "bootstrap: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
