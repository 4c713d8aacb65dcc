// Package grade checks a class-lab server against the class project's
// contract, phase by phase, and reports a scorecard: one Result per check,
// with what was expected and what came back.
//
// The server under test is started as `CMD N` (the class's launch format,
// `python server_consumer.py 4`) through sh -c, in a process group of its
// own, so that every process it starts is killed with it at the end, also
// when the grader is interrupted. Node i takes requests on a REQ socket at
// the request port (2000+i by default) and writes on a PUSH socket at the
// ingest port (2100+i); the exchanges are the class-lab ones of
// docs/PROTOCOL.md: {"op":"PUT","key":k,"value":v}, {"op":"GET_ONE","key":k}
// answered {"status":"OK","key":k,"value":v} (status may be left out, as
// the class spec does), {"op":"GET_ALL"} answered
// {"status":"OK","collection":[{"key":k,"value":v},...]}, and failures
// answered {"status":"error","error":code,"message":text}.
//
// # Phases
//
//   - phase1: PUTs pushed to every node's ingest port arrive; malformed
//     messages on the ingest port do not kill a node.
//   - phase2: GET_ONE and GET_ALL return exactly what was written (unicode
//     keys and values, Config.Keys keys over the nodes); a missing key is a
//     not_found error; every request gets exactly one reply; malformed
//     requests are answered with an error, and the node keeps serving.
//   - consul: against a private Consul agent the grader starts, the nodes
//     register as the service Config.Service, a node is launched on an add
//     signal and stopped on a remove signal (<prefix>nodes/<name>, as
//     docs/REBALANCING.md describes), and every node deregisters on
//     SIGTERM.
//   - cases: the instructor's test cases at R=0 and R=2: zshard's own
//     producer (package producer) loads keys onto the nodes, its rebalancer
//     (package rebalance) adds node-N and removes node-0, and after each step
//     every key must be readable and held by exactly the nodes of its
//     preference list. The producer speaks protocol v1 (request ids, SYNC,
//     SCAN, DIGEST...), so a server that speaks only the class requests
//     fails these cases.
//
// With Config.Consul every phase runs the server against the agent (a
// phase-2 server reads its membership from Consul), and phases 1 and 2
// take the nodes' endpoints from their registrations (Meta rep and pull,
// else the service port and the ingest port rule).
//
// Each phase starts the server afresh, so a crash in one phase does not
// fail the checks of the next. Every network wait has a timeout
// (Config.Timeout per check), so a hung server fails a check and never
// hangs the grader.
package grade
