package hlc

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"sync/atomic"
	"time"
)

// Sentinel errors.
var (
	// ErrSyntax is returned by Parse for text that is not 32 hex digits.
	ErrSyntax = errors.New("hlc: a version is 32 hex digits")
	// ErrFuture is returned by Observe for a version too far ahead of the
	// local clock.
	ErrFuture = errors.New("hlc: version too far in the future")
)

// logicalBits is the width of the logical counter in Version.Time.
const logicalBits = 16

// TextLen is the length of a version's text form.
const TextLen = 32

// Size is the length of a version's binary form.
const Size = 16

// Version orders the writes of one key. The zero Version is older than
// every other: it is what a value written before versions existed has.
type Version struct {
	// Time is a hybrid logical clock reading: Unix milliseconds << 16 |
	// a logical counter.
	Time uint64
	// Writer identifies who issued the version; it orders two versions of
	// equal Time.
	Writer uint64
}

// IsZero reports whether v is the zero Version.
func (v Version) IsZero() bool { return v == Version{} }

// Compare returns -1, 0 or +1 as v is older than, equal to, or newer than o.
func (v Version) Compare(o Version) int {
	switch {
	case v.Time < o.Time:
		return -1
	case v.Time > o.Time:
		return 1
	case v.Writer < o.Writer:
		return -1
	case v.Writer > o.Writer:
		return 1
	}
	return 0
}

// Newer reports whether v is strictly newer than o.
func (v Version) Newer(o Version) bool { return v.Compare(o) > 0 }

// Millis returns the physical part of v: Unix milliseconds.
func (v Version) Millis() int64 { return int64(v.Time >> logicalBits) }

// Add returns v with Time advanced by n: the n-th version after v of the
// same writer, as a batch that reserved consecutive versions numbers its
// operations.
func (v Version) Add(n uint64) Version { return Version{Time: v.Time + n, Writer: v.Writer} }

// AppendText appends the text form of v (32 lowercase hex digits) to dst.
func (v Version) AppendText(dst []byte) []byte {
	const digits = "0123456789abcdef"
	for _, w := range [2]uint64{v.Time, v.Writer} {
		for s := 60; s >= 0; s -= 4 {
			dst = append(dst, digits[(w>>s)&15])
		}
	}
	return dst
}

// String returns the text form of v.
func (v Version) String() string { return string(v.AppendText(make([]byte, 0, TextLen))) }

// Parse decodes the text form of a version.
func Parse[T string | []byte](text T) (Version, error) {
	if len(text) != TextLen {
		return Version{}, fmt.Errorf("%w: got %d characters", ErrSyntax, len(text))
	}
	var w [2]uint64
	for i := range TextLen {
		c := text[i]
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return Version{}, fmt.Errorf("%w: %q at %d", ErrSyntax, c, i)
		}
		w[i/16] = w[i/16]<<4 | uint64(d)
	}
	return Version{Time: w[0], Writer: w[1]}, nil
}

// AppendBinary appends the 16-byte big-endian form of v, which sorts as v
// does.
func (v Version) AppendBinary(dst []byte) []byte {
	dst = binary.BigEndian.AppendUint64(dst, v.Time)
	return binary.BigEndian.AppendUint64(dst, v.Writer)
}

// FromBinary decodes the first Size bytes of b, written by AppendBinary.
func FromBinary(b []byte) Version {
	return Version{Time: binary.BigEndian.Uint64(b), Writer: binary.BigEndian.Uint64(b[8:])}
}

// At returns the smallest Time of the physical instant t.
func At(t time.Time) uint64 { return uint64(t.UnixMilli()) << logicalBits }

// WriterOf returns a writer id derived from name (a node's name), stable
// across restarts.
func WriterOf(name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return h.Sum64()
}

// RandomWriter returns a random writer id, for a producer instance.
func RandomWriter() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:])
}

// DefaultMaxAhead is the default bound of Clock.Observe.
const DefaultMaxAhead = time.Minute

// Clock issues versions for one writer. It is safe for concurrent use;
// Now costs one atomic compare-and-swap.
type Clock struct {
	last     atomic.Uint64 // the highest Time issued or observed
	writer   uint64
	maxAhead time.Duration
	now      func() time.Time
}

// NewClock returns a clock issuing versions of writer. Observe refuses
// versions more than maxAhead ahead of the wall clock (0: DefaultMaxAhead).
func NewClock(writer uint64, maxAhead time.Duration) *Clock {
	if maxAhead <= 0 {
		maxAhead = DefaultMaxAhead
	}
	return &Clock{writer: writer, maxAhead: maxAhead, now: time.Now}
}

// Writer returns the clock's writer id.
func (c *Clock) Writer() uint64 { return c.writer }

// Now issues a version newer than every version issued or observed before.
func (c *Clock) Now() Version { return c.Reserve(1) }

// Reserve issues n consecutive versions (n >= 1) and returns the first;
// the others are its Add(1) ... Add(n-1).
func (c *Clock) Reserve(n int) Version {
	phys := At(c.now())
	for {
		old := c.last.Load()
		next := max(phys, old+1)
		if c.last.CompareAndSwap(old, next+uint64(n)-1) {
			return Version{Time: next, Writer: c.writer}
		}
	}
}

// Observe advances the clock past v, so later versions order after it. A
// version more than the clock's bound ahead of the wall clock is refused
// with an error wrapping ErrFuture and not observed.
func (c *Clock) Observe(v Version) error {
	now := c.now()
	if ahead := time.Duration(v.Millis()-now.UnixMilli()) * time.Millisecond; ahead > c.maxAhead {
		return fmt.Errorf("%w: %v is %v ahead of this clock (bound %v)", ErrFuture, v, ahead, c.maxAhead)
	}
	for {
		old := c.last.Load()
		if v.Time <= old || c.last.CompareAndSwap(old, v.Time) {
			return nil
		}
	}
}
