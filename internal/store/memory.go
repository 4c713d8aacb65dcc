package store

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/zshard/zshard/internal/hlc"
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
//   - an append-only arena of byte chunks holding the records: uvarint of
//     the key length shifted left by two and or-ed with two flags (bit 0:
//     tombstone, bit 1: versioned), uvarint value length, codec byte, the
//     16-byte version (hlc.Version.AppendBinary) when versioned, key bytes,
//     value bytes. A record written with the zero version has no version
//     bytes; a tombstone has no value bytes and codec 0.
//
// Neither holds Go pointers per key, so a store of millions of keys adds
// almost nothing to GC marking, and the overhead per key is one 8-byte
// table slot (at a load of 3/8 to 3/4) plus a few header bytes (and the 16
// version bytes of a versioned write). Tombstones are records like values:
// they take a slot and arena bytes until PurgeTombstones. A location
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
	bytes  int64    // sum of len(key)+len(value) over the values
	tombs  int      // records that are tombstones (of count)
	_      [32]byte // 128 bytes: stripes do not share cache lines
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

// Record flags, in the low bits of a record's first uvarint (the key
// length is above them).
const (
	recTombstone = 1 << iota // the record is a tombstone
	recVersioned             // the record holds a version
	recFlagBits  = iota
)

// record decodes the record at loc. The returned key and value alias the
// chunk.
func (st *stripe) record(loc uint32) (key string, v Value, size int) {
	return recordIn(st.chunks, loc)
}

func recordIn(chunks [][]byte, loc uint32) (key string, v Value, size int) {
	c := chunks[loc>>16-1][loc&0xffff:]
	kf, n1 := binary.Uvarint(c)
	vl, n2 := binary.Uvarint(c[n1:])
	h := n1 + n2
	v.Codec = c[h]
	h++
	if kf&recVersioned != 0 {
		v.Version = hlc.FromBinary(c[h:])
		h += hlc.Size
	}
	kl := int(kf >> recFlagBits)
	k := c[h : h+kl]
	end := h + kl + int(vl)
	if kf&recTombstone != 0 {
		v.Tombstone = true
	} else {
		v.Data = c[h+kl : end : end]
	}
	return unsafe.String(unsafe.SliceData(k), len(k)), v, end
}

// keyAt returns the key of the record at loc, aliasing the chunk.
func (st *stripe) keyAt(loc uint32) string {
	c := st.chunks[loc>>16-1][loc&0xffff:]
	kf, n1 := binary.Uvarint(c)
	_, n2 := binary.Uvarint(c[n1:])
	h := n1 + n2 + 1
	if kf&recVersioned != 0 {
		h += hlc.Size
	}
	k := c[h : h+int(kf>>recFlagBits)]
	return unsafe.String(unsafe.SliceData(k), len(k))
}

// find returns the slot holding key, or the empty slot where it would go.
func (st *stripe) find(tag uint32, key string) (int, bool) {
	mask := uint32(len(st.slots) - 1)
	for i := tag & mask; ; i = (i + 1) & mask {
		sl := st.slots[i]
		if sl == 0 {
			return int(i), false
		}
		if sl.tag() == tag && st.keyAt(sl.loc()) == key {
			return int(i), true
		}
	}
}

