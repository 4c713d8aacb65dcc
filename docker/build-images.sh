#!/usr/bin/env bash
# Builds the zshard container images locally, without pulling anything from
# a registry (make docker-images). The images are equivalent to what
# `docker compose build` makes from ./Dockerfile on a machine that can pull:
#
#   $ZSHARD_BASE_IMAGE   (zshard/debian:bookworm-local) Debian bookworm minbase
#                        + libzmq5 + ca-certificates, made with debootstrap
#                        and `docker import`
#   $ZSHARD_IMAGE        (zshard/zshard:local) server_consumer + client_producer,
#                        built on this host (cgo against Debian 12's libzmq3-dev,
#                        the same libzmq 4.3.4 the base image carries)
#   $CONSUL_IMAGE        (zshard/consul:local) bin/consul (make tools)
#
# The debootstrap tarball is cached in $ZSHARD_CACHE_DIR (default
# ~/.cache/zshard); delete it, or set ZSHARD_REBUILD_BASE=1, to make a fresh
# one. A second run reuses the tarball and the imported base and only
# rebuilds the two small images.
#
# Needs: a reachable Docker engine, Go, libzmq3-dev + pkg-config, and for the
# first run root (debootstrap) and a Debian mirror (DEBIAN_MIRROR, default
# http://deb.debian.org/debian).
set -euo pipefail
cd "$(dirname "$0")/.."

: "${ZSHARD_BASE_IMAGE:=zshard/debian:bookworm-local}"
: "${ZSHARD_IMAGE:=zshard/zshard:local}"
: "${CONSUL_IMAGE:=zshard/consul:local}"
: "${ZSHARD_CACHE_DIR:=${XDG_CACHE_HOME:-$HOME/.cache}/zshard}"
: "${DEBIAN_MIRROR:=http://deb.debian.org/debian}"
: "${ZSHARD_REBUILD_BASE:=0}"
GO=${GO:-go}

