package durable

import (
	"math/bits"
	"sync"
	"sync/atomic"
)

// keyFilter is a scalable Bloom filter over the hashes of the keys the
// store holds: "absent" is certain, "maybe present" may be wrong (about
// 0.3% of the time, and for every key deleted since it was added). Put asks
// it to skip the read of the previous value when the key was never stored,
// the common case of a load: that read, not the write, was most of a Put's
// cost (a memtable and sstable lookup for a key that is not there).
//
// It grows by adding a part twice the capacity of the last one, so it never
// has to be rebuilt; adds go to the newest part, lookups ask every part.
// Safe for concurrent use: bits are set atomically, growth is serialised.
type keyFilter struct {
	mu    sync.Mutex                   // serialises growth
	parts atomic.Pointer[[]*bloomPart] // oldest first; replaced on growth
}

// Filter sizing: 16 bits and 4 probes per key give a false positive rate
// of about 0.24% at capacity; the first part holds 1<<20 keys (2 MiB).
const (
	filterBitsPerKey = 16
	filterProbes     = 4
	filterFirstCap   = 1 << 20
)

type bloomPart struct {
	words []atomic.Uint64
	mask  uint64 // bit index mask: len(words)*64 - 1
	cap   int64  // keys it is sized for
	added atomic.Int64
}

func newBloomPart(capacity int64) *bloomPart {
	nbits := uint64(1) << bits.Len64(uint64(capacity*filterBitsPerKey)-1) // a power of two
	return &bloomPart{words: make([]atomic.Uint64, nbits/64), mask: nbits - 1, cap: capacity}
}

func newKeyFilter() *keyFilter {
	f := &keyFilter{}
	parts := []*bloomPart{newBloomPart(filterFirstCap)}
	f.parts.Store(&parts)
	return f
}

// probes derives the probe positions of a key hash by double hashing.
func probes(h uint64) (h1, h2 uint64) {
	return h, (h*0x9e3779b97f4a7c15)>>17 | 1
}

// add records key hash h.
func (f *keyFilter) add(h uint64) {
	parts := *f.parts.Load()
	p := parts[len(parts)-1]
	if p.added.Add(1) > p.cap {
		p = f.grow(p)
	}
	h1, h2 := probes(h)
	for i := range uint64(filterProbes) {
		b := (h1 + i*h2) & p.mask
		p.words[b/64].Or(1 << (b % 64))
	}
}

// grow adds a part twice the size of full unless another goroutine did,
// and returns the newest part.
func (f *keyFilter) grow(full *bloomPart) *bloomPart {
	f.mu.Lock()
	defer f.mu.Unlock()
	parts := *f.parts.Load()
	if last := parts[len(parts)-1]; last != full {
		return last
	}
	next := append(append([]*bloomPart(nil), parts...), newBloomPart(2*full.cap))
	f.parts.Store(&next)
	return next[len(next)-1]
}

// mayContain reports whether key hash h may have been added.
func (f *keyFilter) mayContain(h uint64) bool {
	h1, h2 := probes(h)
	for _, p := range *f.parts.Load() {
		hit := true
		for i := range uint64(filterProbes) {
			b := (h1 + i*h2) & p.mask
			if p.words[b/64].Load()&(1<<(b%64)) == 0 {
				hit = false
				break
			}
		}
		if hit {
			return true
		}
	}
	return false
}
