// Package labcheck checks that docs/LAB.md says what really happens: it runs
// every shell command of the guide's console blocks, in order, against a
// private Consul agent and cluster, and compares each command's output with
// the output the guide shows, with volatile parts (durations, rates, log
// timestamps) masked and whitespace runs collapsed.
//
// The test carries the build tag lab, so `go test ./...` does not run it:
//
//	make lab-check     # compare
//	make lab-update    # rerun and write the real outputs (and plots) into docs/
//
// # How LAB.md is read
//
// A ```console block holds commands, each on a line starting with "$ ", and
// the output the student should see on the lines after it. A command that
// exits non-zero shows "[exit status N]" as its last output line. HTML
// comments steer the checker and are invisible in the rendered guide:
//
//	<!-- lab-check: skip -->        the next block is not run (setup: make build)
//	<!-- lab-check: background -->  the next block's commands keep running (the
//	                                student's second terminal); each output line
//	                                shown must appear in their output, in any order
//	<!-- lab-check: mask RE -->     in the next block, what RE's groups (or the
//	                                whole match) cover is masked
//	<!-- lab-check: ctrl-c TEXT --> interrupts the background command containing
//	                                TEXT (SIGINT to its process group) and waits
//	<!-- lab-check: wait-passing NAMES -->
//	                                waits until exactly NAMES are registered in
//	                                Consul and passing
//
// # Ports
//
// The guide uses the defaults (Consul on 127.0.0.1:8500, node-i on 2000+i and
// 2100+i). The checker must not take them, so its bin/ directory wraps the
// programs: bin/consul adds free ports to `consul agent` (unless it is given
// its own, as by client_producer grade), bin/server_consumer and
// bin/client_producer add --base-rep-port/--base-pull-port (where --static
// nodes listen), CONSUL_HTTP_ADDR points at the private agent,
// ZSHARD_BASE_PORT tells docs/lab/client.py the static ports. The guide's
// own placer section runs bin/maglev/client_producer, a -tags maglev build.
// Endpoints written in a command (127.0.0.1:2000) are mapped to the private
// ports before running, and ports in the output are mapped back, so that the
// guide shows what a student sees.
package labcheck
