"""Class-lab interop check: an unmodified pyzmq client against a zshard node.

Usage: interop.py <request endpoint> <ingest endpoint>
Exits 0 when every check passes; prints the failing check otherwise.
"""
import sys

import zmq

req_ep, pull_ep = sys.argv[1], sys.argv[2]
ctx = zmq.Context()
sock = ctx.socket(zmq.REQ)
sock.setsockopt(zmq.LINGER, 0)
sock.setsockopt(zmq.RCVTIMEO, 20000)
sock.connect(req_ep)


def call(msg):
    sock.send_json(msg)
    return sock.recv_json()


def check(got, want, what):
    if got != want:
        print("FAIL %s: got %r, want %r" % (what, got, want))
        sys.exit(1)


# The class-lab operations, exactly as the lab spec writes them.
check(call({"op": "PUT", "key": "key1", "value": "value1"}), {"status": "OK"}, "PUT")
check(call({"op": "PUT", "key": "key2", "value": "value2"}), {"status": "OK"}, "PUT 2")
check(call({"op": "GET_ONE", "key": "key1"}),
      {"status": "OK", "key": "key1", "value": "value1"}, "GET_ONE")
reply = call({"op": "GET_ALL"})
check(reply["status"], "OK", "GET_ALL status")
check(sorted(reply["collection"], key=lambda e: e["key"]),
      [{"key": "key1", "value": "value1"}, {"key": "key2", "value": "value2"}], "GET_ALL collection")

# Any JSON value comes back as sent.
value = {"name": "x", "list": [1, 2.5, None, True, "é"], "nested": {"a": {"b": []}}}
check(call({"op": "PUT", "key": "obj", "value": value}), {"status": "OK"}, "PUT object")
check(call({"op": "GET_ONE", "key": "obj"})["value"], value, "GET_ONE object")

check(call({"op": "DELETE", "key": "obj"}), {"status": "OK", "deleted": True}, "DELETE")
reply = call({"op": "GET_ONE", "key": "obj"})
check((reply["status"], reply["error"]), ("error", "not_found"), "GET_ONE deleted")

# Bad input gets an error reply, and the socket keeps working.
sock.send(b"not json at all")
reply = sock.recv_json()
check((reply["status"], reply["error"]), ("error", "bad_request"), "garbage")
reply = call({"op": "FROB"})
check((reply["status"], reply["error"]), ("error", "unknown_op"), "unknown op")
check(call({"op": "PING"})["status"], "OK", "PING after bad input")

# PUSH ingest + SYNC barrier.
push = ctx.socket(zmq.PUSH)
push.setsockopt(zmq.LINGER, 1000)
push.connect(pull_ep)
for i in range(1000):
    push.send_json({"op": "PUT", "key": "pushed-%d" % i, "value": i})
push.send_json({"op": "SYNC", "token": "py-sync"})
check(call({"op": "SYNC", "token": "py-sync", "timeout_ms": 20000}),
      {"status": "OK", "token": "py-sync"}, "SYNC")
check(call({"op": "GET_ONE", "key": "pushed-999"})["value"], 999, "pushed value")

# msgpack: the same operations in msgpack, answered in msgpack.
try:
    import msgpack
except ImportError:
    msgpack = None
if msgpack is not None:
    def mcall(msg):
        sock.send(msgpack.packb(msg))
        return msgpack.unpackb(sock.recv())
    check(mcall({"op": "PUT", "key": "m", "value": [1, "two", {"3": 4.5}]}), {"status": "OK"}, "msgpack PUT")
    check(mcall({"op": "GET_ONE", "key": "m"}),
          {"status": "OK", "key": "m", "value": [1, "two", {"3": 4.5}]}, "msgpack GET_ONE")
    # A value PUT in JSON, read in msgpack.
    check(mcall({"op": "GET_ONE", "key": "key1"})["value"], "value1", "JSON value read in msgpack")
    stats = mcall({"op": "STATS"})["stats"]
    check(stats["endpoints"]["ingest"]["messages"], 1001, "ingest messages")

push.close()
sock.close()
ctx.term()
print("OK")
