package protocol

import (
	"encoding/binary"
	"math"
)

// The msgpack forms the writer appends.

// mpHeader is a family of msgpack headers that carry a length: its fix
// form (0 when it has none), holding lengths below fixLimit, and its 8-,
// 16- and 32-bit forms (0 where there is none).
type mpHeader struct {
	fix          byte
	fixLimit     int
	h8, h16, h32 byte
}

var (
	mpMap   = mpHeader{fix: 0x80, fixLimit: 16, h16: 0xde, h32: 0xdf}
	mpArray = mpHeader{fix: 0x90, fixLimit: 16, h16: 0xdc, h32: 0xdd}
	mpStr   = mpHeader{fix: 0xa0, fixLimit: 32, h8: 0xd9, h16: 0xda, h32: 0xdb}
	mpBin   = mpHeader{h8: 0xc4, h16: 0xc5, h32: 0xc6}
)

// append appends the smallest header of family h for length n.
func (h mpHeader) append(b []byte, n int) []byte {
	switch {
	case n < h.fixLimit:
		return append(b, h.fix|byte(n))
	case h.h8 != 0 && n <= math.MaxUint8:
		return append(b, h.h8, byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, h.h16), uint16(n))
	default:
		return binary.BigEndian.AppendUint32(append(b, h.h32), uint32(n))
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

// appendMsgpackNegInt appends the negative integer i.
func appendMsgpackNegInt(b []byte, i int64) []byte {
	switch {
	case i >= -32:
		return append(b, byte(int8(i)))
	case i >= math.MinInt8:
		return append(b, 0xd0, byte(int8(i)))
	case i >= math.MinInt16:
		return binary.BigEndian.AppendUint16(append(b, 0xd1), uint16(int16(i)))
	case i >= math.MinInt32:
		return binary.BigEndian.AppendUint32(append(b, 0xd2), uint32(int32(i)))
	default:
		return binary.BigEndian.AppendUint64(append(b, 0xd3), uint64(i))
	}
}

func appendMsgpackStr(b []byte, s string) []byte {
	return append(mpStr.append(b, len(s)), s...)
}
