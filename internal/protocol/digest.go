package protocol

import (
	"encoding/binary"

	"github.com/cespare/xxhash/v2"
)

// Digest summarizes the keys of one partition in a DIGEST reply: how many
// there are, and the sum (mod 2^64) of EntryHash over them. The sum does
// not depend on the order of the keys, so two nodes that hold the same keys
// with the same values in a partition have equal digests, and a difference
// in one key changes the digest except with probability about 2^-64.
type Digest struct {
	Partition int
	Keys      uint64
	Sum       uint64
}

// RawEntryHash is the hash of one key and its value as stored that a DIGEST
// with "raw" sums: XXH64(uvarint(len(key)) || key || codec || value), codec
// being one byte, 1 for JSON and 2 for msgpack. Two nodes agree on it
// exactly when they hold the same bytes with the same codec, which is what
// a raw copy writes; converted values could agree while the bytes differ,
// or fail to convert at all.
func RawEntryHash(key string, c Codec, value []byte) uint64 {
	var n [binary.MaxVarintLen64]byte
	cb := [1]byte{byte(c)}
	var d xxhash.Digest
	d.Reset()
	_, _ = d.Write(n[:binary.PutUvarint(n[:], uint64(len(key)))])
	_, _ = d.WriteString(key)
	_, _ = d.Write(cb[:])
	_, _ = d.Write(value)
	return d.Sum64()
}

// EntryHash is the hash of one key and value that Digest sums:
// XXH64(uvarint(len(key)) || key || value), value being the raw encoding a
// SCAN in the request's codec returns.
func EntryHash(key string, value []byte) uint64 {
	var n [binary.MaxVarintLen64]byte
	var d xxhash.Digest
	d.Reset()
	_, _ = d.Write(n[:binary.PutUvarint(n[:], uint64(len(key)))])
	_, _ = d.WriteString(key)
	_, _ = d.Write(value)
	return d.Sum64()
}
