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

	"github.com/zshard/zshard/sharding"
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
//   - an open-addressing hash table of 8-byte slots with linear probing and
//     backward-shift deletion; a slot packs 32 bits of the key hash (the
//     bits right below those that pick the stripe; they also pick the slot)
//     and the 32-bit location of the record, and
//   - an append-only arena of byte chunks holding the records: uvarint key
//     length, uvarint value length, codec byte, key bytes, value bytes.
//
// Neither holds Go pointers per key, so a store of millions of keys adds
// almost nothing to GC marking, and the overhead per key is one 8-byte
// table slot (at a load of 3/8 to 3/4) plus a few header bytes. A location
// is a chunk number (16 bits) and an offset in it (16 bits), so a stripe
// holds at most 65535 chunks: 4 GiB of records of up to 64 KiB, fewer when
// records are bigger (each gets a chunk of its own); Put returns ErrFull
// beyond that. Written
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

// slot is 0 when empty, else tag<<32 | loc with loc = (chunk index + 1)<<16
// | offset.
type slot uint64

func (s slot) tag() uint32 { return uint32(s >> 32) }
func (s slot) loc() uint32 { return uint32(s) }

// maxChunks bounds the chunks of one stripe (chunk numbers are 16 bits).
const maxChunks = 1<<16 - 1

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

func (s *Memory) index(h uint64) int {
	if s.shift == 64 {
		return 0
	}
	return int(h >> s.shift)
}

// tag is the 32 bits of h right below the stripe bits.
func (s *Memory) tag(h uint64) uint32 { return uint32((h << (64 - s.shift)) >> 32) }

// record decodes the record at loc. The returned key and value alias the
// chunk.
func (st *stripe) record(loc uint32) (key string, v Value, size int) {
	return recordIn(st.chunks, loc)
}

func recordIn(chunks [][]byte, loc uint32) (key string, v Value, size int) {
	c := chunks[loc>>16-1][loc&0xffff:]
	kl, n1 := binary.Uvarint(c)
	vl, n2 := binary.Uvarint(c[n1:])
	h := n1 + n2
	v.Codec = c[h]
	k := c[h+1 : h+1+int(kl)]
	end := h + 1 + int(kl) + int(vl)
	v.Data = c[h+1+int(kl) : end : end]
	return unsafe.String(unsafe.SliceData(k), len(k)), v, end
}

// find returns the slot holding key, or the empty slot where it would go.
func (st *stripe) find(tag uint32, key string) (int, bool) {
	mask := uint32(len(st.slots) - 1)
	for i := tag & mask; ; i = (i + 1) & mask {
		sl := st.slots[i]
		if sl == 0 {
			return int(i), false
		}
		if sl.tag() == tag {
			if k, _, _ := st.record(sl.loc()); k == key {
				return int(i), true
			}
		}
	}
}

