package store

import (
	"cmp"
	"context"
	"encoding/binary"
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/cespare/xxhash/v2"
)

// DefaultStripes is the default number of stripes of a Memory store.
const DefaultStripes = 256

// Arena chunk sizes: a stripe's first chunk is minChunk bytes, each next
// one twice the last, up to maxChunk; a record bigger than that gets a
// chunk of its own.
const (
	minChunk = 4 << 10
	maxChunk = 64 << 10
	// compactMin is the garbage a stripe tolerates before compacting.
	compactMin = 32 << 10
)

// MemoryOptions configures a Memory store. The zero value is valid.
type MemoryOptions struct {
	// Stripes is the number of independently locked stripes, rounded up to
	// a power of two. A stripe holds the keys of one slice of the hash
	// space (by its top bits), so a scan page touches few stripes.
	// Default DefaultStripes.
	Stripes int
}

// Memory is an in-memory Store built to keep the garbage collector out of
// the way: the hash space is cut into stripes, each guarded by its own
// lock, holding
//
//   - an open-addressing hash table of (hash, location) pairs with linear
//     probing and backward-shift deletion, and
//   - an append-only arena of byte chunks holding the records: uvarint key
//     length, uvarint value length, codec byte, key bytes, value bytes.
//
// Neither holds Go pointers per key, so a store of millions of keys adds
// almost nothing to GC marking, and the overhead per key is one 16-byte
// table slot (at a load of 3/8 to 3/4) plus a few header bytes. Written
// bytes are never modified: an overwrite or delete leaves the old record
// as garbage, and a stripe compacts (copies its live records to fresh
// chunks) once its garbage exceeds both compactMin and its live bytes, so
// memory stays within about twice the live data and compaction costs O(1)
// amortized per written byte. Values and keys handed out alias the chunks,
// which is safe because chunks are immutable once written.
type Memory struct {
	stripes []stripe
	shift   uint // stripe index = hash >> shift
	closed  atomic.Bool
}

type slot struct {
	hash uint64
	loc  uint64 // 0: empty; else (chunk index + 1) << 32 | offset
}

