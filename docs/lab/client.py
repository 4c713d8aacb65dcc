#!/usr/bin/python3
"""A small zshard client in Python for the class lab (docs/LAB.md).

It speaks the class JSON protocol (PUT, GET_ONE, GET_ALL) over a ZeroMQ REQ
socket, to one node or, for phase 1, sharded over a static cluster with
consistent hashing or HRW. Run it with Debian's Python, which has pyzmq
(apt-get install python3-zmq):

  /usr/bin/python3 docs/lab/client.py --endpoint tcp://127.0.0.1:2000 put user:1 ada
  /usr/bin/python3 docs/lab/client.py --endpoint tcp://127.0.0.1:2000 get user:1
  /usr/bin/python3 docs/lab/client.py --node node-2 getall          # endpoint from Consul
  /usr/bin/python3 docs/lab/client.py --nodes 4 --hash hrw load 1000  # phase 1 sharding
  /usr/bin/python3 docs/lab/client.py --passing put user:9 v1         # the naive phase-2 client
  /usr/bin/python3 docs/lab/client.py --curve-secret-file alice.secret \
      --curve-server-key server.pub --endpoint tcp://127.0.0.1:2000 get user:1  # CURVE

--node looks the node's request endpoint up in Consul's HTTP API (the agent
at $CONSUL_HTTP_ADDR, default 127.0.0.1:8500): the Meta "rep" of the passing
instance of service zshard with that ID. --nodes N targets the static
cluster of `server_consumer --static N`: node-i at tcp://127.0.0.1:<2000+i>
(set ZSHARD_BASE_PORT to move the range, as --base-rep-port does).
--passing shards over whoever passes in Consul right now: the naive phase-2
client of the lab's lost-update exercise (docs/LAB.md), which shows why
zshard places keys on the recorded members instead.

--curve-secret-file connects with CURVE (docs/SECURITY.md) as the key in that
file, as `client_producer keygen` writes it; the node's public key comes
from --curve-server-key, or with --node from the node's Consul Meta "curve".
A node that does not allow the key never answers.

Its placement (md5, 100 ring points per node) is the lab's own phase-1
exercise, not zshard's: client_producer places keys with xxh3 and a
partition table, so the two disagree on which node holds a key.
"""

import argparse
import bisect
import hashlib
import json
import os
import sys
import urllib.request

import zmq

TIMEOUT_MS = 3000

# CURVE socket options (docs/SECURITY.md); empty: plaintext.
CURVE = {}


def request(ctx, endpoint, req):
    """Sends one request and returns the decoded reply (a dict)."""
    sock = ctx.socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVTIMEO, TIMEOUT_MS)  # a dead node must not hang us
    for opt, value in CURVE.items():
        sock.setsockopt(opt, value)
    sock.connect(endpoint)
    try:
        sock.send_json(req)
        return sock.recv_json()
    except zmq.Again:
        hint = " (is this CURVE key in the node's allowlist?)" if CURVE else ""
        sys.exit(f"no reply from {endpoint} within {TIMEOUT_MS} ms{hint}")
    finally:
        sock.close()


def consul_meta():
    """The Meta of the passing instances of service zshard, by node name."""
    addr = os.environ.get("CONSUL_HTTP_ADDR", "127.0.0.1:8500")
    if "://" not in addr:
        addr = "http://" + addr
    with urllib.request.urlopen(f"{addr}/v1/health/service/zshard?passing") as r:
        return {e["Service"]["ID"]: e["Service"]["Meta"] for e in json.load(r)}


def consul_passing():
    """The passing instances of service zshard: {node name: request endpoint}."""
    return {name: meta["rep"] for name, meta in consul_meta().items()}


def consul_endpoint(node):
    """The request endpoint node registered in Consul (passing only), and
    its CURVE public key (None when it runs without CURVE)."""
    meta = consul_meta().get(node)
    if meta is None:
        sys.exit(f"{node} is not a passing member of service zshard in Consul")
    return meta["rep"], meta.get("curve")


def read_key(path):
    """The Z85 key (40 characters) in a key file of `client_producer keygen`."""
    with open(path) as f:
        return f.read().strip().encode()


def h64(s):
    """A stable 64-bit hash of a string (never Python's per-process hash())."""
    return int.from_bytes(hashlib.md5(s.encode()).digest()[:8], "big")