// write appends a record to the arena and returns its location.
func (st *stripe) write(key string, v Value) (uint32, error) {
	var hdr [2 * binary.MaxVarintLen64]byte
	n := binary.PutUvarint(hdr[:], uint64(len(key)))
	n += binary.PutUvarint(hdr[n:], uint64(len(v.Data)))
	recLen := n + 1 + len(key) + len(v.Data)
	ci := len(st.chunks) - 1
	if ci < 0 || cap(st.chunks[ci])-len(st.chunks[ci]) < recLen {
		if len(st.chunks) >= maxChunks {
			return 0, ErrFull
		}
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
	return uint32(ci+1)<<16 | uint32(off), nil
}

func (st *stripe) grow() {
	old := st.slots
	st.slots = make([]slot, max(8, 2*len(old)))
	mask := uint32(len(st.slots) - 1)
	for _, sl := range old {
		if sl == 0 {
			continue
		}
		i := sl.tag() & mask
		for st.slots[i] != 0 {
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
		if sl == 0 {
			break
		}
		k := int(sl.tag()) & mask // the slot sl wants
		// sl stays if its wanted slot lies cyclically in (i, j].
		if (i <= j && i < k && k <= j) || (i > j && (i < k || k <= j)) {
			continue
		}
		st.slots[i] = sl
		i = j
	}
	st.slots[i] = 0
	st.count--
}

// maybeCompact copies the live records to fresh chunks when garbage
// dominates, or when force is set and there is any garbage.
func (st *stripe) maybeCompact(force bool) {
	garbage := st.total - st.live
	if garbage == 0 || (!force && (garbage < compactMin || garbage < st.live)) {
		return
	}
	old := st.chunks
	st.chunks, st.total, st.live = nil, 0, 0
	for i, sl := range st.slots {
		if sl == 0 {
			continue
		}
		k, v, _ := recordIn(old, sl.loc())
		// The live records fit: they fitted in the old chunks, which were
		// no fewer.
		loc, _ := st.write(k, v)
		st.slots[i] = slot(uint64(sl.tag())<<32 | uint64(loc))
	}
}

// Put implements Store.
func (s *Memory) Put(_ context.Context, key string, v Value) error {
	_, err := s.put(key, v, false)
	return err
}

// PutIfAbsent implements Store.
func (s *Memory) PutIfAbsent(_ context.Context, key string, v Value) (bool, error) {
	return s.put(key, v, true)
}

func (s *Memory) put(key string, v Value, ifAbsent bool) (bool, error) {
	if s.closed.Load() {
		return false, ErrClosed
	}
	if key == "" {
		return false, ErrEmptyKey
	}
	h := sharding.KeyHash(key)
	tag := s.tag(h)
	st := &s.stripes[s.index(h)]
	st.mu.Lock()
	defer st.mu.Unlock()
	if (st.count+1)*4 > len(st.slots)*3 {
		st.grow()
	}
	i, found := st.find(tag, key)
	if found && ifAbsent {
		return false, nil
	}
	oldLen, oldSize := 0, 0
	if found {
		_, old, size := st.record(st.slots[i].loc())
		oldLen, oldSize = len(old.Data), size
	}
	loc, err := st.write(key, v)
	if err != nil {
		st.maybeCompact(true)
		if found { // compaction moved the old record
			i, _ = st.find(tag, key)
		}
		if loc, err = st.write(key, v); err != nil {
			return false, err
		}
	}
	st.slots[i] = slot(uint64(tag)<<32 | uint64(loc))
	if found {
		st.live -= oldSize
		st.bytes += int64(len(v.Data) - oldLen)
	} else {
		st.count++
		st.bytes += int64(len(key) + len(v.Data))
	}
	st.maybeCompact(false)
	return true, nil
}

// Get implements Store.
func (s *Memory) Get(_ context.Context, key string) (Value, bool, error) {
	if s.closed.Load() {
		return Value{}, false, ErrClosed
	}
	h := sharding.KeyHash(key)
	st := &s.stripes[s.index(h)]
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.count == 0 {
		return Value{}, false, nil
	}
	i, found := st.find(s.tag(h), key)
	if !found {
		return Value{}, false, nil
	}
	_, v, _ := st.record(st.slots[i].loc())
	return v, true, nil
}

// Delete implements Store.
func (s *Memory) Delete(_ context.Context, key string) (bool, error) {
	if s.closed.Load() {
		return false, ErrClosed
	}
	h := sharding.KeyHash(key)
	st := &s.stripes[s.index(h)]
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.count == 0 {
		return false, nil
	}
	i, found := st.find(s.tag(h), key)
	if !found {
		return false, nil
	}
	_, v, size := st.record(st.slots[i].loc())
	st.live -= size
	st.bytes -= int64(len(key) + len(v.Data))
	st.remove(i)
	st.maybeCompact(false)
	return true, nil
}

// Scan implements Store. A page costs one pass over the table of each
// stripe it touches (reading and hashing every key of the stripe) plus a
// sort of that stripe's matching keys.
func (s *Memory) Scan(ctx context.Context, from Cursor, r sharding.HashRange, limit int) (Page, error) {
	return s.scan(ctx, from, r, nil, limit, false)
}

// ScanPartitions implements Store, at the cost of Scan over r: each stripe
// is read once whatever the number of partitions in set.
func (s *Memory) ScanPartitions(ctx context.Context, from Cursor, r sharding.HashRange, set *sharding.PartitionSet, limit int) (Page, error) {
	return s.scan(ctx, from, r, set, limit, false)
}

// DeletePartitions implements Store. It deletes stripe by stripe, under
// each stripe's lock, the keys a ScanPartitions page would return.
func (s *Memory) DeletePartitions(ctx context.Context, from Cursor, r sharding.HashRange, set *sharding.PartitionSet, limit int) (int, Cursor, bool, error) {
	page, err := s.scan(ctx, from, r, set, limit, true)
	if err != nil {
		return 0, from, false, err
	}
	if len(page.Entries) == 0 {
		return 0, from, page.Done, nil
	}
	return len(page.Entries), page.Next, page.Done, nil
}

// scan returns a page of the keys of r and set after from; with del, it
// deletes them, each stripe's share under that stripe's lock (the entries
// then alias records that are garbage, which stays valid).
func (s *Memory) scan(ctx context.Context, from Cursor, r sharding.HashRange, set *sharding.PartitionSet, limit int, del bool) (Page, error) {
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
	lg := 64 - s.shift // stripe bits; a slot knows the top lg+32 bits of its hash
	for i := first; i <= last; i++ {
		if err := ctx.Err(); err != nil {
			return Page{}, err
		}
		buf = buf[:0]
		st := &s.stripes[i]
		st.mu.Lock()
		for _, sl := range st.slots {
			if sl == 0 {
				continue
			}
			if lg <= 32 {
				// The hash lies in [lo, lo+span]: skip the key without
				// reading its record when that interval misses r, the
				// set or what follows the cursor.
				lo := uint64(sl.tag()) << (32 - lg)
				if lg > 0 {
					lo |= uint64(i) << (64 - lg)
				}
				hi := lo | (1<<(32-lg) - 1)
				if hi < r.From || (r.To != 0 && lo >= r.To) || (from.Started && hi < from.Hash) || !set.Overlaps(lo, hi) {
					continue
				}
			}
			k, v, _ := st.record(sl.loc())
			h := sharding.KeyHash(k)
			if !r.Contains(h) || !set.Contains(h) || (from.Started && !Less(from.Hash, from.Key, h, k)) {
				continue
			}
			buf = append(buf, Entry{Key: k, Hash: h, Value: v})
		}
		if !del {
			st.mu.Unlock()
		}
		slices.SortFunc(buf, func(a, b Entry) int {
			if c := cmp.Compare(a.Hash, b.Hash); c != 0 {
				return c
			}
			return cmp.Compare(a.Key, b.Key)
		})
		full := limit > 0 && len(page.Entries)+len(buf) >= limit
		take := len(buf)
		if full {
			take = limit - len(page.Entries)
		}
		if del {
			for _, e := range buf[:take] {
				j, _ := st.find(s.tag(e.Hash), e.Key)
				_, _, size := st.record(st.slots[j].loc())
				st.live -= size
				st.bytes -= int64(len(e.Key) + len(e.Value.Data))
				st.remove(j)
			}
			st.maybeCompact(false)
			st.mu.Unlock()
		}
		if full {
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
