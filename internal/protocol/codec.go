package protocol

import "fmt"

// Codec identifies the encoding of one message.
type Codec uint8

// The codecs of protocol v1. The zero Codec is invalid.
const (
	JSON    Codec = 1
	Msgpack Codec = 2
)

// String returns "json" or "msgpack".
func (c Codec) String() string {
	switch c {
	case JSON:
		return "json"
	case Msgpack:
		return "msgpack"
	default:
		return fmt.Sprintf("codec(%d)", uint8(c))
	}
}

// ParseCodec returns the codec named s ("json" or "msgpack"), or 0.
func ParseCodec(s string) Codec {
	switch s {
	case "json":
		return JSON
	case "msgpack":
		return Msgpack
	}
	return 0
}

// Valid reports whether c is JSON or Msgpack.
func (c Codec) Valid() bool { return c == JSON || c == Msgpack }

// Detect tells the codec of a message from its first byte: '{' or JSON
// whitespace means JSON, a msgpack map header (0x80-0x8f, 0xde, 0xdf) means
// msgpack. Anything else, including an empty message, is an *Error with code
// CodeBadRequest; such a message is answered in JSON.
func Detect(msg []byte) (Codec, error) {
	if len(msg) == 0 {
		return 0, errorf(CodeBadRequest, "empty message")
	}
	switch b := msg[0]; {
	case b == '{' || b == ' ' || b == '\t' || b == '\n' || b == '\r':
		return JSON, nil
	case b >= 0x80 && b <= 0x8f, b == 0xde, b == 0xdf:
		return Msgpack, nil
	default:
		return 0, errorf(CodeBadRequest, "message is neither a JSON object nor a msgpack map (first byte 0x%02x)", b)
	}
}