// write appends a record to the arena and returns its location. A
// tombstone is written without data and with codec 0.
func (st *stripe) write(key string, v Value) (uint32, error) {
	var hdr [2*binary.MaxVarintLen64 + 1 + hlc.Size]byte
	flags := uint64(0)
	if v.Tombstone {
		flags |= recTombstone
		v.Codec, v.Data = 0, nil
	}
	versioned := !v.Version.IsZero()
	if versioned {
		flags |= recVersioned
	}
	n := binary.PutUvarint(hdr[:], uint64(len(key))<<recFlagBits|flags)
	n += binary.PutUvarint(hdr[n:], uint64(len(v.Data)))
	hdr[n] = v.Codec
	n++
	if versioned {
		n += len(v.Version.AppendBinary(hdr[n:n]))
	}
	recLen := n + len(key) + len(v.Data)
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

// writeMode is what decides whether a write of a key replaces its record.
type writeMode uint8

const (
	always   writeMode = iota // Put: whatever is stored
	ifAbsent                  // PutIfAbsent: only when the key has no record
	ifNewer                   // Apply: unless the stored version is newer
)

// weight is the share of a record in Stats.Bytes: a tombstone has none.
func weight(key string, v Value) int64 {
	if v.Tombstone {
		return 0
	}
	return int64(len(key) + len(v.Data))
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Put implements Store.
func (s *Memory) Put(_ context.Context, key string, v Value) error {
	_, err := s.put(key, v, always)
	return err
}

// PutIfAbsent implements Store.
func (s *Memory) PutIfAbsent(_ context.Context, key string, v Value) (bool, error) {
	return s.put(key, v, ifAbsent)
}

// Apply implements Store: under the key's stripe lock, one lookup of the
// key, the version comparison, and the write.
func (s *Memory) Apply(_ context.Context, key string, v Value) (bool, error) {
	return s.put(key, v, ifNewer)
}

// ApplyMany implements Store. The entries are applied one by one, each
// under its stripe's lock: a failure (ErrFull, ErrClosed) leaves the
// entries before it applied.
func (s *Memory) ApplyMany(_ context.Context, entries []Entry, applied []bool) error {
	if applied != nil && len(applied) != len(entries) {
		return fmt.Errorf("%w: %d results for %d entries", ErrResultsLength, len(applied), len(entries))
	}
	for i := range entries {
		if entries[i].Key == "" {
			return ErrEmptyKey
		}
	}
	for i := range entries {
		ok, err := s.put(entries[i].Key, entries[i].Value, ifNewer)
		if err != nil {
			return err
		}
		if applied != nil {
			applied[i] = ok
		}
	}
	return nil
}

func (s *Memory) put(key string, v Value, mode writeMode) (bool, error) {
	if s.closed.Load() {
		return false, ErrClosed
	}
	if key == "" {
		return false, ErrEmptyKey
	}
	if v.Tombstone {
		v.Codec, v.Data = 0, nil
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
	var old Value
	oldSize := 0
	if found {
		if mode == ifAbsent {
			return false, nil
		}
		_, old, oldSize = st.record(st.slots[i].loc())
		if mode == ifNewer && v.Version.Compare(old.Version) < 0 {
			return false, nil
		}
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
	st.bytes += weight(key, v)
	st.tombs += b2i(v.Tombstone)
	if found {
		st.live -= oldSize
		st.bytes -= weight(key, old)
		st.tombs -= b2i(old.Tombstone)
	} else {
		st.count++
	}
	st.maybeCompact(false)
	return true, nil
}

// Get implements Store. It repeats Lookup's body rather than calling it:
// through Lookup, a GET of BenchmarkGet took about 40% longer.
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
	if v.Tombstone {
		return Value{}, false, nil
	}
	return v, true, nil
}

// Lookup implements Store.
func (s *Memory) Lookup(_ context.Context, key string) (Value, bool, error) {
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
	st.drop(i, key, v, size)
	st.maybeCompact(false)
	return !v.Tombstone, nil
}

// drop removes the record (key, v) of size bytes held by slot i.
func (st *stripe) drop(i int, key string, v Value, size int) {
	st.live -= size
	st.bytes -= weight(key, v)
	st.tombs -= b2i(v.Tombstone)
	st.remove(i)
}

// PurgeTombstones implements Store, stripe by stripe under each stripe's
// lock, skipping the stripes that hold no tombstone.
func (s *Memory) PurgeTombstones(ctx context.Context, beforeMillis int64) (int, error) {
	if s.closed.Load() {
		return 0, ErrClosed
	}
	purged := 0
	for si := range s.stripes {
		if err := ctx.Err(); err != nil {
			return purged, err
		}
		st := &s.stripes[si]
		st.mu.Lock()
		n := 0
		for i := 0; i < len(st.slots) && st.tombs > 0; {
			if sl := st.slots[i]; sl != 0 {
				k, v, size := st.record(sl.loc())
				if v.Tombstone && v.Version.Millis() < beforeMillis {
					st.drop(i, k, v, size)
					n++
					// The backward shift may have moved a record of the
					// probe run into slot i: look at it again. A record
					// moved from the start of the table to its end was
					// already looked at and is kept again.
					continue
				}
			}
			i++
		}
		if n > 0 {
			st.maybeCompact(false)
		}
		st.mu.Unlock()
		purged += n
	}
	return purged, nil
}

// Scan implements Store. A page costs one pass over the table of each
// stripe it touches (reading and hashing every key of the stripe) plus a
// sort of that stripe's matching keys.
func (s *Memory) Scan(ctx context.Context, from Cursor, r sharding.HashRange, limit int) (Page, error) {
	return s.scan(ctx, from, r, nil, limit, scanValues)
}

// ScanPartitions implements Store, at the cost of Scan over r: each stripe
// is read once whatever the number of partitions in set.
func (s *Memory) ScanPartitions(ctx context.Context, from Cursor, r sharding.HashRange, set *sharding.PartitionSet, limit int) (Page, error) {
	return s.scan(ctx, from, r, set, limit, scanValues)
}

// ScanRecords implements Store, at the cost of ScanPartitions.
func (s *Memory) ScanRecords(ctx context.Context, from Cursor, r sharding.HashRange, set *sharding.PartitionSet, limit int) (Page, error) {
	return s.scan(ctx, from, r, set, limit, scanRecords)
}

// DeletePartitions implements Store. It deletes stripe by stripe, under
// each stripe's lock, the records a ScanRecords page would return.
func (s *Memory) DeletePartitions(ctx context.Context, from Cursor, r sharding.HashRange, set *sharding.PartitionSet, limit int) (int, Cursor, bool, error) {
	page, err := s.scan(ctx, from, r, set, limit, deleteRecords)
	if err != nil {
		return 0, from, false, err
	}
	if len(page.Entries) == 0 {
		return 0, from, page.Done, nil
	}
	return len(page.Entries), page.Next, page.Done, nil
}

// scanMode is what a scan returns and does.
type scanMode uint8

const (
	scanValues    scanMode = iota // the values, not the tombstones
	scanRecords                   // the values and the tombstones
	deleteRecords                 // the records, which it deletes
)

// scan returns a page of the keys of r and set after from, of the records
// mode says; with deleteRecords, it deletes them, each stripe's share
// under that stripe's lock (the entries then alias records that are
// garbage, which stays valid).
func (s *Memory) scan(ctx context.Context, from Cursor, r sharding.HashRange, set *sharding.PartitionSet, limit int, mode scanMode) (Page, error) {
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
	del := mode == deleteRecords
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
			if v.Tombstone && mode == scanValues {
				continue
			}
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
				st.drop(j, e.Key, e.Value, size)
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
		st.Keys += int64(sp.count - sp.tombs)
		st.Bytes += sp.bytes
		st.Tombstones += int64(sp.tombs)
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
