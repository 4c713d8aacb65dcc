package producer

import (
	"encoding/json"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/zshard/zshard/internal/protocol"
)

// EncodeValue returns v as the raw value Put and Bulk take in codec c: its
// JSON text, or its msgpack encoding.
func EncodeValue(c protocol.Codec, v any) ([]byte, error) {
	switch c {
	case protocol.JSON:
		return json.Marshal(v)
	case protocol.Msgpack:
		return msgpack.Marshal(v)
	}
	return nil, fmt.Errorf("producer: invalid codec %d", c)
}

// DecodeValue decodes a raw value in codec c into v.
func DecodeValue(c protocol.Codec, raw []byte, v any) error {
	switch c {
	case protocol.JSON:
		return json.Unmarshal(raw, v)
	case protocol.Msgpack:
		return msgpack.Unmarshal(raw, v)
	}
	return fmt.Errorf("producer: invalid codec %d", c)
}

// ValueJSON returns a raw value in codec c as JSON text, for display.
func ValueJSON(c protocol.Codec, raw []byte) (json.RawMessage, error) {
	b, err := protocol.ConvertValue(raw, c, protocol.JSON)
	return json.RawMessage(b), err
}
