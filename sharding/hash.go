package sharding

import (
	"encoding/binary"

	"github.com/cespare/xxhash/v2"
)

// PartitionHash is the hash a Placer receives for partition p:
// XXH64 of p as 8 little-endian bytes.
func PartitionHash(p int) uint64 {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(p))
	return xxhash.Sum64(b[:])
}

// nodeHash is the per-node seed of rendezvous hashing.
func nodeHash(name string) uint64 { return xxhash.Sum64String(name) }

// pointHash is the position of virtual node i of a node on the ring.
func pointHash(buf []byte, name string, i int) ([]byte, uint64) {
	buf = append(buf[:0], name...)
	buf = append(buf, 0)
	buf = binary.BigEndian.AppendUint32(buf, uint32(i))
	return buf, xxhash.Sum64(buf)
}

// fmix64 is the MurmurHash3 64-bit finalizer, a bijection with full avalanche.
func fmix64(k uint64) uint64 {
	k ^= k >> 33
	k *= 0xff51afd7ed558ccd
	k ^= k >> 33
	k *= 0xc4ceb9fe1a85ec53
	k ^= k >> 33
	return k
}
