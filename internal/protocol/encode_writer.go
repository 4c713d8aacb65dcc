package protocol

import (
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/zshard/zshard/internal/hlc"
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

func (w *writer) openMap(n int) { w.open('{', mpMap, n) }

func (w *writer) openArray(n int) { w.open('[', mpArray, n) }

// open starts a container of n elements: in JSON with the byte brace, in
// msgpack with a header of family h.
func (w *writer) open(brace byte, h mpHeader, n int) {
	w.sep()
	if w.c == JSON {
		w.b = append(w.b, brace)
		w.comma = append(w.comma, false)
		return
	}
	w.b = h.append(w.b, n)
}

func (w *writer) closeMap() { w.close('}') }

func (w *writer) closeArray() { w.close(']') }

func (w *writer) close(brace byte) {
	if w.c == JSON {
		w.b = append(w.b, brace)
		w.comma = w.comma[:len(w.comma)-1]
	}
}

// key writes the name of field f as a map key; the next call writes its
// value.
func (w *writer) key(f field) {
	w.sep()
	if w.c == JSON {
		w.b = append(w.b, encodedNames[f].json...)
		w.afterKey = true
		return
	}
	w.b = append(w.b, encodedNames[f].msgpack...)
}

// encodedNames holds the name of each field of the table as key writes
// it: in JSON the string and its colon, in msgpack the str, encoded once
// by str's own functions.
var encodedNames = func() (t [numFields]struct{ json, msgpack string }) {
	for f := range numFields {
		t[f].json = string(appendJSONString(nil, fields[f].name)) + ":"
		t[f].msgpack = string(appendMsgpackStr(nil, fields[f].name))
	}
	return t
}()

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
	w.b = append(mpBin.append(w.b, len(b)), b...)
}

// base64 writes b as a base64 string (standard alphabet, padded), in
// either codec.
func (w *writer) base64(b []byte) {
	w.sep()
	w.b = appendBase64(w.b, w.c, b)
}

// version writes v as its text form, a string of 32 hex digits, in
// either codec: the hex of its binary form, which is the text
// hlc.Version.AppendText writes (TestWriterVersion).
func (w *writer) version(v hlc.Version) {
	w.sep()
	var bin [hlc.Size]byte
	v.AppendBinary(bin[:0])
	if w.c == JSON {
		w.b = append(hex.AppendEncode(append(w.b, '"'), bin[:]), '"')
		return
	}
	w.b = hex.AppendEncode(mpStr.append(w.b, hlc.TextLen), bin[:])
}

func (w *writer) uint(u uint64) { w.integer(u, false) }

func (w *writer) int(i int64) { w.integer(uint64(i), i < 0) }

// integer writes u, or, when neg, the negative integer int64(u).
func (w *writer) integer(u uint64, neg bool) {
	w.sep()
	switch {
	case w.c == JSON && neg:
		w.b = strconv.AppendInt(w.b, int64(u), 10)
	case w.c == JSON:
		w.b = strconv.AppendUint(w.b, u, 10)
	case neg:
		w.b = appendMsgpackNegInt(w.b, int64(u))
	default:
		w.b = appendMsgpackUint(w.b, u)
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

// appendBase64 appends b as a base64 (standard, padded) string in codec c.
func appendBase64(dst []byte, c Codec, b []byte) []byte {
	n := base64.StdEncoding.EncodedLen(len(b))
	if c == JSON {
		dst = append(dst, '"')
	} else {
		dst = mpStr.append(dst, n)
	}
	dst = base64.StdEncoding.AppendEncode(dst, b)
	if c == JSON {
		dst = append(dst, '"')
	}
	return dst
}
