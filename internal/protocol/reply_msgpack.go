package protocol

import "strings"

// fastMsgpackReply decodes the msgpack replies of the request path
// (GET_ONE, PUT, DELETE, SYNC, errors, and BATCHes of those) without
// reflection: the profile of pipelined GET_ONE put 40% of a client's time
// in the reflective decoder. It knows the fields status, error, message,
// id, key, value, deleted, token and results; ok is false for anything
// else (another field, a value of another type, a status that is neither
// StatusOK nor StatusError, malformed input), which the caller leaves to
// decodeReply. Raw fields (ID, Value) and the strings Key and Token alias
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
		r.Err = &Error{Code: Code(strings.Clone(string(e.Code))), Message: strings.Clone(e.Message)}
	default:
		return r, false // decodeReply words the error
	}
	return r, true
}

// msgpackReplyFields are the fields of a reply, beside "results", that
// fastMsgpackReply decodes.
var msgpackReplyFields = fieldSetOf(fieldStatus, fieldError, fieldMessage, fieldKey, fieldToken,
	fieldID, fieldValue, fieldDeleted)

// fastReplyField decodes the value of field f of a reply into r, or of an
// error reply into e.
func (rd *mpReader) fastReplyField(f field, r *Reply, e *Error, depth int) bool {
	if f == fieldResults {
		return rd.fastResults(r, depth)
	}
	var v wireValue
	if !msgpackReplyFields.has(f) || rd.readField(f, &v) != nil {
		return false
	}
	r.set(f, &v, e)
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

// readField decodes the value of field f into *v, as its kind says (the
// request decoder decodes each field into its Request member instead).
func (rd *mpReader) readField(f field, v *wireValue) error {
	var err error
	var b []byte
	switch fields[f].kind {
	case kindString:
		b, err = rd.str(f)
		v.s = aliasString(b)
	case kindRaw:
		v.b, err = rd.raw()
	case kindBinary:
		v.b, err = rd.bin(f)
	case kindBase64:
		if b, err = rd.str(f); err == nil {
			v.b, err = decodeBase64(f, b)
		}
	case kindCodec:
		var c Codec
		if b, err = rd.str(f); err == nil {
			c, err = parseValueCodec(string(b))
			v.n = uint64(c)
		}
	case kindBool:
		var t bool
		t, err = rd.bool(f)
		v.n = b2u(t)
	case kindInt:
		var n int
		n, err = rd.smallInt(f)
		v.n = uint64(n)
	case kindUint64:
		v.n, err = rd.uint64(f)
	}
	return err
}
