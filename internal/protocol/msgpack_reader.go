package protocol

import (
	"encoding/binary"
	"math"
)

// mpReader reads msgpack from a byte slice without allocating. It accepts
// exactly the msgpack specification (https://github.com/msgpack/msgpack/blob/master/spec.md).
type mpReader struct {
	b []byte
	i int
}

var errTruncated = errorf(CodeBadRequest, "truncated msgpack")

func (r *mpReader) need(n int) error {
	if n < 0 || len(r.b)-r.i < n {
		return errTruncated
	}
	return nil
}

func (r *mpReader) byte1() (byte, error) {
	if r.i >= len(r.b) {
		return 0, errTruncated
	}
	c := r.b[r.i]
	r.i++
	return c, nil
}

// uintN reads an n-byte big-endian unsigned integer.
func (r *mpReader) uintN(n int) (uint64, error) {
	if err := r.need(n); err != nil {
		return 0, err
	}
	p := r.b[r.i : r.i+n]
	r.i += n
	switch n {
	case 1:
		return uint64(p[0]), nil
	case 2:
		return uint64(binary.BigEndian.Uint16(p)), nil
	case 4:
		return uint64(binary.BigEndian.Uint32(p)), nil
	default:
		return binary.BigEndian.Uint64(p), nil
	}
}

// length reads the n-byte length that follows a header byte and checks
// that at least min*length bytes remain.
func (r *mpReader) length(n, min int) (int, error) {
	u, err := r.uintN(n)
	if err != nil {
		return 0, err
	}
	if u > uint64(len(r.b)-r.i) || (min > 0 && u*uint64(min) > uint64(len(r.b)-r.i)) {
		return 0, errTruncated
	}
	return int(u), nil
}

// mapLen reads a map header. ok is false (and nothing consumed) when the
// next object is not a map.
func (r *mpReader) mapLen() (n int, ok bool, err error) { return r.containerLen(0x80, 0xde, 2) }

// arrayLen reads an array header; ok is false when the next object is not
// an array.
func (r *mpReader) arrayLen() (n int, ok bool, err error) { return r.containerLen(0x90, 0xdc, 1) }

// containerLen reads the header of a map or array, whose fix form is
// fix|n and whose 16- and 32-bit forms are hdr16 and hdr16+1; each element
// needs at least min bytes.
func (r *mpReader) containerLen(fix, hdr16 byte, min int) (n int, ok bool, err error) {
	if r.i >= len(r.b) {
		return 0, false, errTruncated
	}
	c := r.b[r.i]
	switch {
	case c&0xf0 == fix:
		r.i++
		return int(c & 0x0f), true, nil
	case c == hdr16, c == hdr16+1:
		r.i++
		n, err = r.length(2<<(c-hdr16), min)
		return n, true, err
	}
	return 0, false, nil
}

// strBytes reads a str object; ok is false when the next object is not a str.
func (r *mpReader) strBytes() (s []byte, ok bool, err error) {
	if r.i >= len(r.b) {
		return nil, false, errTruncated
	}
	c := r.b[r.i]
	var n int
	switch {
	case c >= 0xa0 && c <= 0xbf:
		r.i++
		n = int(c & 0x1f)
	case c == 0xd9:
		r.i++
		n, err = r.length(1, 1)
	case c == 0xda:
		r.i++
		n, err = r.length(2, 1)
	case c == 0xdb:
		r.i++
		n, err = r.length(4, 1)
	default:
		return nil, false, nil
	}
	if err != nil {
		return nil, true, err
	}
	if err = r.need(n); err != nil {
		return nil, true, err
	}
	s = r.b[r.i : r.i+n : r.i+n]
	r.i += n
	return s, true, nil
}

// integer reads any msgpack integer as int64 (neg false) or uint64; ok is
// false when the next object is not an integer.
func (r *mpReader) integer() (u uint64, neg bool, ok bool, err error) {
	if r.i >= len(r.b) {
		return 0, false, false, errTruncated
	}
	c := r.b[r.i]
	switch {
	case c <= 0x7f:
		r.i++
		return uint64(c), false, true, nil
	case c >= 0xe0:
		r.i++
		return uint64(int64(int8(c))), true, true, nil
	case c >= 0xcc && c <= 0xcf:
		r.i++
		u, err = r.uintN(1 << (c - 0xcc))
		return u, false, true, err
	case c >= 0xd0 && c <= 0xd3:
		r.i++
		n := 1 << (c - 0xd0)
		u, err = r.uintN(n)
		if err != nil {
			return 0, false, true, err
		}
		shift := 64 - 8*n
		v := int64(u<<shift) >> shift // sign-extend
		if v < 0 {
			return uint64(v), true, true, nil
		}
		return uint64(v), false, true, nil
	}
	return 0, false, false, nil
}

