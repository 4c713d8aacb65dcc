package protocol

import (
	"encoding/binary"
	"math"
	"unsafe"
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
func (r *mpReader) mapLen() (n int, ok bool, err error) {
	if r.i >= len(r.b) {
		return 0, false, errTruncated
	}
	c := r.b[r.i]
	switch {
	case c >= 0x80 && c <= 0x8f:
		r.i++
		return int(c & 0x0f), true, nil
	case c == 0xde:
		r.i++
		n, err = r.length(2, 2)
		return n, true, err
	case c == 0xdf:
		r.i++
		n, err = r.length(4, 2)
		return n, true, err
	}
	return 0, false, nil
}

// arrayLen reads an array header; ok is false when the next object is not
// an array.
func (r *mpReader) arrayLen() (n int, ok bool, err error) {
	if r.i >= len(r.b) {
		return 0, false, errTruncated
	}
	c := r.b[r.i]
	switch {
	case c >= 0x90 && c <= 0x9f:
		r.i++
		return int(c & 0x0f), true, nil
	case c == 0xdc:
		r.i++
		n, err = r.length(2, 1)
		return n, true, err
	case c == 0xdd:
		r.i++
		n, err = r.length(4, 1)
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

func decodeMsgpack(msg []byte, lim Limits) (Request, error) {
	rd := mpReader{b: msg}
	var r Request
	if err := rd.request(&r, lim, false); err != nil {
		return Request{}, err
	}
	if rd.i != len(msg) {
		return Request{}, errorf(CodeBadRequest, "%d trailing bytes after the msgpack map", len(msg)-rd.i)
	}
	return r, nil
}

// request decodes one request into *r, which must be zero.
func (rd *mpReader) request(r *Request, lim Limits, nested bool) error {
	n, ok, err := rd.mapLen()
	if err != nil {
		return err
	}
	if !ok {
		return errorf(CodeBadRequest, "request must be a msgpack map")
	}
	var opName, raw []byte
	var vc Codec
	haveOp := false
	for range n {
		name, ok, err := rd.strBytes()
		if err != nil {
			return err
		}
		if !ok {
			// A non-string map key cannot name a field: skip key and value.
			if err := rd.skip(); err != nil {
				return err
			}
			if err := rd.skip(); err != nil {
				return err
			}
			continue
		}
		switch string(name) {
		case "op":
			if opName, err = rd.str("op"); err != nil {
				return err
			}
			haveOp = true
		case "id":
			r.ID, err = rd.raw()
		case "key":
			var b []byte
			if b, err = rd.str("key"); err == nil {
				r.Key = aliasString(b)
			}
		case "value":
			r.Value, err = rd.raw()
		case "raw_value":
			raw, err = rd.bin("raw_value")
		case "value_codec":
			var b []byte
			if b, err = rd.str("value_codec"); err == nil {
				vc, err = parseValueCodec(string(b))
			}
		case "if_absent":
			r.IfAbsent, err = rd.bool("if_absent")
		case "cursor":
			var b []byte
			if b, err = rd.str("cursor"); err == nil {
				r.Cursor = aliasString(b)
			}
		case "limit":
			r.Limit, err = rd.smallInt("limit")
		case "hash_from":
			r.HashFrom, err = rd.uint64("hash_from")
		case "hash_to":
			r.HashTo, err = rd.uint64("hash_to")
		case "partitions":
			r.Partitions, err = rd.smallInt("partitions")
		case "bitmap":
			var b []byte
			if b, err = rd.str("bitmap"); err == nil {
				r.Bitmap, err = decodeBase64("bitmap", b)
			}
		case "raw":
			r.Raw, err = rd.bool("raw")
		case "token":
			var b []byte
			if b, err = rd.str("token"); err == nil {
				r.Token = aliasString(b)
			}
		case "timeout_ms":
			r.TimeoutMS, err = rd.smallInt("timeout_ms")
		case "ops":
			if nested {
				err = rd.skip() // rejected by validate as a nested BATCH
				break
			}
			r.Ops, err = rd.ops(lim)
		default:
			err = rd.skip()
		}
		if err != nil {
			return err
		}
	}
	if !haveOp {
		return errorf(CodeBadRequest, `missing "op"`)
	}
	if r.Op = ParseOp(string(opName)); r.Op == OpInvalid {
		return errorf(CodeUnknownOp, "unknown op %q", opName)
	}
	if err := setRawValue(r, raw, vc); err != nil {
		return err
	}
	return validate(r, lim, nested)
}

func (rd *mpReader) str(name string) ([]byte, error) {
	b, ok, err := rd.strBytes()
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errorf(CodeBadRequest, "%q must be a string", name)
	}
	return b, nil
}

// bin returns the bytes of a bin object; they alias the message.
func (rd *mpReader) bin(name string) ([]byte, error) {
	c, err := rd.byte1()
	if err != nil {
		return nil, err
	}
	if c < 0xc4 || c > 0xc6 {
		return nil, errorf(CodeBadRequest, "%q must be a msgpack bin", name)
	}
	n, err := rd.length(1<<(c-0xc4), 1)
	if err != nil {
		return nil, err
	}
	b := rd.b[rd.i : rd.i+n : rd.i+n]
	rd.i += n
	return b, nil
}

func (rd *mpReader) bool(name string) (bool, error) {
	c, err := rd.byte1()
	if err != nil {
		return false, err
	}
	if c != 0xc2 && c != 0xc3 {
		return false, errorf(CodeBadRequest, "%q must be true or false", name)
	}
	return c == 0xc3, nil
}

func (rd *mpReader) uint64(name string) (uint64, error) {
	u, neg, ok, err := rd.integer()
	if err != nil {
		return 0, err
	}
	if !ok || neg {
		return 0, errorf(CodeBadRequest, "%q must be an unsigned 64-bit integer", name)
	}
	return u, nil
}

func (rd *mpReader) smallInt(name string) (int, error) {
	u, neg, ok, err := rd.integer()
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, errorf(CodeBadRequest, "%q must be an integer", name)
	}
	if neg {
		return -1, nil // validate reports it
	}
	if u > math.MaxInt32 {
		return math.MaxInt32, nil // validate reports it as too large
	}
	return int(u), nil
}

func (rd *mpReader) ops(lim Limits) ([]Request, error) {
	n, ok, err := rd.arrayLen()
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errorf(CodeBadRequest, `"ops" must be an array`)
	}
	if n > lim.MaxBatchOps {
		return nil, errorf(CodeTooLarge, "BATCH of %d ops exceeds the limit of %d", n, lim.MaxBatchOps)
	}
	ops := make([]Request, n)
	for i := range ops {
		if err = rd.request(&ops[i], lim, true); err != nil {
			pe := AsError(err)
			return nil, errorf(pe.Code, "ops[%d]: %s", i, pe.Message)
		}
	}
	return ops, nil
}

// aliasBytes returns the bytes of s without copying; they must not be
// modified.
func aliasBytes(s string) []byte {
	if s == "" {
		return nil
	}
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

// aliasString returns b as a string without copying. The decoders use it
// for keys, cursors and tokens, which then alias the message (see Request).
func aliasString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
