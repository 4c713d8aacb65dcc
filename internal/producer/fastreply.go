package producer

import (
	"fmt"
	"strings"
	"unsafe"

	"github.com/zshard/zshard/internal/protocol"
)

// decodeReply decodes a reply. msgpack replies of the hot path (GET_ONE,
// PUT, DELETE, errors, and BATCHes of those) are decoded by fastMsgpackReply
// without reflection; everything else goes to protocol.DecodeReply. The
// profile of pipelined GET_ONE put 40% of the producer's time in the
// reflective decoder.
func decodeReply(b []byte) (protocol.Reply, error) {
	if len(b) > 0 && b[0] != '{' {
		if rep, ok := fastMsgpackReply(b); ok {
			return rep, nil
		}
	}
	rep, _, err := protocol.DecodeReply(b)
	return rep, err
}

// fastMsgpackReply decodes one msgpack reply whose fields are all among
// status, error, message, id, key, value, deleted, token and results. Raw
// fields (ID, Value) and the strings Key and Token alias b, which must not be
// modified while the reply is in use (a received message never is). ok is false for anything else, including
// malformed input.
func fastMsgpackReply(b []byte) (protocol.Reply, bool) {
	r := mpr{b: b}
	rep, ok := r.reply(0)
	return rep, ok && r.err == nil && r.i == len(b)
}

type mpr struct {
	b   []byte
	i   int
	err error
}

var errShort = fmt.Errorf("short msgpack")

func (r *mpr) need(n int) bool {
	if r.err != nil || n < 0 || len(r.b)-r.i < n {
		r.err = errShort
		return false
	}
	return true
}

func (r *mpr) byte1() byte {
	if !r.need(1) {
		return 0
	}
	c := r.b[r.i]
	r.i++
	return c
}

func (r *mpr) uintN(n int) uint64 {
	if !r.need(n) {
		return 0
	}
	var u uint64
	for _, c := range r.b[r.i : r.i+n] {
		u = u<<8 | uint64(c)
	}
	r.i += n
	return u
}

// length reads the length following a header byte with an n-byte length.
func (r *mpr) length(n int) int {
	u := r.uintN(n)
	if u > uint64(len(r.b)) {
		r.err = errShort
		return 0
	}
	return int(u)
}

func (r *mpr) mapLen() (int, bool) {
	c := r.byte1()
	switch {
	case c >= 0x80 && c <= 0x8f:
		return int(c & 0x0f), true
	case c == 0xde:
		return r.length(2), true
	case c == 0xdf:
		return r.length(4), true
	}
	return 0, false
}

// str returns the next string; it aliases b (no copy), which the caller
// owns for as long as the reply is used.
func (r *mpr) str() (string, bool) {
	c := r.byte1()
	var n int
	switch {
	case c >= 0xa0 && c <= 0xbf:
		n = int(c & 0x1f)
	case c == 0xd9:
		n = r.length(1)
	case c == 0xda:
		n = r.length(2)
	case c == 0xdb:
		n = r.length(4)
	default:
		return "", false
	}
	if !r.need(n) {
		return "", false
	}
	if n == 0 {
		return "", true
	}
	s := unsafe.String(&r.b[r.i], n)
	r.i += n
	return s, true
}

// skip moves past one object of any type.
func (r *mpr) skip(depth int) bool {
	if depth > protocol.MaxConvertDepth {
		return false
	}
	c := r.byte1()
	if r.err != nil {
		return false
	}
	n := 0
	switch {
	case c <= 0x7f, c >= 0xe0, c == 0xc0, c == 0xc2, c == 0xc3:
		return true
	case c >= 0x80 && c <= 0x8f:
		return r.skipN(2*int(c&0x0f), depth)
	case c >= 0x90 && c <= 0x9f:
		return r.skipN(int(c&0x0f), depth)
	case c >= 0xa0 && c <= 0xbf:
		n = int(c & 0x1f)
	case c == 0xcc, c == 0xd0, c == 0xd4:
		n = 1 + b2i(c == 0xd4)
	case c == 0xcd, c == 0xd1, c == 0xd5:
		n = 2 + b2i(c == 0xd5)
	case c == 0xce, c == 0xd2, c == 0xca, c == 0xd6:
		n = 4 + b2i(c == 0xd6)
	case c == 0xcf, c == 0xd3, c == 0xcb, c == 0xd7:
		n = 8 + b2i(c == 0xd7)
	case c == 0xd8:
		n = 17
	case c == 0xc4, c == 0xd9:
		n = r.length(1)
	case c == 0xc5, c == 0xda:
		n = r.length(2)
	case c == 0xc6, c == 0xdb:
		n = r.length(4)
	case c == 0xc7:
		n = r.length(1) + 1
	case c == 0xc8:
		n = r.length(2) + 1
	case c == 0xc9:
		n = r.length(4) + 1
	case c == 0xdc:
		return r.skipN(r.length(2), depth)
	case c == 0xdd:
		return r.skipN(r.length(4), depth)
	case c == 0xde:
		return r.skipN(2*r.length(2), depth)
	case c == 0xdf:
		return r.skipN(2*r.length(4), depth)
	default:
		return false
	}
	if !r.need(n) {
		return false
	}
	r.i += n
	return true
}

func (r *mpr) skipN(n, depth int) bool {
	for range n {
		if !r.skip(depth + 1) {
			return false
		}
	}
	return r.err == nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// raw returns the encoding of the next object.
func (r *mpr) raw() ([]byte, bool) {
	start := r.i
	if !r.skip(0) {
		return nil, false
	}
	return r.b[start:r.i:r.i], true
}

func (r *mpr) reply(depth int) (protocol.Reply, bool) {
	var rep protocol.Reply
	n, ok := r.mapLen()
	if !ok || depth > 1 {
		return rep, false
	}
	var code, msg string
	for range n {
		k, ok := r.str()
		if !ok {
			return rep, false
		}
		switch k {
		case "status":
			var st string
			if st, ok = r.str(); ok {
				switch st {
				case protocol.StatusOK:
					rep.Status = protocol.StatusOK
				case protocol.StatusError:
					rep.Status = protocol.StatusError
				default:
					rep.Status = strings.Clone(st)
				}
			}
		case "error":
			code, ok = r.str()
		case "message":
			msg, ok = r.str()
		case "id":
			rep.ID, ok = r.raw()
		case "key":
			rep.Key, ok = r.str()
		case "value":
			rep.Value, ok = r.raw()
		case "token":
			rep.Token, ok = r.str()
		case "deleted":
			switch r.byte1() {
			case 0xc2:
			case 0xc3:
				rep.Deleted = true
			default:
				ok = false
			}
		case "results":
			var cnt int
			switch c := r.byte1(); {
			case c >= 0x90 && c <= 0x9f:
				cnt = int(c & 0x0f)
			case c == 0xdc:
				cnt = r.length(2)
			case c == 0xdd:
				cnt = r.length(4)
			default:
				return rep, false
			}
			if cnt > len(r.b) {
				return rep, false
			}
			rep.Results = make([]protocol.Reply, cnt)
			for i := range cnt {
				if rep.Results[i], ok = r.reply(depth + 1); !ok {
					return rep, false
				}
			}
		default:
			return rep, false
		}
		if !ok || r.err != nil {
			return rep, false
		}
	}
	if rep.Status == protocol.StatusError {
		rep.Err = &protocol.Error{Code: protocol.Code(strings.Clone(code)), Message: strings.Clone(msg)}
	}
	return rep, true
}
