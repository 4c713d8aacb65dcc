package durable

import (
	"fmt"
	"testing"
	"time"

	"github.com/zshard/zshard/internal/store"
)

// BenchmarkPutMany measures the node's bulk ingest path: runs of 512 PUTs of
// 100-byte values applied by PutMany, as a pushed BATCH is. "new" writes keys
// never stored (the bulk load of an empty node), "overwrite" keys already
// stored. sync=none never fsyncs; sync=batch runs the background WAL sync
// every DefaultSyncInterval, as `--sync batch` does; sync=barrier fsyncs
// after every run, the cost a SYNC barrier per BATCH would have.
//
//	go test ./internal/store/durable -run '^$' -bench PutMany -count 6 | tee /tmp/putmany.txt
func BenchmarkPutMany(b *testing.B) {
	for _, mode := range []string{"new", "overwrite"} {
		for _, policy := range []string{"none", "batch", "barrier"} {
			b.Run(fmt.Sprintf("keys=%s/sync=%s", mode, policy), func(b *testing.B) {
				benchPutMany(b, mode, policy)
			})
		}
	}
}

func benchPutMany(b *testing.B, mode, policy string) {
	const run = 512
	opts := Options{}
	if policy == "batch" {
		opts.SyncInterval = DefaultSyncInterval
	}
	s, err := Open(b.TempDir(), opts)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	value := make([]byte, 100)
	entries := make([]store.Entry, run)
	fill := func(round int) {
		for i := range entries {
			entries[i] = store.Entry{Key: fmt.Sprintf("user:%012d", round*run+i), Value: store.Value{Codec: 1, Data: value}}
		}
	}
	const preload = 200 // rounds, 102,400 keys
	if mode == "overwrite" {
		for r := range preload {
			fill(r)
			if err := s.PutMany(ctx, entries); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.SetBytes(run * 100)
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		r := i
		if mode == "overwrite" {
			r = i % preload
		} else {
			r = preload + i
		}
		fill(r)
		if err := s.PutMany(ctx, entries); err != nil {
			b.Fatal(err)
		}
		if policy == "barrier" {
			if err := s.Sync(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N*run)/time.Since(start).Seconds(), "puts/s")
}