suite=bookworm
# The packages on top of minbase. Changing this list changes the tarball name,
# so a stale cache is never reused.
include=libzmq5,ca-certificates
arch=$(dpkg --print-architecture 2>/dev/null || echo amd64)
tarball=$ZSHARD_CACHE_DIR/debian-$suite-minbase-$arch-${include//,/-}.tar.gz

started=$SECONDS
# image_id NAME: the image's ID, or nothing if there is none.
image_id() { docker image inspect -f '{{.Id}}' "$1" 2>/dev/null || true; }
# drop_replaced OLD NAME: a rebuild moves NAME to a new image and leaves the
# old one untagged; remove it unless NAME still is it or something uses it.
drop_replaced() {
	if [[ -n "$1" && "$1" != "$(image_id "$2")" ]]; then
		docker rmi "$1" >/dev/null 2>&1 || true
	fi
}
step() { printf '== docker-images [%3ds] %s\n' $((SECONDS - started)) "$*"; }
fail() { echo "docker-images: $*" >&2; exit 1; }

# ---- preconditions, checked before any slow work --------------------------
command -v docker >/dev/null || fail "docker is not installed"
docker info >/dev/null 2>&1 || fail "cannot reach the Docker engine (is the daemon running, may this user use it?)"
command -v "$GO" >/dev/null || fail "go is not on PATH"
pkg-config --exists libzmq 2>/dev/null ||
	fail "libzmq development files missing: run scripts/bootstrap.sh (apt-get install libzmq3-dev pkg-config)"
if [[ -r /etc/os-release ]]; then
	# shellcheck disable=SC1091
	. /etc/os-release
	if [[ "${ID:-}" != debian || "${VERSION_CODENAME:-}" != "$suite" ]]; then
		echo "docker-images: warning: this host is ${PRETTY_NAME:-unknown}, not Debian $suite;" \
			"the binaries built here link this host's libc and libzmq, which the $suite image may lack." \
			"Use 'docker compose build' (./Dockerfile) where images can be pulled." >&2
	fi
fi

# ---- 1. the Debian base: debootstrap tarball (cached) -> docker import -----
if [[ "$ZSHARD_REBUILD_BASE" == 1 ]]; then
	rm -f "$tarball"
fi
if [[ ! -s "$tarball" ]]; then
	[[ $(id -u) -eq 0 ]] || fail "debootstrap needs root to make $tarball; run this once as root (later runs reuse the tarball)"
	if ! command -v debootstrap >/dev/null; then
		step "installing debootstrap (apt-get)"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null ||
			fail "cannot install debootstrap; run: apt-get update && apt-get install -y debootstrap"
	fi
	mkdir -p "$ZSHARD_CACHE_DIR"
	rootfs=$(mktemp -d "$ZSHARD_CACHE_DIR/rootfs.XXXXXX")
	# shellcheck disable=SC2064 # expand now: the trap must remove this rootfs
	trap "rm -rf '$rootfs' '$tarball.tmp'" EXIT
	step "debootstrap --variant=minbase --include=$include $suite from $DEBIAN_MIRROR (a few minutes, once)"
	if ! debootstrap --variant=minbase --include="$include" --arch="$arch" \
		"$suite" "$rootfs" "$DEBIAN_MIRROR" >"$ZSHARD_CACHE_DIR/debootstrap.log" 2>&1; then
		tail -n 20 "$ZSHARD_CACHE_DIR/debootstrap.log" >&2
		fail "debootstrap failed; full log: $ZSHARD_CACHE_DIR/debootstrap.log"
	fi
	# What a container image does not need: package caches and lists, logs.
	rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
		"$rootfs"/var/log/* "$rootfs"/tmp/* "$rootfs"/root/.cache
	step "packing the root file system into $tarball"
	tar --numeric-owner --xattrs -C "$rootfs" -czf "$tarball.tmp" .
	mv "$tarball.tmp" "$tarball"
	rm -rf "$rootfs"
	trap - EXIT
else
	step "reusing the cached base tarball $tarball"
fi

# The base image records which tarball it came from; re-import only when the
# tarball changed (or the image is missing).
sum=$(sha256sum "$tarball" | cut -c1-16)
have=$(docker image inspect -f '{{index .Config.Labels "org.zshard.base-tarball"}}' "$ZSHARD_BASE_IMAGE" 2>/dev/null || true)
if [[ "$have" != "$sum" ]]; then
	step "docker import $tarball as $ZSHARD_BASE_IMAGE"
	old_base=$(image_id "$ZSHARD_BASE_IMAGE")
	docker import \
		--change "LABEL org.zshard.base-tarball=$sum" \
		--change 'ENV LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		--change 'CMD ["/bin/bash"]' \
		"$tarball" "$ZSHARD_BASE_IMAGE" >/dev/null
	drop_replaced "$old_base" "$ZSHARD_BASE_IMAGE"
else
	step "base image $ZSHARD_BASE_IMAGE is current"
fi

# ---- 2. the zshard binaries, built here, copied into an image ---------------
ctx=$(mktemp -d -t zshard-images.XXXXXX)
trap 'rm -rf "$ctx"' EXIT
step "go build server_consumer client_producer (cgo, libzmq $(pkg-config --modversion libzmq))"
mkdir -p "$ctx/zshard/bin"
CGO_ENABLED=1 "$GO" build -trimpath -o "$ctx/zshard/bin/" ./server_consumer ./client_producer
cp docker/Dockerfile.local "$ctx/zshard/Dockerfile"
step "docker build $ZSHARD_IMAGE (FROM $ZSHARD_BASE_IMAGE)"
old=$(image_id "$ZSHARD_IMAGE")
docker build -q --build-arg BASE_IMAGE="$ZSHARD_BASE_IMAGE" -t "$ZSHARD_IMAGE" "$ctx/zshard" >/dev/null
drop_replaced "$old" "$ZSHARD_IMAGE"
# The image must run: a missing shared library shows up here, not in a test.
docker run --rm --entrypoint server_consumer "$ZSHARD_IMAGE" --help >/dev/null ||
	fail "$ZSHARD_IMAGE: server_consumer does not start in the image (see the error above)"
docker run --rm --entrypoint client_producer "$ZSHARD_IMAGE" --help >/dev/null ||
	fail "$ZSHARD_IMAGE: client_producer does not start in the image (see the error above)"

# ---- 3. Consul from bin/consul ----------------------------------------------
if [[ ! -x bin/consul ]]; then
	step "bin/consul missing: make tools (about 3 minutes the first time)"
	make --no-print-directory tools
fi
mkdir -p "$ctx/consul"
cp bin/consul "$ctx/consul/consul"
cp docker/Dockerfile.consul-local "$ctx/consul/Dockerfile"
step "docker build $CONSUL_IMAGE (FROM $ZSHARD_BASE_IMAGE, $(bin/consul version | head -n1))"
old=$(image_id "$CONSUL_IMAGE")
docker build -q --build-arg BASE_IMAGE="$ZSHARD_BASE_IMAGE" -t "$CONSUL_IMAGE" "$ctx/consul" >/dev/null
drop_replaced "$old" "$CONSUL_IMAGE"
docker run --rm "$CONSUL_IMAGE" version >/dev/null || fail "$CONSUL_IMAGE: consul does not start in the image"

step "done: $ZSHARD_IMAGE $CONSUL_IMAGE (base $ZSHARD_BASE_IMAGE)"
echo "run the cluster with:"
echo "    ZSHARD_IMAGE=$ZSHARD_IMAGE CONSUL_IMAGE=$CONSUL_IMAGE docker-compose up -d"
