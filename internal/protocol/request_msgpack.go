package protocol

// The msgpack request decoder. Fields are decoded in the order of the map
// and the first bad one is reported; a non-string key or an unknown field
// is skipped.

func decodeMsgpack(msg []byte, lim Limits) (Request, error) {
	rd := mpReader{b: msg}
	var r Request
	if err := rd.request(&r, lim, false); err != nil {
		return Request{}, err
	}
	if rd.i != len(msg) {
		return Request{}, errorf(CodeBadRequest, "%d trailing bytes after the msgpack map", len(msg)-rd.i)
	}
	return r, nil
}

// request decodes one request into *r, which must be zero.
func (rd *mpReader) request(r *Request, lim Limits, nested bool) error {
	n, ok, err := rd.mapLen()
	if err != nil {
		return err
	}
	if !ok {
		return errorf(CodeBadRequest, "request must be a msgpack map")
	}
	var op []byte
	haveOp := false
	var raw rawValue
	var v wireValue
	for range n {
		name, ok, err := rd.strBytes()
		if err != nil {
			return err
		}
		if !ok {
			// A non-string map key cannot name a field: skip key and value.
			name = nil
			if err := rd.skip(); err != nil {
				return err
			}
		}
		switch f := requestFieldNamed(name); {
		case f == fieldOp:
			op, err = rd.str(fieldOp)
			haveOp = true
		case f == fieldOps && !nested:
			r.Ops, err = rd.ops(lim)
		case f < fieldOps:
			if err = rd.readField(f, &v); err == nil {
				r.set(f, &v, &raw)
			}
		default:
			// Unknown, a reply's, or "ops" in a BATCH element (validate
			// rejects a nested BATCH).
			err = rd.skip()
		}
		if err != nil {
			return err
		}
	}
	return finishRequest(r, op, haveOp, raw, lim, nested)
}

// finishRequest parses the op of a decoded request, sets its raw value and
// validates it.
func finishRequest(r *Request, op []byte, haveOp bool, raw rawValue, lim Limits, nested bool) error {
	if !haveOp {
		return errorf(CodeBadRequest, `missing %q`, fieldOp)
	}
	if r.Op = ParseOp(string(op)); r.Op == OpInvalid {
		return errorf(CodeUnknownOp, "unknown op %q", op)
	}
	if err := raw.setIn(r); err != nil {
		return err
	}
	return validate(r, &lim, nested)
}

// readField decodes the value of field f into *v, as its kind says.
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

// ops decodes the "ops" array of a BATCH.
func (rd *mpReader) ops(lim Limits) ([]Request, error) {
	n, ok, err := rd.arrayLen()
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errorf(CodeBadRequest, `%q must be an array`, fieldOps)
	}
	if n > lim.MaxBatchOps {
		return nil, errorf(CodeTooLarge, "%v of %d ops exceeds the limit of %d", OpBatch, n, lim.MaxBatchOps)
	}
	ops := make([]Request, n)
	for i := range ops {
		if err = rd.request(&ops[i], lim, true); err != nil {
			pe := AsError(err)
			return nil, errorf(pe.Code, "%v[%d]: %s", fieldOps, i, pe.Message)
		}
	}
	return ops, nil
}
