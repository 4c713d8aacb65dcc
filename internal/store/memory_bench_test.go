package store

import (
	"fmt"
	"runtime"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/hlc"
	"github.com/zshard/zshard/sharding"
)

// fillAndMeasure stores keys keys ("key-0000000"...) with valueBytes-byte
// values, versioned or not, and returns the live heap growth per key and
// the raw key+value bytes per key.
func fillAndMeasure(keys, valueBytes int, versioned bool) (perKey, rawPerKey float64) {
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
		v := Value{Codec: 1, Data: value}
		if versioned {
			v.Version = hlc.Version{Time: uint64(i+1) << 16, Writer: 7}
		}
		_ = s.Put(ctx, string(key), v)
		raw += len(key) + len(value)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(s)
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(keys), float64(raw) / float64(keys)
}

// BenchmarkMemoryPerKey reports the live heap per stored key for 1M keys
// with 100-byte values, written without versions and with, and its ratio
// to the raw key+value bytes. Run it with -benchtime=1x: one fill is one
// measurement.
func BenchmarkMemoryPerKey(b *testing.B) {
	for _, tc := range []struct {
		name      string
		versioned bool
	}{{"", false}, {"/versioned", true}} {
		keys := 1_000_000
		b.Run(fmt.Sprintf("keys=%d/value=100%s", keys, tc.name), func(b *testing.B) {
			b.ReportAllocs()
			var perKey, raw float64
			for range b.N {
				perKey, raw = fillAndMeasure(keys, 100, tc.versioned)
			}
			b.ReportMetric(perKey, "heapB/key")
			b.ReportMetric(raw, "rawB/key")
			b.ReportMetric(perKey/raw, "x-raw")
		})
	}
}

// TestMemoryPerKeyGoal holds the memory goal: 1M keys with 100-byte values
// take at most twice their raw key+value bytes of live heap, with or
// without versions.
func TestMemoryPerKeyGoal(t *testing.T) {
	if testing.Short() {
		t.Skip("1M keys: skipped under -short")
	}
	for _, versioned := range []bool{false, true} {
		perKey, raw := fillAndMeasure(1_000_000, 100, versioned)
		t.Logf("versioned %v: heap %.1f B/key, raw %.1f B/key, ratio %.2f", versioned, perKey, raw, perKey/raw)
		require.LessOrEqual(t, perKey/raw, 2.0)
	}
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
	cpu0 := cpuTime()
	for i := range b.N {
		_ = s.Put(ctx, keys[i&(len(keys)-1)], value)
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
}

// BenchmarkApply is BenchmarkPut through Apply: "newer" overwrites with
// ever newer versions (each applied), "older" with an older version than
// the stored one (each refused), "zero" without versions (as Put does).
func BenchmarkApply(b *testing.B) {
	for _, mode := range []string{"newer", "older", "zero"} {
		b.Run("version="+mode, func(b *testing.B) {
			s := NewMemory(MemoryOptions{})
			data := make([]byte, 100)
			keys := make([]string, 1<<20)
			for i := range keys {
				keys[i] = "key-" + strconv.Itoa(i)
			}
			stored := hlc.Version{Time: 1 << 40, Writer: 1}
			if mode == "older" {
				for _, k := range keys {
					_ = s.Put(ctx, k, Value{Codec: 1, Data: data, Version: stored})
				}
			}
			b.ReportAllocs()
			i := 0
			cpu0 := cpuTime()
			for b.Loop() {
				v := Value{Codec: 1, Data: data}
				switch mode {
				case "newer":
					v.Version = stored.Add(uint64(i + 1))
				case "older":
					v.Version = hlc.Version{Time: stored.Time - 1}
				}
				_, _ = s.Apply(ctx, keys[i&(len(keys)-1)], v)
				i++
			}
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
		})
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
	cpu0 := cpuTime()
	for i := range b.N {
		_, _, _ = s.Get(ctx, keys[(i*7919)&(len(keys)-1)])
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
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
