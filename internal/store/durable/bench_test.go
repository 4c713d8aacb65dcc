package durable

import (
	"fmt"
	"testing"
	"time"

	"github.com/zshard/zshard/internal/hlc"
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
	start, cpu0 := time.Now(), cpuTime()
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
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
}

// BenchmarkApplyMany is BenchmarkPutMany (sync=none) with versioned
// writes, as replication applies them: "new" writes keys never stored,
// "newer" overwrites stored keys with newer versions (each applied),
// "older" with older versions (each refused after the read of the stored
// record), and "tombstone" overwrites them with newer tombstones.
//
//	go test ./internal/store/durable -run '^$' -bench ApplyMany -count 6 | tee /tmp/applymany.txt
func BenchmarkApplyMany(b *testing.B) {
	for _, mode := range []string{"new", "newer", "older", "tombstone"} {
		b.Run("keys="+mode, func(b *testing.B) {
			const run, preload = 512, 200
			s, err := Open(b.TempDir(), Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			value := make([]byte, 100)
			entries := make([]store.Entry, run)
			applied := make([]bool, run)
			base := hlc.Version{Time: hlc.At(time.Now()), Writer: 1}
			fill := func(round int, v hlc.Version, tomb bool) {
				for i := range entries {
					e := store.Entry{Key: fmt.Sprintf("user:%012d", round*run+i), Value: store.Value{Codec: 1, Data: value, Version: v, Tombstone: tomb}}
					if tomb {
						e.Value.Codec, e.Value.Data = 0, nil
					}
					entries[i] = e
				}
			}
			if mode != "new" {
				for r := range preload {
					fill(r, base, false)
					if err := s.ApplyMany(ctx, entries, nil); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportAllocs()
			b.SetBytes(run * 100)
			i := 0
			cpu0 := cpuTime()
			for b.Loop() {
				switch mode {
				case "new":
					fill(preload+i, base, false)
				case "newer":
					fill(i%preload, base.Add(uint64(1+i)), false)
				case "older":
					fill(i%preload, hlc.Version{Time: base.Time - 1, Writer: 1}, false)
				case "tombstone":
					fill(i%preload, base.Add(uint64(1+i)), true)
				}
				if err := s.ApplyMany(ctx, entries, applied); err != nil {
					b.Fatal(err)
				}
				if applied[0] != (mode != "older") {
					b.Fatalf("%s: applied %v", mode, applied[0])
				}
				i++
			}
			b.ReportMetric(float64(b.N*run)/b.Elapsed().Seconds(), "puts/s")
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}
