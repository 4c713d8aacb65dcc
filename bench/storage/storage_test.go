package storage

import (
	"context"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/zshard/zshard/internal/store"
	"github.com/zshard/zshard/internal/store/durable"
	"github.com/zshard/zshard/sharding"
)

const (
	batchOps   = 64  // a producer BATCH
	valueBytes = 100 // a small value
	preload    = 100_000
	partitions = 64
)

var ctx = context.Background()

func key(i int) string { return fmt.Sprintf("user:%012d", i) }

var value = make([]byte, valueBytes)

// engine is what the benchmark needs of a candidate.
type engine interface {
	putBatch(keys []string) error // apply and fsync once
	get(k string) (bool, error)
	scanPartition(p int) (int, error)
	close() error
}

type pebbleEngine struct{ s *durable.Store }

func (e pebbleEngine) putBatch(keys []string) error {
	for _, k := range keys {
		if err := e.s.Put(ctx, k, store.Value{Codec: 1, Data: value}); err != nil {
			return err
		}
	}
	return e.s.Sync(ctx)
}

func (e pebbleEngine) get(k string) (bool, error) {
	_, ok, err := e.s.Get(ctx, k)
	return ok, err
}

func (e pebbleEngine) scanPartition(p int) (int, error) {
	n := 0
	var c store.Cursor
	for {
		page, err := e.s.Scan(ctx, c, sharding.PartitionRange(p, partitions), 1000)
		if err != nil {
			return n, err
		}
		n += len(page.Entries)
		if page.Done {
			return n, nil
		}
		c = page.Next
	}
}

func (e pebbleEngine) close() error { return e.s.Close() }

// boltEngine keeps the same composite keys (hash, key) in one bucket.
type boltEngine struct{ db *bolt.DB }

var bucket = []byte("kv")

func composite(k string) []byte {
	return append(binary.BigEndian.AppendUint64(nil, sharding.KeyHash(k)), k...)
}

func (e boltEngine) putBatch(keys []string) error {
	return e.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		for _, k := range keys {
			if err := b.Put(composite(k), append([]byte{1}, value...)); err != nil {
				return err
			}
		}
		return nil
	})
}

func (e boltEngine) get(k string) (bool, error) {
	var ok bool
	err := e.db.View(func(tx *bolt.Tx) error {
		ok = tx.Bucket(bucket).Get(composite(k)) != nil
		return nil
	})
	return ok, err
}

func (e boltEngine) scanPartition(p int) (int, error) {
	r := sharding.PartitionRange(p, partitions)
	lo := binary.BigEndian.AppendUint64(nil, r.From)
	hi := binary.BigEndian.AppendUint64(nil, r.To)
	n := 0
	err := e.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucket).Cursor()
		for k, v := c.Seek(lo); k != nil && (r.To == 0 || string(k) < string(hi)); k, v = c.Next() {
			_ = append([]byte(nil), v...) // the node copies values out
			n++
		}
		return nil
	})
	return n, err
}

func (e boltEngine) close() error { return e.db.Close() }

func openEngine(b *testing.B, name string) engine {
	dir := b.TempDir()
	switch name {
	case "pebble":
		s, err := durable.Open(filepath.Join(dir, "pebble"), durable.Options{})
		if err != nil {
			b.Fatal(err)
		}
		return pebbleEngine{s}
	case "bbolt":
		db, err := bolt.Open(filepath.Join(dir, "bolt.db"), 0o600, nil)
		if err != nil {
			b.Fatal(err)
		}
		if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket(bucket); return err }); err != nil {
			b.Fatal(err)
		}
		return boltEngine{db}
	}
	panic(name)
}

func load(b *testing.B, e engine, n int) {
	keys := make([]string, 0, 1024)
	for i := 0; i < n; i++ {
		keys = append(keys, key(i))
		if len(keys) == cap(keys) || i == n-1 {
			if err := e.putBatch(keys); err != nil {
				b.Fatal(err)
			}
			keys = keys[:0]
		}
	}
}

var engines = []string{"pebble", "bbolt"}

// eachEngine runs bench as a sub-benchmark per engine, on a new store of
// that engine that holds preload keys; the store is closed after it.
func eachEngine(b *testing.B, bench func(b *testing.B, e engine)) {
	for _, name := range engines {
		b.Run("engine="+name, func(b *testing.B) {
			e := openEngine(b, name)
			defer e.close()
			load(b, e, preload)
			bench(b, e)
		})
	}
}

// BenchmarkBatchPut: one op is a BATCH of 64 new 100-byte values made
// durable with one fsync, into a store that already holds 100k keys.
func BenchmarkBatchPut(b *testing.B) {
	eachEngine(b, func(b *testing.B, e engine) {
		keys := make([]string, batchOps)
		next := preload
		b.ReportAllocs()
		b.SetBytes(batchOps * valueBytes)
		b.ResetTimer()
		cpu0 := cpuTime()
		for b.Loop() {
			for j := range keys {
				keys[j] = key(next)
				next++
			}
			if err := e.putBatch(keys); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*batchOps)/b.Elapsed().Seconds(), "keys/s")
		b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
	})
}

// BenchmarkGet: point reads of random present keys of 100k.
func BenchmarkGet(b *testing.B) {
	eachEngine(b, func(b *testing.B, e engine) {
		b.ReportAllocs()
		i := 0
		cpu0 := cpuTime()
		for b.Loop() {
			i = (i + 7919) % preload
			ok, err := e.get(key(i))
			if err != nil || !ok {
				b.Fatal(ok, err)
			}
		}
		b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
	})
}

// BenchmarkScanPartition: stream one of 64 partitions of 100k keys.
func BenchmarkScanPartition(b *testing.B) {
	eachEngine(b, func(b *testing.B, e engine) {
		b.ReportAllocs()
		p := 0
		cpu0 := cpuTime()
		for b.Loop() {
			n, err := e.scanPartition(p % partitions)
			if err != nil || n == 0 {
				b.Fatal(n, err)
			}
			p++
		}
		b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
	})
}