// skip advances past one complete object of any type. It iterates rather
// than recursing, so nesting depth cannot exhaust the stack.
func (r *mpReader) skip() error {
	pending := uint64(1)
	for pending > 0 {
		pending--
		c, err := r.byte1()
		if err != nil {
			return err
		}
		var n, extra int // n: bytes of payload to skip; extra: objects to add
		switch {
		case c <= 0x7f, c >= 0xe0, c == 0xc0, c == 0xc2, c == 0xc3:
		case c >= 0x80 && c <= 0x8f:
			extra = 2 * int(c&0x0f)
		case c >= 0x90 && c <= 0x9f:
			extra = int(c & 0x0f)
		case c >= 0xa0 && c <= 0xbf:
			n = int(c & 0x1f)
		case c == 0xc1:
			return errorf(CodeBadRequest, "invalid msgpack byte 0xc1")
		case c >= 0xc4 && c <= 0xc6: // bin 8/16/32
			if n, err = r.length(1<<(c-0xc4), 1); err != nil {
				return err
			}
		case c >= 0xc7 && c <= 0xc9: // ext 8/16/32
			if n, err = r.length(1<<(c-0xc7), 1); err != nil {
				return err
			}
			n++ // type byte
		case c == 0xca:
			n = 4
		case c == 0xcb:
			n = 8
		case c >= 0xcc && c <= 0xcf:
			n = 1 << (c - 0xcc)
		case c >= 0xd0 && c <= 0xd3:
			n = 1 << (c - 0xd0)
		case c >= 0xd4 && c <= 0xd8: // fixext 1..16
			n = 1 + 1<<(c-0xd4)
		case c == 0xd9, c == 0xda, c == 0xdb:
			if n, err = r.length(1<<(c-0xd9), 1); err != nil {
				return err
			}
		case c == 0xdc, c == 0xdd:
			if extra, err = r.length(2<<(c-0xdc), 1); err != nil {
				return err
			}
		case c == 0xde, c == 0xdf:
			if extra, err = r.length(2<<(c-0xde), 2); err != nil {
				return err
			}
			extra *= 2
		}
		if err := r.need(n); err != nil {
			return err
		}
		r.i += n
		pending += uint64(extra)
		// Every pending object needs at least one byte.
		if pending > uint64(len(r.b)-r.i) {
			return errTruncated
		}
	}
	return nil
}

// raw returns the bytes of the next complete object.
func (r *mpReader) raw() ([]byte, error) {
	start := r.i
	if err := r.skip(); err != nil {
		return nil, err
	}
	return r.b[start:r.i:r.i], nil
}

// str reads the string field f; it aliases the message.
func (rd *mpReader) str(f field) ([]byte, error) {
	b, ok, err := rd.strBytes()
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errorf(CodeBadRequest, "%q must be a string", f)
	}
	return b, nil
}

// bin returns the bytes of a bin object; they alias the message.
func (rd *mpReader) bin(f field) ([]byte, error) {
	c, err := rd.byte1()
	if err != nil {
		return nil, err
	}
	if c < 0xc4 || c > 0xc6 {
		return nil, errorf(CodeBadRequest, "%q must be a msgpack bin", f)
	}
	n, err := rd.length(1<<(c-0xc4), 1)
	if err != nil {
		return nil, err
	}
	b := rd.b[rd.i : rd.i+n : rd.i+n]
	rd.i += n
	return b, nil
}

// bool reads the boolean field f.
func (rd *mpReader) bool(f field) (bool, error) {
	c, err := rd.byte1()
	if err != nil {
		return false, err
	}
	if c != 0xc2 && c != 0xc3 {
		return false, errorf(CodeBadRequest, "%q must be true or false", f)
	}
	return c == 0xc3, nil
}

// uint64 reads the unsigned field f.
func (rd *mpReader) uint64(f field) (uint64, error) {
	u, neg, ok, err := rd.integer()
	if err != nil {
		return 0, err
	}
	if !ok || neg {
		return 0, errorf(CodeBadRequest, "%q must be an unsigned 64-bit integer", f)
	}
	return u, nil
}

// smallInt reads the integer field f, clamped to the range validate
// checks: a negative one is -1, one beyond MaxInt32 is MaxInt32.
func (rd *mpReader) smallInt(f field) (int, error) {
	u, neg, ok, err := rd.integer()
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, errorf(CodeBadRequest, "%q must be an integer", f)
	}
	if neg {
		return -1, nil // validate reports it
	}
	if u > math.MaxInt32 {
		return math.MaxInt32, nil // validate reports it as too large
	}
	return int(u), nil
}