class Ring:
    """Consistent hashing: each node owns the arc before its points."""

    def __init__(self, nodes, points=100):
        self.ring = sorted((h64(f"{n}#{i}"), n) for n in nodes for i in range(points))
        self.hashes = [h for h, _ in self.ring]

    def owner(self, key):
        i = bisect.bisect(self.hashes, h64(key)) % len(self.ring)
        return self.ring[i][1]


class HRW:
    """Rendezvous (highest random weight) hashing: the top-scoring node wins."""

    def __init__(self, nodes):
        self.nodes = list(nodes)

    def owner(self, key):
        return max(self.nodes, key=lambda n: h64(f"{n}/{key}"))


def main():
    ap = argparse.ArgumentParser(description="zshard lab client (JSON protocol over ZeroMQ REQ)")
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--endpoint", help="a node's request endpoint, e.g. tcp://127.0.0.1:2000")
    where.add_argument("--node", help="a node name, looked up in Consul, e.g. node-0")
    where.add_argument("--nodes", type=int, help="static cluster size: node-i on port 2000+i")
    where.add_argument("--passing", action="store_true",
                       help="shard over the nodes passing in Consul now (the naive client: loses updates)")
    ap.add_argument("--hash", choices=["consistent", "hrw"], default="consistent",
                    help="placement with --nodes (default consistent)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("put", help="PUT KEY VALUE")
    p.add_argument("key")
    p.add_argument("value")
    g = sub.add_parser("get", help="GET_ONE KEY")
    g.add_argument("key")
    sub.add_parser("getall", help="GET_ALL")
    ld = sub.add_parser("load", help="PUT N keys key-0..key-{N-1}, sharded (with --nodes)")
    ld.add_argument("n", type=int)
    ap.add_argument("--curve-secret-file", help="connect with CURVE as this secret key (PREFIX.secret of keygen)")
    ap.add_argument("--curve-server-key", help="with CURVE: the node's public key file (default with --node: Meta curve)")
    args = ap.parse_args()

    endpoint, server_key = args.endpoint, None
    if args.node:
        endpoint, server_key = consul_endpoint(args.node)
    if args.curve_server_key:
        server_key = read_key(args.curve_server_key)
    if args.curve_secret_file:
        if not server_key:
            sys.exit("CURVE needs the node's public key: --curve-server-key FILE, or --node with Meta curve")
        secret = read_key(args.curve_secret_file)
        CURVE.update({zmq.CURVE_SECRETKEY: secret, zmq.CURVE_PUBLICKEY: zmq.curve_public(secret),
                      zmq.CURVE_SERVERKEY: server_key if isinstance(server_key, bytes) else server_key.encode()})

    ctx = zmq.Context()
    if args.nodes or args.passing:
        if args.passing:
            endpoints = consul_passing()
        else:
            base = int(os.environ.get("ZSHARD_BASE_PORT", "2000"))
            endpoints = {f"node-{i}": f"tcp://127.0.0.1:{base + i}" for i in range(args.nodes)}
        placement = Ring(endpoints) if args.hash == "consistent" else HRW(endpoints)
        keys = [f"key-{i}" for i in range(args.n)] if args.cmd == "load" else [args.key]
        counts = dict.fromkeys(endpoints, 0)
        for k in keys:
            node = placement.owner(k)
            value = args.value if args.cmd == "put" else f"value-{k}"
            if args.cmd == "get":
                print(node, json.dumps(request(ctx, endpoints[node], {"op": "GET_ONE", "key": k})))
                return
            reply = request(ctx, endpoints[node], {"op": "PUT", "key": k, "value": value})
            if reply.get("status") != "OK":
                sys.exit(f"PUT {k} on {node}: {reply}")
            if args.cmd == "put":
                print(node, json.dumps(reply))
                return
            counts[node] += 1
        for node, n in counts.items():
            print(f"{node}  {n:6d}  {'#' * round(60 * n / len(keys))}")
        return

    if args.cmd == "put":
        req = {"op": "PUT", "key": args.key, "value": args.value}
    elif args.cmd == "get":
        req = {"op": "GET_ONE", "key": args.key}
    elif args.cmd == "getall":
        req = {"op": "GET_ALL"}
    else:
        sys.exit("load needs --nodes or --passing")
    print(json.dumps(request(ctx, endpoint, req)))


if __name__ == "__main__":
    main()
