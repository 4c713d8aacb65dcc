// Package storage compares candidate embedded engines for durable nodes on
// the node's workload: batches of small PUTs with one fsync per batch,
// point GETs, and partition scans in (hash, key) order. Pebble (through
// the project's durable.Store) and bbolt are measured side by side; bbolt
// lives only in this module so the root go.mod stays lean.
//
//	cd bench/storage && go test -run '^$' -bench . -benchtime 2000x -count 5 | tee /tmp/storage.txt
package storage
