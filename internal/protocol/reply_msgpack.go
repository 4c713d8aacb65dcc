package protocol

import "strings"

// fastMsgpackReply decodes the msgpack replies of the request path
// (GET_ONE, PUT, DELETE, SYNC, errors, and BATCHes of those) without
// reflection: the profile of pipelined GET_ONE put 40% of a client's time
// in the reflective decoder. It knows the fields status, error, message,
// id, key, value, version, deleted, superseded, token and results; ok is
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
	case fieldResults:
		return rd.fastResults(r, depth)
	default:
		return false
	}
	return err == nil
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
