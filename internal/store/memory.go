package store

import (
	"cmp"
	"context"
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/cespare/xxhash/v2"
)

// DefaultStripes is the default number of stripes of a Memory store.
const DefaultStripes = 4096

// MemoryOptions configures a Memory store. The zero value is valid.
type MemoryOptions struct {
	// Stripes is the number of independently locked stripes, rounded up to
	// a power of two. A stripe holds the keys of one slice of the hash
	// space, so a scan page touches few stripes. Default DefaultStripes.
	Stripes int
}

// Memory is an in-memory Store: the hash space is cut into stripes, each a
// Go map guarded by its own lock. A key and its value share one allocation
// (the map holds two strings pointing into it), which keeps the overhead
// per key at the map slot plus allocator rounding.
type Memory struct {
	stripes []stripe
	shift   uint // stripe index = hash >> shift
	keys    atomic.Int64
	bytes   atomic.Int64
	closed  atomic.Bool
}

type stripe struct {
	mu sync.RWMutex
	// m maps a key to its codec tag followed by the value bytes.
	m map[string]string
	_ [40]byte // keep hot stripes on separate cache lines
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty Memory store.
func NewMemory(opts MemoryOptions) *Memory {
	n := opts.Stripes
	if n <= 0 {
		n = DefaultStripes
	}
	lg := bits.Len(uint(n - 1)) // n rounded up to 1<<lg
	s := &Memory{stripes: make([]stripe, 1<<lg), shift: uint(64 - lg)}
	if lg == 0 {
		s.shift = 64
	}
	for i := range s.stripes {
		s.stripes[i].m = make(map[string]string)
	}
	return s
}

// Hash is the key hash that orders the store: xxhash.Sum64String.
func Hash(key string) uint64 { return xxhash.Sum64String(key) }

func (s *Memory) stripeOf(h uint64) int {
	if s.shift == 64 {
		return 0
	}
	return int(h >> s.shift)
}

// Put implements Store.
func (s *Memory) Put(_ context.Context, key string, v Value) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if key == "" {
		return ErrEmptyKey
	}
	buf := make([]byte, len(key)+1+len(v.Data))
	copy(buf, key)
	buf[len(key)] = v.Codec
	copy(buf[len(key)+1:], v.Data)
	k := unsafe.String(&buf[0], len(key))
	val := unsafe.String(&buf[len(key)], 1+len(v.Data))

	st := &s.stripes[s.stripeOf(Hash(key))]
	st.mu.Lock()
	old, existed := st.m[k]
	// On overwrite the runtime also replaces the stored key string, so the
	// old allocation is released.
	st.m[k] = val
	st.mu.Unlock()
	if existed {
		s.bytes.Add(int64(len(val) - len(old)))
	} else {
		s.keys.Add(1)
		s.bytes.Add(int64(len(key) + len(v.Data)))
	}
	return nil
}

func unpack(val string) Value {
	return Value{Codec: val[0], Data: unsafe.Slice(unsafe.StringData(val[1:]), len(val)-1)}
}

// Get implements Store.
func (s *Memory) Get(_ context.Context, key string) (Value, bool, error) {
	if s.closed.Load() {
		return Value{}, false, ErrClosed
	}
	st := &s.stripes[s.stripeOf(Hash(key))]
	st.mu.RLock()
	val, ok := st.m[key]
	st.mu.RUnlock()
	if !ok {
		return Value{}, false, nil
	}
	return unpack(val), true, nil
}

// Delete implements Store.
func (s *Memory) Delete(_ context.Context, key string) (bool, error) {
	if s.closed.Load() {
		return false, ErrClosed
	}
	st := &s.stripes[s.stripeOf(Hash(key))]
	st.mu.Lock()
	val, ok := st.m[key]
	if ok {
		delete(st.m, key)
	}
	st.mu.Unlock()
	if ok {
		s.keys.Add(-1)
		s.bytes.Add(-int64(len(key) + len(val) - 1))
	}
	return ok, nil
}

// Scan implements Store. A page costs one pass over each stripe it
// touches plus a sort of that stripe's matching keys.
func (s *Memory) Scan(ctx context.Context, from Cursor, r HashRange, limit int) (Page, error) {
	if s.closed.Load() {
		return Page{}, ErrClosed
	}
	start := r.From
	if from.Started && from.Hash > start {
		start = from.Hash
	}
	first := s.stripeOf(start)
	last := len(s.stripes) - 1
	if r.To != 0 {
		last = s.stripeOf(r.To - 1)
	}
	var page Page
	var buf []Entry
	for i := first; i <= last; i++ {
		if err := ctx.Err(); err != nil {
			return Page{}, err
		}
		buf = buf[:0]
		st := &s.stripes[i]
		st.mu.RLock()
		for k, val := range st.m {
			h := Hash(k)
			if !r.Contains(h) || (from.Started && !Less(from.Hash, from.Key, h, k)) {
				continue
			}
			buf = append(buf, Entry{Key: k, Hash: h, Value: unpack(val)})
		}
		st.mu.RUnlock()
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

// Stats implements Store.
func (s *Memory) Stats() Stats {
	return Stats{Keys: s.keys.Load(), Bytes: s.bytes.Load()}
}

// Close implements Store. The memory is released when the store is no
// longer referenced.
func (s *Memory) Close() error {
	s.closed.Store(true)
	return nil
}
