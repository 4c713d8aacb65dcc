package protocol

import "strings"

// fastMsgpackReply decodes the msgpack replies of the request path
// (GET_ONE, PUT, DELETE, SYNC, errors, and BATCHes of those) and SCAN
// and GET_ALL pages without reflection: the profile of pipelined GET_ONE
// put 40% of a client's time in the reflective decoder, and that of a
// rebalance 20% of the rebalancer's in decoding its SCAN pages. It knows
// the fields status, error, message, id, key, value, version, deleted,
// superseded, token, cursor, count, collection and digests (at the top)
// and results; ok is
// false for anything else (another field, a value of another type, a
// status that is neither StatusOK nor StatusError, malformed input), which
// the caller leaves to decodeReply. Raw fields (ID, Value) and the strings Key and Token alias
// msg; an error's code and message are copied, since errors outlive
// replies.
func fastMsgpackReply(msg []byte) (Reply, bool) {
	rd := mpReader{b: msg}
	r, ok := rd.fastReply(0)
	return r, ok && rd.i == len(msg)
}

// fastReply decodes one reply map at nesting depth depth (a BATCH's
// results are at depth 1).
func (rd *mpReader) fastReply(depth int) (Reply, bool) {
	var r Reply
	n, ok, err := rd.mapLen()
	if err != nil || !ok || depth > 1 {
		return r, false
	}
	var e Error
	for range n {
		name, ok, err := rd.strBytes()
		if err != nil || !ok || !rd.fastReplyField(fieldNamed(name), &r, &e, depth) {
			return r, false
		}
	}
	switch r.Status {
	case StatusOK:
		r.Status = StatusOK // not aliasing msg
	case StatusError:
		r.Status = StatusError
		r.Err = &Error{Code: ownCode(e.Code), Message: strings.Clone(e.Message)}
	default:
		return r, false // decodeReply words the error
	}
	return r, true
}

// fastReplyField decodes the value of field f of a reply into r, or of an
// error reply into e: one case per field fastReply decodes, each straight
// into its member.
func (rd *mpReader) fastReplyField(f field, r *Reply, e *Error, depth int) bool {
	var err error
	var b []byte
	switch f {
	case fieldStatus:
		b, err = rd.str(f)
		r.Status = aliasString(b)
	case fieldError:
		b, err = rd.str(f)
		e.Code = Code(aliasString(b))
	case fieldMessage:
		b, err = rd.str(f)
		e.Message = aliasString(b)
	case fieldKey:
		b, err = rd.str(f)
		r.Key = aliasString(b)
	case fieldToken:
		b, err = rd.str(f)
		r.Token = aliasString(b)
	case fieldID:
		r.ID, err = rd.raw()
	case fieldValue:
		r.Value, err = rd.raw()
	case fieldDeleted:
		r.Deleted, err = rd.bool(f)
	case fieldSuperseded:
		r.Superseded, err = rd.bool(f)
	case fieldVersion:
		if b, err = rd.str(f); err == nil {
			r.Version, err = parseVersion(f, b)
		}
	case fieldCursor:
		b, err = rd.str(f)
		r.Cursor = aliasString(b)
	case fieldCount:
		u, neg, ok, ierr := rd.integer()
		if ierr != nil || !ok || neg || u > MaxPartitions*1024 {
			return false // (counts are bounded by a page; anything else is odd)
		}
		r.Count = int(u)
	case fieldCollection:
		return depth == 0 && rd.fastCollection(r)
	case fieldDigests:
		return depth == 0 && rd.fastDigests(r)
	case fieldResults:
		return rd.fastResults(r, depth)
	default:
		return false
	}
	return err == nil
}

// fastCollection decodes the "collection" of a SCAN or GET_ALL page:
// entries {key, value}, raw ones {key, raw_value, value_codec}, tombstones
// {key, deleted: true}, each with its version or not. A nil value or
// version, or a field of another type, is left to decodeReply.
func (rd *mpReader) fastCollection(r *Reply) bool {
	n, ok, err := rd.arrayLen()
	if err != nil || !ok {
		return false
	}
	r.Collection = make([]Entry, n)
	for i := range n {
		if !rd.fastEntry(&r.Collection[i]) {
			return false
		}
	}
	return true
}

// fastEntry decodes one entry of a collection into *e.
func (rd *mpReader) fastEntry(e *Entry) bool {
	n, ok, err := rd.mapLen()
	if err != nil || !ok {
		return false
	}
	var raw, codec []byte
	haveRaw, haveCodec := false, false
	for range n {
		name, ok, err := rd.strBytes()
		if err != nil || !ok {
			return false
		}
		var b []byte
		switch fieldNamed(name) {
		case fieldKey:
			b, err = rd.str(fieldKey)
			e.Key = aliasString(b)
		case fieldValue:
			if rd.i < len(rd.b) && rd.b[rd.i] == 0xc0 {
				return false // the library decodes a nil value as empty
			}
			e.Value, err = rd.raw()
		case fieldRawValue:
			haveRaw = true
			raw, err = rd.bin(fieldRawValue)
		case fieldValueCodec:
			haveCodec = true
			codec, err = rd.str(fieldValueCodec)
		case fieldDeleted:
			e.Deleted, err = rd.bool(fieldDeleted)
		case fieldVersion:
			if b, err = rd.str(fieldVersion); err == nil {
				e.Version, err = parseVersion(fieldVersion, b)
			}
		default:
			return false
		}
		if err != nil {
			return false
		}
	}
	if isRaw, ok := entryShape(e, haveRaw, haveCodec); !isRaw || !ok {
		return ok
	}
	if e.Codec = ParseCodec(aliasString(codec)); e.Codec == 0 {
		return false
	}
	e.Value = raw
	return true
}

// fastDigests decodes the "digests" of a DIGEST reply,
// [[partition, keys, sum], ...], each an unsigned integer.
func (rd *mpReader) fastDigests(r *Reply) bool {
	n, ok, err := rd.arrayLen()
	if err != nil || !ok {
		return false
	}
	r.Digests = make([]Digest, n)
	for i := range n {
		if m, ok, err := rd.arrayLen(); err != nil || !ok || m != 3 {
			return false
		}
		var v [3]uint64
		for j := range v {
			u, neg, ok, err := rd.integer()
			if err != nil || !ok || neg {
				return false
			}
			v[j] = u
		}
		if r.Digests[i], ok = digestOf(v); !ok {
			return false
		}
	}
	return true
}

// fastResults decodes the "results" of a BATCH reply.
func (rd *mpReader) fastResults(r *Reply, depth int) bool {
	n, ok, err := rd.arrayLen()
	if err != nil || !ok {
		return false
	}
	r.Results = make([]Reply, n)
	for i := range n {
		if r.Results[i], ok = rd.fastReply(depth + 1); !ok {
			return false
		}
	}
	return true
}
