package protocol

import (
	"bytes"
	"encoding/base64"
	"unicode/utf8"
)

// Request is one decoded request. Its byte-slice fields, and its string
// fields (in JSON, those without escapes), alias the message it was decoded
// from, so decoding copies nothing: the message must not be modified while the Request is in
// use, and a field kept longer than the message should be copied
// (strings.Clone, bytes.Clone) so it does not pin the whole message.
type Request struct {
	// The one-byte fields come first, together: a BATCH decodes into a
	// slice of Requests, and padding after each would make every one 24
	// bytes larger.
	Op Op
	// IfAbsent makes a PUT store its value only when the key is absent
	// ("if_absent": true), so that a copy never overwrites a newer write.
	IfAbsent bool
	// ValueCodec is the codec of Value when the PUT carried it raw: the
	// stored bytes of a value ("raw_value", bin in msgpack and base64 in
	// JSON) and their codec ("value_codec"), whatever the request's codec,
	// so that a copy between nodes keeps both. 0 means Value came as
	// "value", in the request's codec. A raw Value decoded from JSON is
	// allocated, not aliased.
	ValueCodec Codec
	// Raw makes SCAN return every value as stored (those in the other
	// codec raw, with their codec) and DIGEST hash it so (RawEntryHash),
	// instead of converting values to the request's codec ("raw": true).
	Raw bool
	// ID is the raw encoding (in the request's codec) of the optional "id"
	// field, echoed unchanged in the reply; nil when absent.
	ID []byte
	// Key is the key of PUT, GET_ONE and DELETE.
	Key string
	// Value is the raw encoding of the PUT value (one JSON value or one
	// msgpack object, in the request's codec); nil when absent.
	Value []byte
	// Cursor is the SCAN cursor: "" starts a scan, a reply's cursor continues it.
	Cursor string
	// Limit is the SCAN page size; 0 means DefaultScanLimit.
	Limit int
	// HashFrom and HashTo restrict SCAN to keys whose 64-bit xxhash h
	// satisfies HashFrom <= h < HashTo; HashTo 0 means no upper bound.
	HashFrom, HashTo uint64
	// Partitions and Bitmap restrict SCAN, DIGEST and DELETE_PARTITIONS to
	// the keys whose partition, the high 64 bits of h*Partitions, has its
	// bit set in Bitmap (partition p is bit p%8, least significant first,
	// of byte p/8; ceil(Partitions/8) bytes). On the wire "bitmap" is the
	// base64 (standard alphabet, padded) of Bitmap; decoding allocates it.
	// Both or neither are given; DIGEST and DELETE_PARTITIONS need them.
	Partitions int
	Bitmap     []byte
	// Token names a SYNC barrier.
	Token string
	// TimeoutMS bounds how long a SYNC waits for its token; 0 means the
	// node's default.
	TimeoutMS int
	// Ops are the operations of a BATCH, each a full request without ID
	// and never itself a BATCH.
	Ops []Request
}

// MaxTokenBytes bounds the length of a SYNC token.
const MaxTokenBytes = 256

// MaxPartitions bounds the "partitions" field (the cluster's largest P).
const MaxPartitions = 1 << 24

// DecodeRequest decodes one request message. It returns the codec of the
// message even when decoding fails (so the error can be answered in it) and
// JSON when the codec itself cannot be told. Errors are *Error.
func DecodeRequest(msg []byte, lim Limits) (Request, Codec, error) {
	lim = lim.WithDefaults()
	c, err := Detect(msg)
	if err != nil {
		return Request{}, JSON, err
	}
	if len(msg) > lim.MaxMessageBytes {
		return Request{}, c, errorf(CodeTooLarge, "message of %d bytes exceeds the limit of %d bytes", len(msg), lim.MaxMessageBytes)
	}
	var r Request
	if c == JSON {
		r, err = decodeJSON(msg, lim, false)
	} else {
		r, err = decodeMsgpack(msg, lim)
	}
	if err != nil {
		return Request{}, c, err
	}
	return r, c, nil
}

