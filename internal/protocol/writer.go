package protocol

import (
	"encoding/base64"
	"encoding/binary"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// writer appends one message in either codec. Callers open maps and arrays
// with their element count (msgpack needs it up front; JSON ignores it).
type writer struct {
	c        Codec
	b        []byte
	comma    []bool // JSON: per open container, whether an element was written
	afterKey bool   // JSON: the next value follows a key, so no comma
}

func (w *writer) sep() {
	if w.c != JSON {
		return
	}
	if w.afterKey {
		w.afterKey = false
		return
	}
	if n := len(w.comma); n > 0 {
		if w.comma[n-1] {
			w.b = append(w.b, ',')
		}
		w.comma[n-1] = true
	}
}

func (w *writer) openMap(n int) {
	w.sep()
	if w.c == JSON {
		w.b = append(w.b, '{')
		w.comma = append(w.comma, false)
		return
	}
	switch {
	case n < 16:
		w.b = append(w.b, 0x80|byte(n))
	case n <= math.MaxUint16:
		w.b = binary.BigEndian.AppendUint16(append(w.b, 0xde), uint16(n))
	default:
		w.b = binary.BigEndian.AppendUint32(append(w.b, 0xdf), uint32(n))
	}
}

func (w *writer) closeMap() {
	if w.c == JSON {
		w.b = append(w.b, '}')
		w.comma = w.comma[:len(w.comma)-1]
	}
}

func (w *writer) openArray(n int) {
	w.sep()
	if w.c == JSON {
		w.b = append(w.b, '[')
		w.comma = append(w.comma, false)
		return
	}
	switch {
	case n < 16:
		w.b = append(w.b, 0x90|byte(n))
	case n <= math.MaxUint16:
		w.b = binary.BigEndian.AppendUint16(append(w.b, 0xdc), uint16(n))
	default:
		w.b = binary.BigEndian.AppendUint32(append(w.b, 0xdd), uint32(n))
	}
}

func (w *writer) closeArray() {
	if w.c == JSON {
		w.b = append(w.b, ']')
		w.comma = w.comma[:len(w.comma)-1]
	}
}

// key writes a map key; the next call writes its value.
func (w *writer) key(k string) {
	w.str(k)
	if w.c == JSON {
		w.b = append(w.b, ':')
		w.afterKey = true
	}
}

func (w *writer) str(s string) {
	w.sep()
	if w.c == JSON {
		w.b = appendJSONString(w.b, s)
		return
	}
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\ufffd")
	}
	w.b = appendMsgpackStr(w.b, s)
}

func (w *writer) raw(v []byte) {
	w.sep()
	w.b = append(w.b, v...)
}

// bytes writes b as a msgpack bin, or in JSON as a base64 string
// (standard alphabet, padded).
func (w *writer) bytes(b []byte) {
	w.sep()
	if w.c == JSON {
		w.b = appendBase64(w.b, JSON, b)
		return
	}
	switch n := len(b); {
	case n <= math.MaxUint8:
		w.b = append(w.b, 0xc4, byte(n))
	case n <= math.MaxUint16:
		w.b = binary.BigEndian.AppendUint16(append(w.b, 0xc5), uint16(n))
	default:
		w.b = binary.BigEndian.AppendUint32(append(w.b, 0xc6), uint32(n))
	}
	w.b = append(w.b, b...)
}

func (w *writer) uint(u uint64) {
	w.sep()
	if w.c == JSON {
		w.b = strconv.AppendUint(w.b, u, 10)
		return
	}
	w.b = appendMsgpackUint(w.b, u)
}

func (w *writer) int(i int64) {
	if i >= 0 {
		w.uint(uint64(i))
		return
	}
	w.sep()
	if w.c == JSON {
		w.b = strconv.AppendInt(w.b, i, 10)
		return
	}
	switch {
	case i >= -32:
		w.b = append(w.b, byte(int8(i)))
	case i >= math.MinInt8:
		w.b = append(w.b, 0xd0, byte(int8(i)))
	case i >= math.MinInt16:
		w.b = binary.BigEndian.AppendUint16(append(w.b, 0xd1), uint16(int16(i)))
	case i >= math.MinInt32:
		w.b = binary.BigEndian.AppendUint32(append(w.b, 0xd2), uint32(int32(i)))
	default:
		w.b = binary.BigEndian.AppendUint64(append(w.b, 0xd3), uint64(i))
	}
}

func (w *writer) bool(v bool) {
	w.sep()
	switch {
	case w.c == JSON && v:
		w.b = append(w.b, "true"...)
	case w.c == JSON:
		w.b = append(w.b, "false"...)
	case v:
		w.b = append(w.b, 0xc3)
	default:
		w.b = append(w.b, 0xc2)
	}
}

func appendMsgpackUint(b []byte, u uint64) []byte {
	switch {
	case u <= 0x7f:
		return append(b, byte(u))
	case u <= math.MaxUint8:
		return append(b, 0xcc, byte(u))
	case u <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, 0xcd), uint16(u))
	case u <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, 0xce), uint32(u))
	default:
		return binary.BigEndian.AppendUint64(append(b, 0xcf), u)
	}
}

func appendMsgpackStr(b []byte, s string) []byte {
	return append(appendMsgpackStrHeader(b, len(s)), s...)
}

func appendMsgpackStrHeader(b []byte, n int) []byte {
	switch {
	case n < 32:
		b = append(b, 0xa0|byte(n))
	case n <= math.MaxUint8:
		b = append(b, 0xd9, byte(n))
	case n <= math.MaxUint16:
		b = binary.BigEndian.AppendUint16(append(b, 0xda), uint16(n))
	default:
		b = binary.BigEndian.AppendUint32(append(b, 0xdb), uint32(n))
	}
	return b
}

// appendBase64 appends b as a base64 (standard, padded) string in codec c.
func appendBase64(dst []byte, c Codec, b []byte) []byte {
	n := base64.StdEncoding.EncodedLen(len(b))
	if c == JSON {
		dst = append(dst, '"')
	} else {
		dst = appendMsgpackStrHeader(dst, n)
	}
	dst = base64.StdEncoding.AppendEncode(dst, b)
	if c == JSON {
		dst = append(dst, '"')
	}
	return dst
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD,
// so the output is always valid JSON.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
