package protocol

import (
	"encoding/json"
	"fmt"
	"math/bits"

	"github.com/vmihailenco/msgpack/v5"
)

// Encoding requests and replies, in either codec, from the field table:
// the fields of a request in table order, those of a reply as replyFields
// lists them for its op.

// AppendRequest appends r encoded in codec c to dst. Raw fields (ID, Value)
// must already be encoded in c. Fields at their zero value are omitted.
func AppendRequest(dst []byte, c Codec, r *Request) ([]byte, error) {
	if !c.Valid() {
		return dst, fmt.Errorf("protocol: invalid codec %d", c)
	}
	if r.Op == OpInvalid || r.Op >= numOps {
		return dst, fmt.Errorf("protocol: invalid op %d", r.Op)
	}
	w := writer{c: c, b: dst}
	w.request(r)
	return w.b, nil
}

func (w *writer) request(r *Request) {
	s := r.carried()
	n := 1 + bits.OnesCount64(uint64(s))
	if r.Op == OpBatch {
		n++
	}
	w.openMap(n)
	w.key(fieldOp)
	w.str(r.Op.String())
	for s != 0 {
		f := s.pop()
		w.key(f)
		// One case per field r carries, each writing its member
		// (TestDecodersSetEveryField round-trips every one).
		switch f {
		case fieldID:
			w.raw(r.ID)
		case fieldKey:
			w.str(r.Key)
		case fieldValue:
			w.raw(r.Value)
		case fieldRawValue:
			w.bytes(r.Value)
		case fieldValueCodec:
			w.str(r.ValueCodec.String())
		case fieldIfAbsent, fieldRaw, fieldVersions:
			w.bool(true)
		case fieldCursor:
			w.str(r.Cursor)
		case fieldLimit:
			w.int(int64(r.Limit))
		case fieldHashFrom:
			w.uint(r.HashFrom)
		case fieldHashTo:
			w.uint(r.HashTo)
		case fieldPartitions:
			w.int(int64(r.Partitions))
		case fieldBitmap:
			w.base64(r.Bitmap)
		case fieldToken:
			w.str(r.Token)
		case fieldTimeoutMS:
			w.int(int64(r.TimeoutMS))
		case fieldVersion:
			w.version(r.Version)
		}
	}
	if r.Op == OpBatch {
		w.key(fieldOps)
		w.openArray(len(r.Ops))
		for i := range r.Ops {
			w.request(&r.Ops[i])
		}
		w.closeArray()
	}
	w.closeMap()
}

// AppendReply appends r encoded in codec c to dst.
func AppendReply(dst []byte, c Codec, r *Reply) ([]byte, error) {
	w := writer{c: c, b: dst}
	if err := w.reply(r); err != nil {
		return dst, err
	}
	return w.b, nil
}

func (w *writer) reply(r *Reply) error {
	if r.Status == StatusError || r.Err != nil {
		w.errorReply(r)
		return nil
	}
	var fs []field
	if r.Op < numOps {
		fs = replyFields[r.Op]
	}
	n := 1 + len(fs)
	if r.ID != nil {
		n++
	}
	var left fieldSet // the fields of fs r leaves out
	for _, f := range fs {
		if omittable.has(f) && r.omits(f) {
			left |= 1 << f
			n--
		}
	}
	w.openMap(n)
	w.key(fieldStatus)
	w.str(StatusOK)
	w.id(r.ID)
	for _, f := range fs {
		if left.has(f) {
			continue
		}
		w.key(f)
		if err := w.replyValue(f, r); err != nil {
			return err
		}
	}
	w.closeMap()
	return nil
}

// omittable holds the fields an OK reply may leave out (Reply.omits).
const omittable = fieldSet(1<<fieldFeatures | 1<<fieldVersion | 1<<fieldSuperseded)

// omits reports whether the OK reply r leaves out field f of its op:
// PING's "features" when it has none, "version" when it is zero,
// "superseded" when false.
func (r *Reply) omits(f field) bool {
	switch f {
	case fieldFeatures:
		return r.Features == nil
	case fieldVersion:
		return r.Version.IsZero()
	case fieldSuperseded:
		return !r.Superseded
	}
	return false
}

// errorReply writes {"status":"error","id":...,"error":code,"message":...},
// with "version" last when r has one (a tombstone's not_found).
func (w *writer) errorReply(r *Reply) {
	e := r.Err
	if e == nil {
		e = &Error{Code: CodeInternal, Message: "unspecified error"}
	}
	n := 3
	if r.ID != nil {
		n++
	}
	v := r.Version
	if !v.IsZero() {
		n++
	}
	w.openMap(n)
	w.key(fieldStatus)
	w.str(StatusError)
	w.id(r.ID)
	w.key(fieldError)
	w.str(string(e.Code))
	w.key(fieldMessage)
	w.str(e.Message)
	if !v.IsZero() {
		w.key(fieldVersion)
		w.version(v)
	}
	w.closeMap()
}

