package protocol

import (
	"bytes"
	"encoding/base64"

	"github.com/zshard/zshard/internal/hlc"
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
	// Versions makes GET_ONE, SCAN and DIGEST report versions
	// ("versions": true): GET_ONE's reply, and its not_found error when
	// the key is a tombstone, carry the version; SCAN's entries carry
	// theirs and its tombstones come as deleted entries; DIGEST hashes
	// keys, versions and tombstone flags (VersionEntryHash) instead of
	// values.
	Versions bool
	// ID is the raw encoding (in the request's codec) of the optional "id"
	// field, echoed unchanged in the reply; nil when absent.
	ID []byte
	// Key is the key of PUT, GET_ONE and DELETE.
	Key string
	// Value is the raw encoding of the PUT value (one JSON value or one
	// msgpack object, in the request's codec); nil when absent.
	Value []byte
	// Version is the version of a PUT or DELETE ("version", 32 hex
	// digits): the node applies the write only if it holds no newer
	// version of the key. On a BATCH it is the base of the versions of
	// its items that carry none (OpVersion). The zero Version means none.
	Version hlc.Version
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

// rawValue holds the decoded "raw_value" and "value_codec" of a request
// until its other fields are decoded: they go into the Request only
// together, in place of "value".
type rawValue struct {
	b []byte
	c Codec
}

// carried returns the fields r carries when it is encoded, "op" and
// "ops" aside: those not at their zero value, with "raw_value" and
// "value_codec" in place of "value" when ValueCodec is set.
func (r *Request) carried() fieldSet {
	var s fieldSet
	s.addIf(fieldID, r.ID != nil)
	s.addIf(fieldKey, r.Key != "")
	s.addIf(fieldValue, r.Value != nil && r.ValueCodec == 0)
	s.addIf(fieldRawValue, r.ValueCodec != 0)
	s.addIf(fieldValueCodec, r.ValueCodec != 0)
	s.addIf(fieldIfAbsent, r.IfAbsent)
	s.addIf(fieldCursor, r.Cursor != "")
	s.addIf(fieldLimit, r.Limit != 0)
	s.addIf(fieldHashFrom, r.HashFrom != 0)
	s.addIf(fieldHashTo, r.HashTo != 0)
	s.addIf(fieldPartitions, r.Partitions != 0)
	s.addIf(fieldBitmap, r.Bitmap != nil)
	s.addIf(fieldRaw, r.Raw)
	s.addIf(fieldToken, r.Token != "")
	s.addIf(fieldTimeoutMS, r.TimeoutMS != 0)
	s.addIf(fieldVersion, !r.Version.IsZero())
	s.addIf(fieldVersions, r.Versions)
	return s
}

// OpVersion returns the version of the i-th operation of the BATCH r: its
// own Version if it has one, else the BATCH's Version advanced by i (the
// i-th of the consecutive versions the BATCH reserved, whatever the ops
// before it), else the zero Version. Only PUT and DELETE use it.
func (r *Request) OpVersion(i int) hlc.Version {
	if v := r.Ops[i].Version; !v.IsZero() {
		return v
	}
	if r.Version.IsZero() {
		return hlc.Version{}
	}
	return r.Version.Add(uint64(i))
}

// decodeBase64 decodes the base64 field f ("bitmap", "raw_value").
func decodeBase64(f field, s []byte) ([]byte, error) {
	b := make([]byte, base64.StdEncoding.DecodedLen(len(s)))
	n, err := base64.StdEncoding.Strict().Decode(b, s)
	if err != nil || bytes.ContainsAny(s, "\r\n") {
		return nil, errorf(CodeBadRequest, "%q must be a base64 string (standard alphabet, padded)", f)
	}
	return b[:n:n], nil
}

// parseValueCodec parses the "value_codec" field.
func parseValueCodec(s string) (Codec, error) {
	if c := ParseCodec(s); c != 0 {
		return c, nil
	}
	return 0, errorf(CodeBadRequest, `%q must be %q or %q, not %q`, fieldValueCodec, JSON, Msgpack, s)
}

// parseVersion parses the version field f, 32 hex digits (hlc text form).
func parseVersion(f field, s []byte) (hlc.Version, error) {
	v, err := hlc.Parse(s)
	switch {
	case err == nil:
		return v, nil
	case len(s) != hlc.TextLen:
		return v, errorf(CodeBadRequest, `%q must be %d hex digits long, not %d`, f, hlc.TextLen, len(s))
	}
	return v, errorf(CodeBadRequest, `%q must be %d hex digits, not %q`, f, hlc.TextLen, s)
}

// setIn sets r.Value and r.ValueCodec from the decoded "raw_value" and
// "value_codec" fields (nil and 0 when absent), which go together and
// replace "value".
func (raw rawValue) setIn(r *Request) error {
	switch {
	case raw.b == nil && raw.c == 0:
		return nil
	case raw.b != nil && r.Value != nil:
		return errorf(CodeBadRequest, `%q and %q exclude one another`, fieldValue, fieldRawValue)
	case raw.b == nil:
		return errorf(CodeBadRequest, `%q needs %q`, fieldValueCodec, fieldRawValue)
	case raw.c == 0:
		return errorf(CodeBadRequest, `%q needs %q`, fieldRawValue, fieldValueCodec)
	}
	r.Value, r.ValueCodec = raw.b, raw.c
	return nil
}