// validate checks the fields every codec decodes alike.
func validate(r *Request, lim Limits, nested bool) error {
	if r.Op == OpInvalid {
		return errorf(CodeBadRequest, `missing "op"`)
	}
	if nested {
		if r.Op == OpBatch {
			return errorf(CodeBadRequest, "BATCH cannot contain BATCH")
		}
		if r.ID != nil {
			return errorf(CodeBadRequest, `an operation inside BATCH cannot carry "id"`)
		}
	}
	if len(r.ID) > MaxIDBytes {
		return errorf(CodeTooLarge, `"id" of %d bytes exceeds the limit of %d bytes`, len(r.ID), MaxIDBytes)
	}
	if r.Op.HasKey() {
		if err := checkKey(r.Key, lim); err != nil {
			return err
		}
	}
	switch r.Op {
	case OpPut:
		if r.Value == nil {
			return errorf(CodeBadRequest, `PUT needs "value"`)
		}
		if len(r.Value) > lim.MaxValueBytes {
			return errorf(CodeTooLarge, "value of %d bytes exceeds the limit of %d bytes", len(r.Value), lim.MaxValueBytes)
		}
		if r.ValueCodec != 0 && !wellFormed(r.Value, r.ValueCodec) {
			return errorf(CodeBadRequest, `"raw_value" is not one well-formed %v value`, r.ValueCodec)
		}
	case OpDigest, OpDeletePartitions:
		if r.Partitions == 0 {
			return errorf(CodeBadRequest, `%s needs "partitions" and "bitmap"`, r.Op)
		}
	}
	if err := validatePartitions(r); err != nil {
		return err
	}
	switch r.Op {
	case OpScan, OpDeletePartitions:
		if r.Limit < 0 {
			return errorf(CodeBadRequest, `"limit" must not be negative`)
		}
		if r.Limit > lim.MaxScanLimit {
			return errorf(CodeTooLarge, `"limit" %d exceeds the limit of %d`, r.Limit, lim.MaxScanLimit)
		}
		if r.HashTo != 0 && r.HashTo <= r.HashFrom {
			return errorf(CodeBadRequest, `"hash_to" must be 0 or greater than "hash_from"`)
		}
	case OpDigest:
		if r.HashTo != 0 && r.HashTo <= r.HashFrom {
			return errorf(CodeBadRequest, `"hash_to" must be 0 or greater than "hash_from"`)
		}
	case OpSync:
		if r.Token == "" {
			return errorf(CodeBadRequest, `SYNC needs a non-empty string "token"`)
		}
		if len(r.Token) > MaxTokenBytes {
			return errorf(CodeTooLarge, "token of %d bytes exceeds the limit of %d bytes", len(r.Token), MaxTokenBytes)
		}
		if r.TimeoutMS < 0 {
			return errorf(CodeBadRequest, `"timeout_ms" must not be negative`)
		}
	case OpBatch:
		if r.Ops == nil {
			return errorf(CodeBadRequest, `BATCH needs "ops"`)
		}
	}
	return nil
}

// validatePartitions checks "partitions" and "bitmap" go together and
// agree.
func validatePartitions(r *Request) error {
	switch {
	case r.Partitions == 0 && r.Bitmap == nil:
		return nil
	case r.Partitions < 1 || r.Partitions > MaxPartitions:
		return errorf(CodeBadRequest, `"partitions" must be in [1, %d]`, MaxPartitions)
	case r.Bitmap == nil:
		return errorf(CodeBadRequest, `"partitions" needs "bitmap"`)
	case len(r.Bitmap) != (r.Partitions+7)/8:
		return errorf(CodeBadRequest, `"bitmap" of %d bytes does not fit %d partitions (%d bytes)`,
			len(r.Bitmap), r.Partitions, (r.Partitions+7)/8)
	}
	return nil
}

// decodeBase64 decodes the base64 field name ("bitmap", "raw_value").
func decodeBase64(name string, s []byte) ([]byte, error) {
	b := make([]byte, base64.StdEncoding.DecodedLen(len(s)))
	n, err := base64.StdEncoding.Strict().Decode(b, s)
	if err != nil || bytes.ContainsAny(s, "\r\n") {
		return nil, errorf(CodeBadRequest, "%q must be a base64 string (standard alphabet, padded)", name)
	}
	return b[:n:n], nil
}

// parseValueCodec parses the "value_codec" field.
func parseValueCodec(s string) (Codec, error) {
	if c := ParseCodec(s); c != 0 {
		return c, nil
	}
	return 0, errorf(CodeBadRequest, `"value_codec" must be "json" or "msgpack", not %q`, s)
}

// setRawValue sets r.Value and r.ValueCodec from the decoded "raw_value"
// and "value_codec" fields (nil and 0 when absent), which go together and
// replace "value".
func setRawValue(r *Request, raw []byte, c Codec) error {
	switch {
	case raw == nil && c == 0:
		return nil
	case raw != nil && r.Value != nil:
		return errorf(CodeBadRequest, `"value" and "raw_value" exclude one another`)
	case raw == nil:
		return errorf(CodeBadRequest, `"value_codec" needs "raw_value"`)
	case c == 0:
		return errorf(CodeBadRequest, `"raw_value" needs "value_codec"`)
	}
	r.Value, r.ValueCodec = raw, c
	return nil
}

// wellFormed reports whether v is exactly one value in codec c, as a PUT
// in c would store it: a JSON value without whitespace around it (the
// request decoder's own syntax check), or one msgpack object.
func wellFormed(v []byte, c Codec) bool {
	if c == JSON {
		p := jsonParser{b: v}
		return p.value(2) && p.i == len(v)
	}
	r := mpReader{b: v}
	return r.skip() == nil && r.i == len(v)
}

func checkKey(k string, lim Limits) error {
	switch {
	case k == "":
		return errorf(CodeBadRequest, `missing or empty "key"`)
	case len(k) > lim.MaxKeyBytes:
		return errorf(CodeTooLarge, "key of %d bytes exceeds the limit of %d bytes", len(k), lim.MaxKeyBytes)
	case !utf8.ValidString(k):
		return errorf(CodeBadRequest, `"key" is not valid UTF-8`)
	}
	return nil
}
