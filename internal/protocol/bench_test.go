package protocol

import (
	"fmt"
	"strconv"
	"testing"
)

// BenchmarkDecodeBatch decodes BATCH messages of PUTs with 100-byte values;
// ns/op is per operation in the batch.
func BenchmarkDecodeBatch(b *testing.B) {
	for _, c := range []Codec{Msgpack, JSON} {
		for _, n := range []int{1, 128} {
			b.Run(fmt.Sprintf("%v/ops=%d", c, n), func(b *testing.B) {
				b.ReportAllocs()
				value := []byte(`"` + string(make([]byte, 98)) + `"`)
				if c == Msgpack {
					value = append([]byte{0xd9, 98}, make([]byte, 98)...)
				} else {
					for i := 1; i < 99; i++ {
						value[i] = 'v'
					}
				}
				bb := NewBatchBuilder(c, nil)
				for i := range n {
					bb.Put("key-"+strconv.Itoa(i), value)
				}
				msg := bb.Bytes()
				b.SetBytes(int64(len(msg) / n))
				b.ResetTimer()
				for i := 0; i < b.N; i += n {
					if _, _, err := DecodeRequest(msg, Limits{}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkBatchBuilder encodes PUTs with 100-byte values; ns/op is per op.
func BenchmarkBatchBuilder(b *testing.B) {
	b.ReportAllocs()
	value := append([]byte{0xd9, 98}, make([]byte, 98)...)
	bb := NewBatchBuilder(Msgpack, nil)
	key := make([]byte, 0, 32)
	var buf []byte
	for i := range b.N {
		if bb.Len() == 128 {
			buf = bb.Bytes()
			bb.Reset(Msgpack, buf)
		}
		key = strconv.AppendInt(append(key[:0], "key-"...), int64(i), 10)
		bb.Put(string(key), value)
	}
}
