package protocol

import (
	"bytes"
	"encoding/json"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/zshard/zshard/internal/hlc"
)

// The reply decoder built on encoding/json and the msgpack library: it
// decodes every reply, for what the hand-written decoders (reply_json.go,
// reply_msgpack.go) leave to it, and is the oracle their fuzz tests check
// them against.

// wireReply mirrors a reply for the library decoders; Raw holds raw values.
type wireReply[Raw any] struct {
	Status     string  `json:"status" msgpack:"status"`
	Error      string  `json:"error" msgpack:"error"`
	Message    string  `json:"message" msgpack:"message"`
	ID         Raw     `json:"id" msgpack:"id"`
	Key        string  `json:"key" msgpack:"key"`
	Value      Raw     `json:"value" msgpack:"value"`
	Version    *string `json:"version" msgpack:"version"`
	Collection []struct {
		Key        string  `json:"key" msgpack:"key"`
		Value      Raw     `json:"value" msgpack:"value"`
		RawValue   Raw     `json:"raw_value" msgpack:"raw_value"`
		ValueCodec *string `json:"value_codec" msgpack:"value_codec"`
		Deleted    bool    `json:"deleted" msgpack:"deleted"`
		Version    *string `json:"version" msgpack:"version"`
	} `json:"collection" msgpack:"collection"`
	Cursor     string      `json:"cursor" msgpack:"cursor"`
	Deleted    bool        `json:"deleted" msgpack:"deleted"`
	Superseded bool        `json:"superseded" msgpack:"superseded"`
	Token      string      `json:"token" msgpack:"token"`
	Node       string      `json:"node" msgpack:"node"`
	Protocol   int         `json:"protocol" msgpack:"protocol"`
	Features   []string    `json:"features" msgpack:"features"`
	Stats      *Stats      `json:"stats" msgpack:"stats"`
	Results    []Raw       `json:"results" msgpack:"results"`
	Digests    [][3]uint64 `json:"digests" msgpack:"digests"`
	Count      int         `json:"count" msgpack:"count"`
}

func decodeReply(msg []byte, c Codec) (Reply, error) {
	if c == JSON {
		var wr wireReply[json.RawMessage]
		if err := json.Unmarshal(msg, &wr); err != nil {
			return Reply{}, errorf(CodeBadRequest, "invalid JSON reply: %v", err)
		}
		return fromWire(wr, c, func(b json.RawMessage) []byte { return b })
	}
	var wr wireReply[msgpack.RawMessage]
	dec := msgpack.NewDecoder(bytes.NewReader(msg))
	if err := dec.Decode(&wr); err != nil {
		return Reply{}, errorf(CodeBadRequest, "invalid msgpack reply: %v", err)
	}
	return fromWire(wr, c, func(b msgpack.RawMessage) []byte { return b })
}

// rawEntry fills e from the encoded "raw_value" (nil when absent) and
// "value_codec" of a collection entry, which go together and replace
// "value".
func rawEntry(e *Entry, c Codec, raw []byte, codec *string) error {
	if raw == nil && codec == nil {
		return nil
	}
	if raw == nil || codec == nil || e.Value != nil {
		return errorf(CodeBadRequest, `an entry needs either "value" or both "raw_value" and "value_codec"`)
	}
	vc, err := parseValueCodec(*codec)
	if err != nil {
		return err
	}
	var b []byte
	if c == JSON {
		var s string
		if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
			return errorf(CodeBadRequest, `"raw_value" must be a string`)
		}
		if b, err = decodeBase64(fieldRawValue, []byte(s)); err != nil {
			return err
		}
	} else {
		rd := mpReader{b: raw}
		if b, err = rd.bin(fieldRawValue); err != nil {
			return err
		}
	}
	e.Value, e.Codec = b, vc
	return nil
}

// wireVersion parses an optional "version" (nil when absent).
func wireVersion(s *string) (hlc.Version, error) {
	if s == nil {
		return hlc.Version{}, nil
	}
	return parseVersion(fieldVersion, aliasBytes(*s))
}

func fromWire[Raw any](wr wireReply[Raw], c Codec, bytesOf func(Raw) []byte) (Reply, error) {
	r := Reply{
		Status: wr.Status, ID: bytesOf(wr.ID), Key: wr.Key, Value: bytesOf(wr.Value),
		Cursor: wr.Cursor, Deleted: wr.Deleted, Superseded: wr.Superseded, Token: wr.Token, Node: wr.Node,
		Protocol: wr.Protocol, Features: wr.Features, Stats: wr.Stats,
	}
	if r.Status != StatusOK && r.Status != StatusError {
		return Reply{}, errorf(CodeBadRequest, "reply status %q is neither %q nor %q", r.Status, StatusOK, StatusError)
	}
	var err error
	if r.Version, err = wireVersion(wr.Version); err != nil {
		return Reply{}, err
	}
	if r.Status == StatusError {
		r.Err = &Error{Code: Code(wr.Error), Message: wr.Message}
	}
	if wr.Collection != nil {
		r.Collection = make([]Entry, len(wr.Collection))
		for i, e := range wr.Collection {
			ent := Entry{Key: e.Key, Value: bytesOf(e.Value), Deleted: e.Deleted}
			raw := bytesOf(e.RawValue)
			if e.Deleted && (ent.Value != nil || raw != nil || e.ValueCodec != nil) {
				return Reply{}, errorf(CodeBadRequest, `a deleted entry carries no "value", "raw_value" or "value_codec"`)
			}
			if err := rawEntry(&ent, c, raw, e.ValueCodec); err != nil {
				return Reply{}, err
			}
			if ent.Version, err = wireVersion(e.Version); err != nil {
				return Reply{}, err
			}
			r.Collection[i] = ent
		}
	}
	if wr.Digests != nil {
		r.Digests = make([]Digest, len(wr.Digests))
		for i, d := range wr.Digests {
			var ok bool
			if r.Digests[i], ok = digestOf(d); !ok {
				return Reply{}, errorf(CodeBadRequest, "digest of partition %d", d[0])
			}
		}
	}
	r.Count = wr.Count
	if wr.Results != nil {
		r.Results = make([]Reply, len(wr.Results))
		for i, raw := range wr.Results {
			sub, err := decodeReply(bytesOf(raw), c)
			if err != nil {
				return Reply{}, err
			}
			r.Results[i] = sub
		}
	}
	return r, nil
}