type stripe struct {
	mu     sync.Mutex
	slots  []slot // len is 0 or a power of two
	count  int
	chunks [][]byte
	live   int      // record bytes reachable from slots
	total  int      // record bytes written to chunks
	bytes  int64    // sum of len(key)+len(value) over the keys
	_      [24]byte // 128 bytes: stripes do not share cache lines
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty Memory store.
func NewMemory(opts MemoryOptions) *Memory {
	n := opts.Stripes
	if n <= 0 {
		n = DefaultStripes
	}
	lg := bits.Len(uint(n - 1)) // n rounded up to 1<<lg
	return &Memory{stripes: make([]stripe, 1<<lg), shift: uint(64 - lg)}
}

// Hash is the key hash that orders the store: xxhash.Sum64String.
func Hash(key string) uint64 { return xxhash.Sum64String(key) }

func (s *Memory) stripeOf(h uint64) *stripe { return &s.stripes[s.index(h)] }

func (s *Memory) index(h uint64) int {
	if s.shift == 64 {
		return 0
	}
	return int(h >> s.shift)
}

// record decodes the record at loc. The returned key and value alias the
// chunk.
func (st *stripe) record(loc uint64) (key string, v Value, size int) {
	return recordIn(st.chunks, loc)
}

func recordIn(chunks [][]byte, loc uint64) (key string, v Value, size int) {
	c := chunks[loc>>32-1][uint32(loc):]
	kl, n1 := binary.Uvarint(c)
	vl, n2 := binary.Uvarint(c[n1:])
	h := n1 + n2
	v.Codec = c[h]
	k := c[h+1 : h+1+int(kl)]
	v.Data = c[h+1+int(kl) : h+1+int(kl)+int(vl) : h+1+int(kl)+int(vl)]
	return unsafe.String(unsafe.SliceData(k), len(k)), v, h + 1 + int(kl) + int(vl)
}

func (st *stripe) recordKey(loc uint64) string {
	k, _, _ := st.record(loc)
	return k
}

// find returns the slot holding key, or the empty slot where it would go.
func (st *stripe) find(h uint64, key string) (int, bool) {
	mask := uint64(len(st.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		sl := &st.slots[i]
		if sl.loc == 0 {
			return int(i), false
		}
		if sl.hash == h && st.recordKey(sl.loc) == key {
			return int(i), true
		}
	}
}

// write appends a record to the arena and returns its location.
func (st *stripe) write(key string, v Value) (uint64, int) {
	var hdr [2 * binary.MaxVarintLen64]byte
	n := binary.PutUvarint(hdr[:], uint64(len(key)))
	n += binary.PutUvarint(hdr[n:], uint64(len(v.Data)))
	recLen := n + 1 + len(key) + len(v.Data)
	ci := len(st.chunks) - 1
	if ci < 0 || cap(st.chunks[ci])-len(st.chunks[ci]) < recLen {
		size := minChunk
		if ci >= 0 {
			size = min(2*cap(st.chunks[ci]), maxChunk)
		}
		size = max(size, recLen)
		st.chunks = append(st.chunks, make([]byte, 0, size))
		ci++
	}
	c := st.chunks[ci]
	off := len(c)
	c = append(c, hdr[:n]...)
	c = append(c, v.Codec)
	c = append(c, key...)
	c = append(c, v.Data...)
	st.chunks[ci] = c
	st.total += recLen
	st.live += recLen
	return uint64(ci+1)<<32 | uint64(off), recLen
}

func (st *stripe) grow() {
	old := st.slots
	st.slots = make([]slot, max(8, 2*len(old)))
	mask := uint64(len(st.slots) - 1)
	for _, sl := range old {
		if sl.loc == 0 {
			continue
		}
		i := sl.hash & mask
		for st.slots[i].loc != 0 {
			i = (i + 1) & mask
		}
		st.slots[i] = sl
	}
}

// remove empties slot i with backward-shift deletion, so probe sequences
// never need tombstones.
func (st *stripe) remove(i int) {
	mask := len(st.slots) - 1
	j := i
	for {
		j = (j + 1) & mask
		sl := st.slots[j]
		if sl.loc == 0 {
			break
		}
		k := int(sl.hash) & mask // the slot sl wants
		// sl stays if its wanted slot lies cyclically in (i, j].
		if (i <= j && i < k && k <= j) || (i > j && (i < k || k <= j)) {
			continue
		}
		st.slots[i] = sl
		i = j
	}
	st.slots[i] = slot{}
	st.count--
}

// maybeCompact copies the live records to fresh chunks when garbage
// dominates.
func (st *stripe) maybeCompact() {
	garbage := st.total - st.live
	if garbage < compactMin || garbage < st.live {
		return
	}
	old := st.chunks
	st.chunks, st.total, st.live = nil, 0, 0
	for i := range st.slots {
		if loc := st.slots[i].loc; loc != 0 {
			k, v, _ := recordIn(old, loc)
			st.slots[i].loc, _ = st.write(k, v)
		}
	}
}

// Put implements Store.
func (s *Memory) Put(_ context.Context, key string, v Value) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if key == "" {
		return ErrEmptyKey
	}
	h := Hash(key)
	st := s.stripeOf(h)
	st.mu.Lock()
	if (st.count+1)*4 > len(st.slots)*3 {
		st.grow()
	}
	i, found := st.find(h, key)
	oldLen := 0
	if found {
		_, old, size := st.record(st.slots[i].loc)
		oldLen = len(old.Data)
		st.live -= size
	}
	loc, _ := st.write(key, v)
	st.slots[i] = slot{hash: h, loc: loc}
	if found {
		st.bytes += int64(len(v.Data) - oldLen)
	} else {
		st.count++
		st.bytes += int64(len(key) + len(v.Data))
	}
	st.maybeCompact()
	st.mu.Unlock()
	return nil
}

// Get implements Store.
func (s *Memory) Get(_ context.Context, key string) (Value, bool, error) {
	if s.closed.Load() {
		return Value{}, false, ErrClosed
	}
	h := Hash(key)
	st := s.stripeOf(h)
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.count == 0 {
		return Value{}, false, nil
	}
	i, found := st.find(h, key)
	if !found {
		return Value{}, false, nil
	}
	_, v, _ := st.record(st.slots[i].loc)
	return v, true, nil
}

// Delete implements Store.
func (s *Memory) Delete(_ context.Context, key string) (bool, error) {
	if s.closed.Load() {
		return false, ErrClosed
	}
	h := Hash(key)
	st := s.stripeOf(h)
	st.mu.Lock()
	if st.count == 0 {
		st.mu.Unlock()
		return false, nil
	}
	i, found := st.find(h, key)
	var vlen int
	if found {
		_, v, size := st.record(st.slots[i].loc)
		vlen = len(v.Data)
		st.live -= size
		st.bytes -= int64(len(key) + vlen)
		st.remove(i)
		st.maybeCompact()
	}
	st.mu.Unlock()
	return found, nil
}

// Scan implements Store. A page costs one pass over the table of each
// stripe it touches plus a sort of that stripe's matching keys.
func (s *Memory) Scan(ctx context.Context, from Cursor, r HashRange, limit int) (Page, error) {
	if s.closed.Load() {
		return Page{}, ErrClosed
	}
	start := r.From
	if from.Started && from.Hash > start {
		start = from.Hash
	}
	first := s.index(start)
	last := len(s.stripes) - 1
	if r.To != 0 {
		last = s.index(r.To - 1)
	}
	var page Page
	var buf []Entry
	for i := first; i <= last; i++ {
		if err := ctx.Err(); err != nil {
			return Page{}, err
		}
		buf = buf[:0]
		st := &s.stripes[i]
		st.mu.Lock()
		for _, sl := range st.slots {
			if sl.loc == 0 || !r.Contains(sl.hash) || (from.Started && sl.hash < from.Hash) {
				continue
			}
			k, v, _ := st.record(sl.loc)
			if from.Started && !Less(from.Hash, from.Key, sl.hash, k) {
				continue
			}
			buf = append(buf, Entry{Key: k, Hash: sl.hash, Value: v})
		}
		st.mu.Unlock()
		slices.SortFunc(buf, func(a, b Entry) int {
			if c := cmp.Compare(a.Hash, b.Hash); c != 0 {
				return c
			}
			return cmp.Compare(a.Key, b.Key)
		})
		if limit > 0 && len(page.Entries)+len(buf) >= limit {
			take := limit - len(page.Entries)
			page.Entries = append(page.Entries, buf[:take]...)
			end := page.Entries[len(page.Entries)-1]
			page.Next = Cursor{Hash: end.Hash, Key: end.Key, Started: true}
			// Later stripes are not inspected, so a full page ending at a
			// stripe boundary may be followed by an empty, Done page.
			page.Done = take == len(buf) && i == last
			return page, nil
		}
		page.Entries = append(page.Entries, buf...)
	}
	page.Done = true
	return page, nil
}

// Stats implements Store. It visits every stripe (the counters live under
// the stripe locks, so writers share no counter), so it is meant for
// monitoring, not for hot paths.
func (s *Memory) Stats() Stats {
	var st Stats
	for i := range s.stripes {
		sp := &s.stripes[i]
		sp.mu.Lock()
		st.Keys += int64(sp.count)
		st.Bytes += sp.bytes
		sp.mu.Unlock()
	}
	return st
}

// Close implements Store. The memory is released when the store is no
// longer referenced.
func (s *Memory) Close() error {
	s.closed.Store(true)
	return nil
}
