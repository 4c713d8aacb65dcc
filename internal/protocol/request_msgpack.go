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
		// One case per request field, each decoding straight into its
		// member (TestDecodersSetEveryField checks none is missing).
		switch requestFieldNamed(name) {
		case fieldOp:
			op, err = rd.str(fieldOp)
			haveOp = true
		case fieldID:
			r.ID, err = rd.raw()
		case fieldKey:
			var b []byte
			b, err = rd.str(fieldKey)
			r.Key = aliasString(b)
		case fieldValue:
			r.Value, err = rd.raw()
		case fieldRawValue:
			raw.b, err = rd.bin(fieldRawValue)
		case fieldValueCodec:
			var b []byte
			if b, err = rd.str(fieldValueCodec); err == nil {
				raw.c, err = parseValueCodec(string(b))
			}
		case fieldIfAbsent:
			r.IfAbsent, err = rd.bool(fieldIfAbsent)
		case fieldCursor:
			var b []byte
			b, err = rd.str(fieldCursor)
			r.Cursor = aliasString(b)
		case fieldLimit:
			r.Limit, err = rd.smallInt(fieldLimit)
		case fieldHashFrom:
			r.HashFrom, err = rd.uint64(fieldHashFrom)
		case fieldHashTo:
			r.HashTo, err = rd.uint64(fieldHashTo)
		case fieldPartitions:
			r.Partitions, err = rd.smallInt(fieldPartitions)
		case fieldBitmap:
			var b []byte
			if b, err = rd.str(fieldBitmap); err == nil {
				r.Bitmap, err = decodeBase64(fieldBitmap, b)
			}
		case fieldRaw:
			r.Raw, err = rd.bool(fieldRaw)
		case fieldToken:
			var b []byte
			b, err = rd.str(fieldToken)
			r.Token = aliasString(b)
		case fieldTimeoutMS:
			r.TimeoutMS, err = rd.smallInt(fieldTimeoutMS)
		case fieldVersion:
			var b []byte
			if b, err = rd.str(fieldVersion); err == nil {
				r.Version, err = parseVersion(fieldVersion, b)
			}
		case fieldVersions:
			r.Versions, err = rd.bool(fieldVersions)
		case fieldOps:
			if nested {
				err = rd.skip() // validate rejects a nested BATCH
				break
			}
			r.Ops, err = rd.ops(lim)
		default:
			// Unknown, or a reply's.
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
