#!/usr/bin/env python3
"""A small class-lab server, with deliberate bugs to test the grader.

    server.py [--consul] [--bug NAME] N

Starts N nodes in one process: node-i takes requests on a ROUTER socket at
port $ZSHARD_BASE_PORT+i (default 2000+i) and writes on a PULL socket at
$ZSHARD_BASE_PULL_PORT+i (default 2100+i), speaking the class-lab JSON
requests PUT, GET_ONE and GET_ALL. With --consul it acts as a supervisor, as
the class spec's phase 2 asks: it writes the add signals zshard/nodes/node-i
into Consul ($CONSUL_HTTP_ADDR), runs a node for every {"state":"up"} signal
and stops it on {"state":"removed"}; each node registers as service zshard
with Meta rep and pull, and deregisters when it stops or on SIGTERM.

--bug NAME breaks one thing (see BUGS); without it the server is correct.
"""

import argparse
import base64
import json
import os
import signal
import sys
import threading
import urllib.error
import urllib.request

import zmq

BUGS = {
    "getall-ten": "GET_ALL returns at most ten entries",
    "error-shape": 'errors are {"error": text}, without status and message',
    "crash-bad-json": "the process exits on a message that is not JSON",
    "missing-null": 'GET_ONE of a missing key answers {"status":"OK","value":null}',
    "hang-getall": "GET_ALL is never answered",
    "no-deregister": "SIGTERM exits without deregistering from Consul",
    "ignore-remove": "the remove signal is ignored",
    "ignore-add": "add signals for new nodes are ignored",
}

BUG = None
HOST = "127.0.0.1"
REP_BASE = int(os.environ.get("ZSHARD_BASE_PORT", "2000"))
PULL_BASE = int(os.environ.get("ZSHARD_BASE_PULL_PORT", str(REP_BASE + 100)))
CONSUL = os.environ.get("CONSUL_HTTP_ADDR", "127.0.0.1:8500")
SERVICE = "zshard"
PREFIX = "zshard/nodes/"


def error(code, message):
    if BUG == "error-shape":
        return {"error": message}
    return {"status": "error", "error": code, "message": message}


class Node(threading.Thread):
    def __init__(self, ctx, index):
        super().__init__(daemon=True)
        self.name_ = "node-%d" % index
        self.rep = "tcp://%s:%d" % (HOST, REP_BASE + index)
        self.pull = "tcp://%s:%d" % (HOST, PULL_BASE + index)
        self.store = {}
        self.stopping = threading.Event()
        self.router = ctx.socket(zmq.ROUTER)
        self.router.bind(self.rep)
        self.puller = ctx.socket(zmq.PULL)
        self.puller.bind(self.pull)

    def handle(self, body, ingest):
        try:
            req = json.loads(body.decode("utf-8"))
        except ValueError:
            if BUG == "crash-bad-json":
                os._exit(3)
            return error("bad_request", "not a JSON object")
        if not isinstance(req, dict):
            return error("bad_request", "not a JSON object")
        op, key = req.get("op"), req.get("key")
        if op == "PUT":
            if not isinstance(key, str) or not key or "value" not in req:
                return error("bad_request", "PUT needs key and value")
            self.store[key] = req["value"]
            return {"status": "OK"}
        if ingest:
            return None
        if op == "GET_ONE":
            if not isinstance(key, str) or not key:
                return error("bad_request", "GET_ONE needs a key")
            if key not in self.store:
                if BUG == "missing-null":
                    return {"status": "OK", "key": key, "value": None}
                return error("not_found", "key %r not found" % key)
            return {"status": "OK", "key": key, "value": self.store[key]}
        if op == "GET_ALL":
            if BUG == "hang-getall":
                return None
            coll = [{"key": k, "value": v} for k, v in self.store.items()]
            if BUG == "getall-ten":
                coll = coll[:10]
            return {"status": "OK", "collection": coll}
        if not isinstance(op, str):
            return error("bad_request", "no op")
        return error("unknown_op", "unknown op %r" % op)

    def run(self):
        poller = zmq.Poller()
        poller.register(self.router, zmq.POLLIN)
        poller.register(self.puller, zmq.POLLIN)
        while not self.stopping.is_set():
            for sock, _ in poller.poll(100):
                frames = sock.recv_multipart()
                if sock is self.puller:
                    self.handle(frames[-1], True)
                    continue
                envelope, body = frames[:-1], frames[-1]
                reply = self.handle(body, False)
                if reply is not None:
                    data = json.dumps(reply, ensure_ascii=False).encode("utf-8")
                    self.router.send_multipart(envelope + [data])
        self.router.close(0)
        self.puller.close(0)

    def stop(self):
        self.stopping.set()
        self.join()


def consul(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request("http://%s%s" % (CONSUL, path), data=data, method=method)
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.read(), r.headers.get("X-Consul-Index", "0")


def register(node):
    port = int(node.rep.rsplit(":", 1)[1])
    consul("PUT", "/v1/agent/service/register", {
        "ID": node.name_, "Name": SERVICE, "Address": HOST, "Port": port,
        "Meta": {"rep": node.rep, "pull": node.pull}})


def deregister(node):
    consul("PUT", "/v1/agent/service/deregister/" + node.name_)


def main():
    global BUG
    ap = argparse.ArgumentParser()
    ap.add_argument("--consul", action="store_true")
    ap.add_argument("--bug", choices=sorted(BUGS))
    ap.add_argument("nodes", type=int)
    args = ap.parse_args()
    BUG = args.bug

    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    ctx = zmq.Context()
    nodes = {}

    if not args.consul:
        for i in range(args.nodes):
            n = Node(ctx, i)
            n.start()
            nodes[n.name_] = n
        print("READY", " ".join(sorted(nodes)), flush=True)
        while not done.wait(0.2):
            pass
        for n in nodes.values():
            n.stop()
        return

    initial = set()
    for i in range(args.nodes):
        name = "node-%d" % i
        initial.add(name)
        consul("PUT", "/v1/kv/%s%s?cas=0" % (PREFIX, name), {"state": "up"})
    index = "0"
    while not done.is_set():
        try:
            body, index = consul("GET", "/v1/kv/%s?recurse&wait=1s&index=%s" % (PREFIX, index))
            pairs = json.loads(body)
        except urllib.error.HTTPError as e:
            if e.code != 404:
                raise
            pairs, index = [], e.headers.get("X-Consul-Index", "0")
        for p in pairs:
            name = p["Key"][len(PREFIX):]
            state = json.loads(base64.b64decode(p["Value"] or b"e30="))["state"]
            if state == "up" and name not in nodes and name.startswith("node-"):
                if BUG == "ignore-add" and name not in initial:
                    continue
                n = Node(ctx, int(name[len("node-"):]))
                n.start()
                nodes[name] = n
                register(n)
                print("READY", name, n.rep, n.pull, flush=True)
            elif state == "removed" and name in nodes and BUG != "ignore-remove":
                n = nodes.pop(name)
                deregister(n)
                n.stop()
    for n in nodes.values():
        if BUG != "no-deregister":
            deregister(n)
        n.stop()


if __name__ == "__main__":
    sys.exit(main())