// id writes the "id" field when there is one.
func (w *writer) id(id []byte) {
	if id != nil {
		w.key(fieldID)
		w.raw(id)
	}
}

// replyValue writes the value of the reply field f of r.
func (w *writer) replyValue(f field, r *Reply) error {
	// One case per field of replyFields, each writing its member
	// (TestAppendReplyEveryField checks none is missing).
	switch f {
	case fieldKey:
		w.str(r.Key)
	case fieldValue:
		w.raw(r.Value)
	case fieldCursor:
		w.str(r.Cursor)
	case fieldToken:
		w.str(r.Token)
	case fieldNode:
		w.str(r.Node)
	case fieldDeleted:
		w.bool(r.Deleted)
	case fieldSuperseded:
		w.bool(r.Superseded)
	case fieldVersion:
		w.version(r.Version)
	case fieldCount:
		w.int(int64(r.Count))
	case fieldProtocol:
		w.int(int64(r.Protocol))
	case fieldFeatures:
		w.openArray(len(r.Features))
		for _, s := range r.Features {
			w.str(s)
		}
		w.closeArray()
	case fieldCollection:
		w.entries(r.Collection)
	case fieldDigests:
		w.digests(r.Digests)
	case fieldStats:
		return w.stats(r.Stats)
	case fieldResults:
		w.openArray(len(r.Results))
		for i := range r.Results {
			if err := w.reply(&r.Results[i]); err != nil {
				return err
			}
		}
		w.closeArray()
	default:
		return fmt.Errorf("protocol: no encoding of reply field %v", f)
	}
	return nil
}

// entries writes a "collection": each entry {"key":k,"value":v}, or
// {"key":k,"raw_value":b,"value_codec":c} when it travels raw; an entry
// with a version or a tombstone is written by versionedEntry.
func (w *writer) entries(es []Entry) {
	w.openArray(len(es))
	for i := range es {
		e := &es[i]
		switch {
		case !e.Version.IsZero() || e.Deleted:
			w.versionedEntry(e)
		case e.Codec != 0:
			w.openMap(3)
			w.key(fieldKey)
			w.str(e.Key)
			w.key(fieldRawValue)
			w.bytes(e.Value)
			w.key(fieldValueCodec)
			w.str(e.Codec.String())
			w.closeMap()
		default:
			w.openMap(2)
			w.key(fieldKey)
			w.str(e.Key)
			w.key(fieldValue)
			w.raw(e.Value)
			w.closeMap()
		}
	}
	w.closeArray()
}

// versionedEntry writes an entry of a reply with versions: its key, then
// "deleted":true for a tombstone or its value (raw or not), then its
// "version" when it has one.
func (w *writer) versionedEntry(e *Entry) {
	n := 2
	if e.Codec != 0 && !e.Deleted {
		n = 3
	}
	hasVersion := !e.Version.IsZero()
	if hasVersion {
		n++
	}
	w.openMap(n)
	w.key(fieldKey)
	w.str(e.Key)
	switch {
	case e.Deleted:
		w.key(fieldDeleted)
		w.bool(true)
	case e.Codec != 0:
		w.key(fieldRawValue)
		w.bytes(e.Value)
		w.key(fieldValueCodec)
		w.str(e.Codec.String())
	default:
		w.key(fieldValue)
		w.raw(e.Value)
	}
	if hasVersion {
		w.key(fieldVersion)
		w.version(e.Version)
	}
	w.closeMap()
}

// digests writes "digests": [[partition, keys, sum], ...].
func (w *writer) digests(ds []Digest) {
	w.openArray(len(ds))
	for _, d := range ds {
		w.openArray(3)
		w.int(int64(d.Partition))
		w.uint(d.Keys)
		w.uint(d.Sum)
		w.closeArray()
	}
	w.closeArray()
}

// stats writes the STATS object with the standard encoder of the codec.
func (w *writer) stats(s *Stats) error {
	var body []byte
	var err error
	if w.c == JSON {
		body, err = json.Marshal(s)
	} else {
		body, err = msgpack.Marshal(s)
	}
	if err != nil {
		return fmt.Errorf("protocol: encode stats: %w", err)
	}
	w.raw(body)
	return nil
}
