// Package soak holds long tests of a real node process under hostile load,
// with latency and memory bounds: they run only with ZSHARD_SOAK=1
// (`make soak`), never in `make test`, and log the figures they measure.
package soak
