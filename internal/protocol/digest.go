package protocol

import (
	"encoding/binary"

	"github.com/cespare/xxhash/v2"

	"github.com/zshard/zshard/internal/hlc"
)

// Digest summarizes the keys of one partition in a DIGEST reply: how many
// there are, and the sum (mod 2^64) of EntryHash over them (RawEntryHash
// with "raw", VersionEntryHash over keys and tombstones with "versions"). The sum does
// not depend on the order of the keys, so two nodes that hold the same keys
// with the same values in a partition have equal digests, and a difference
// in one key changes the digest except with probability about 2^-64.
type Digest struct {
	Partition int
	Keys      uint64
	Sum       uint64
}

// digestOf is the Digest of a wire digest [partition, keys, sum]; ok is
// false for a partition beyond MaxPartitions.
func digestOf(v [3]uint64) (d Digest, ok bool) {
	if v[0] >= MaxPartitions {
		return Digest{}, false
	}
	return Digest{Partition: int(v[0]), Keys: v[1], Sum: v[2]}, true
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

// VersionEntryHash is the hash of one key, the version of its value or
// tombstone, and whether it is a tombstone, that a DIGEST with "versions"
// sums: XXH64(uvarint(len(key)) || key || version || tombstone), version
// being its 16-byte binary form (Time then Writer, big-endian) and
// tombstone one byte, 1 for a tombstone and 0 for a value. Two nodes agree
// on it when they hold the same versions of the same keys, whatever the
// values' codecs; the values themselves are not hashed.
func VersionEntryHash(key string, v hlc.Version, tombstone bool) uint64 {
	var n [binary.MaxVarintLen64]byte
	var tail [hlc.Size + 1]byte
	v.AppendBinary(tail[:0])
	if tombstone {
		tail[hlc.Size] = 1
	}
	var d xxhash.Digest
	d.Reset()
	_, _ = d.Write(n[:binary.PutUvarint(n[:], uint64(len(key)))])
	_, _ = d.WriteString(key)
	_, _ = d.Write(tail[:])
	return d.Sum64()
}
