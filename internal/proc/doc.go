// Package proc starts and stops the child processes of zshard: the node
// processes of a supervisor and of `server_consumer --static`, the node and
// echo processes of the benchmark, and the programs integration tests run.
//
// A Process is started from a Config that says where its output goes,
// whether it gets a process group of its own (so one signal reaches every
// process it starts in turn) and which signal the kernel sends it when its
// parent dies (Linux only; other platforms build without it). It is stopped
// the one way all of them share: a request to exit (a signal, or the caller
// closing its stdin), then SIGKILL if it is still running after a timeout.
package proc
