package store

import (
	"fmt"
	"runtime"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/sharding"
)

// fillAndMeasure stores keys keys ("key-0000000"...) with valueBytes-byte
// values and returns the live heap growth per key and the raw key+value
// bytes per key.
func fillAndMeasure(keys, valueBytes int) (perKey, rawPerKey float64) {
	value := make([]byte, valueBytes)
	for i := range value {
		value[i] = 'a' + byte(i%26)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s := NewMemory(MemoryOptions{})
	raw := 0
	key := make([]byte, 0, 32)
	for i := range keys {
		key = strconv.AppendInt(append(key[:0], "key-"...), int64(i), 10)
		_ = s.Put(ctx, string(key), Value{Codec: 1, Data: value})
		raw += len(key) + len(value)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(s)
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(keys), float64(raw) / float64(keys)
}

// BenchmarkMemoryPerKey reports the live heap per stored key for 1M keys
// with 100-byte values, and its ratio to the raw key+value bytes. Run it
// with -benchtime=1x: one fill is one measurement.
func BenchmarkMemoryPerKey(b *testing.B) {
	for _, keys := range []int{1_000_000} {
		b.Run(fmt.Sprintf("keys=%d/value=100", keys), func(b *testing.B) {
			b.ReportAllocs()
			var perKey, raw float64
			for range b.N {
				perKey, raw = fillAndMeasure(keys, 100)
			}
			b.ReportMetric(perKey, "heapB/key")
			b.ReportMetric(raw, "rawB/key")
			b.ReportMetric(perKey/raw, "x-raw")
		})
	}
}

// TestMemoryPerKeyGoal holds the memory goal: 1M keys with 100-byte values
// take at most twice their raw key+value bytes of live heap.
func TestMemoryPerKeyGoal(t *testing.T) {
	if testing.Short() {
		t.Skip("1M keys: skipped under -short")
	}
	perKey, raw := fillAndMeasure(1_000_000, 100)
	t.Logf("heap %.1f B/key, raw %.1f B/key, ratio %.2f", perKey, raw, perKey/raw)
	require.LessOrEqual(t, perKey/raw, 2.0)
}

func BenchmarkPut(b *testing.B) {
	b.ReportAllocs()
	s := NewMemory(MemoryOptions{})
	value := Value{Codec: 1, Data: make([]byte, 100)}
	keys := make([]string, 1<<20)
	for i := range keys {
		keys[i] = "key-" + strconv.Itoa(i)
	}
	b.ResetTimer()
	for i := range b.N {
		_ = s.Put(ctx, keys[i&(len(keys)-1)], value)
	}
}

func BenchmarkGet(b *testing.B) {
	b.ReportAllocs()
	s := NewMemory(MemoryOptions{})
	keys := make([]string, 1<<20)
	for i := range keys {
		keys[i] = "key-" + strconv.Itoa(i)
		_ = s.Put(ctx, keys[i], Value{Codec: 1, Data: make([]byte, 100)})
	}
	b.ResetTimer()
	for i := range b.N {
		_, _, _ = s.Get(ctx, keys[(i*7919)&(len(keys)-1)])
	}
}

// BenchmarkScanPartitions reads a fifth of the partitions (every fifth one,
// as a fifth node takes them) of a store of 250,000 keys at the default
// P = 262144: by one SCAN per partition, the way the rebalancer used to,
// and by one pass filtered by the partition set. Each op is the whole read.
func BenchmarkScanPartitions(b *testing.B) {
	const keys, parts = 250_000, 1 << 18
	s := NewMemory(MemoryOptions{})
	for i := range keys {
		_ = s.Put(ctx, "key-"+strconv.Itoa(i), Value{Codec: 1, Data: make([]byte, 50)})
	}
	set := sharding.NewPartitionSet(parts)
	var list []int
	for p := 0; p < parts; p += 5 {
		set.Add(p)
		list = append(list, p)
	}
	b.Run("per-partition", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			for _, p := range list {
				_, _ = s.Scan(ctx, Cursor{}, sharding.PartitionRange(p, parts), 1000)
			}
		}
	})
	b.Run("set", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			var c Cursor
			for {
				page, _ := s.ScanPartitions(ctx, c, sharding.HashRange{}, set, 10000)
				if page.Done {
					break
				}
				c = page.Next
			}
		}
	})
}
