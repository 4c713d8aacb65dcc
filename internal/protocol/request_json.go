package protocol

// The JSON request decoder. It is hand-written (like the msgpack one) so a
// request costs one pass over the message and almost no allocations, and it
// accepts and rejects exactly what the encoding/json-based decoder it
// replaced did, with the same error codes and messages (FuzzDecodeJSONDiff
// checks that against the old decoder, kept in request_json_std_test.go):
//
//   - The whole message is checked as RFC 8259 JSON before any field is
//     looked at, so a syntax error anywhere wins over a bad field; syntax
//     errors carry encoding/json's wording ("invalid JSON: invalid character
//     'x' after object key", "invalid JSON: unexpected end of JSON input"),
//     including its nesting limit of 10000 arrays and objects.
//   - Field names are compared after unescaping ("o\u0070" is "op"); a field
//     given twice counts once, with its last value (an earlier bad value is
//     not an error). Unknown fields are checked for syntax only.
//   - After "op", fields are checked in a fixed order: id, key, value,
//     raw_value, value_codec (then whether value, raw_value and value_codec
//     go together), if_absent, cursor, limit, hash_from, hash_to,
//     partitions, bitmap, raw, token, timeout_ms, version, versions, ops;
//     the first bad one is reported. (The old decoder used Go's map order, so which of
//     several bad fields it reported was random.)
//   - "id" and "value" are the raw bytes of the JSON value as sent, inside
//     whitespace included, outside whitespace not. Invalid UTF-8 inside them
//     is kept as is.
//   - Strings ("op", "key", "cursor", "bitmap", "token", "raw_value",
//     "value_codec", "version") must be JSON strings whose
//     bytes are valid UTF-8; escapes are decoded like encoding/json does: a
//     \uXXXX surrogate pair is one rune, a lone surrogate becomes U+FFFD.
//     An unescaped string aliases the message, like msgpack strings do.
//   - "limit", "partitions" and "timeout_ms" must be JSON numbers without fraction or
//     exponent in the int range, "hash_from" and "hash_to" the same in the
//     uint64 range ("-0" is an int but not a uint64); null is rejected.
//   - "ops" is decoded only at the top level; in a BATCH element it is
//     ignored (validate rejects a nested BATCH). Elements beyond
//     Limits.MaxBatchOps are checked for syntax but not decoded.

// jsonFields holds the span of the last occurrence of each request field,
// and the set of the fields seen.
type jsonFields struct {
	spans [numRequestFields]jsonSpan
	seen  fieldSet
}

// jsonBatch collects the decoded elements of a top-level "ops" array.
type jsonBatch struct {
	ops []Request
	n   int    // elements seen, including those not decoded
	err *Error // error of the first element that failed, prefixed with its index
}

func decodeJSON(msg []byte, lim Limits, nested bool) (Request, error) {
	p := jsonParser{b: msg, lim: lim}
	p.ws()
	if p.i >= len(msg) || msg[p.i] != '{' {
		return Request{}, errorf(CodeBadRequest, "request must be a JSON object")
	}
	var f jsonFields
	var bt jsonBatch
	btp := &bt
	if nested {
		btp = nil
	}
	if !p.object(&f, 1, btp) {
		return Request{}, p.err
	}
	p.ws()
	if p.i < len(msg) {
		return Request{}, errorf(CodeBadRequest, "invalid JSON: invalid character %s after top-level value", quoteChar(msg[p.i]))
	}
	var r Request
	if err := p.request(&r, &f, nested, &bt); err != nil {
		return Request{}, err
	}
	return r, nil
}

// object parses a request object at nesting depth depth, recording the
// spans of the request fields in f; when bt is not nil, an "ops" array is
// decoded into it.
func (p *jsonParser) object(f *jsonFields, depth int, bt *jsonBatch) bool {
	// The loop of members, without its call per member.
	if empty, ok := p.open(depth, '}'); empty || !ok {
		return ok
	}
	for {
		name, esc, ok := p.name()
		if !ok {
			return false
		}
		fi := jsonFieldNamed(name, esc, true)
		vs := p.i
		if fi == fieldOps && bt != nil && p.i < len(p.b) && p.b[p.i] == '[' {
			ok = p.ops(bt, depth+1)
		} else {
			ok = p.value(depth + 1)
		}
		if !ok {
			return false
		}
		if fi < numRequestFields {
			f.spans[fi] = jsonSpan{vs, p.i}
			f.seen |= 1 << fi
		}
		if more, ok := p.next('}', "after object key:value pair"); !more {
			return ok
		}
	}
}

// request fills *r from the fields of one parsed object: "op", then the
// others in the order of the field table.
func (p *jsonParser) request(r *Request, f *jsonFields, nested bool, bt *jsonBatch) error {
	if err := p.op(r, f.spans[fieldOp]); err != nil {
		return err
	}
	// "raw_value" and "value_codec" go into r together, once both are read.
	const upToValueCodec = fieldSet(1)<<(fieldValueCodec+1) - 1
	var raw rawValue
	if err := p.fields(r, f, f.seen&upToValueCodec&^(1<<fieldOp), &raw); err != nil {
		return err
	}
	if err := raw.setIn(r); err != nil {
		return err
	}
	if err := p.fields(r, f, f.seen&^upToValueCodec&^(1<<fieldOps), &raw); err != nil {
		return err
	}
	if sp := f.spans[fieldOps]; sp.e != 0 && !nested {
		if err := p.batch(r, sp, bt); err != nil {
			return err
		}
	}
	return validate(r, &p.lim, nested)
}

// fields decodes the fields s of f into r, in table order: one case per
// request field, each decoding straight into its member
// (TestDecodersSetEveryField checks none is missing).
func (p *jsonParser) fields(r *Request, f *jsonFields, s fieldSet, raw *rawValue) error {
	for s != 0 {
		fi := s.pop()
		sp := f.spans[fi]
		var err error
		var str string
		switch fi {
		case fieldID:
			r.ID = p.b[sp.s:sp.e:sp.e]
		case fieldKey:
			r.Key, err = p.str(fieldKey, sp)
		case fieldValue:
			r.Value = p.b[sp.s:sp.e:sp.e]
		case fieldRawValue:
			if str, err = p.str(fieldRawValue, sp); err == nil {
				raw.b, err = decodeBase64(fieldRawValue, aliasBytes(str))
			}
		case fieldValueCodec:
			if str, err = p.str(fieldValueCodec, sp); err == nil {
				raw.c, err = parseValueCodec(str)
			}
		case fieldIfAbsent:
			r.IfAbsent, err = p.bool(fieldIfAbsent, sp)
		case fieldCursor:
			r.Cursor, err = p.str(fieldCursor, sp)
		case fieldLimit:
			r.Limit, err = p.int(fieldLimit, sp)
		case fieldHashFrom:
			r.HashFrom, err = p.uint64(fieldHashFrom, sp)
		case fieldHashTo:
			r.HashTo, err = p.uint64(fieldHashTo, sp)
		case fieldPartitions:
			r.Partitions, err = p.int(fieldPartitions, sp)
		case fieldBitmap:
			if str, err = p.str(fieldBitmap, sp); err == nil {
				r.Bitmap, err = decodeBase64(fieldBitmap, aliasBytes(str))
			}
		case fieldRaw:
			r.Raw, err = p.bool(fieldRaw, sp)
		case fieldToken:
			r.Token, err = p.str(fieldToken, sp)
		case fieldTimeoutMS:
			r.TimeoutMS, err = p.int(fieldTimeoutMS, sp)
		case fieldVersion:
			if str, err = p.str(fieldVersion, sp); err == nil {
				r.Version, err = parseVersion(fieldVersion, aliasBytes(str))
			}
		case fieldVersions:
			r.Versions, err = p.bool(fieldVersions, sp)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// op decodes "op".
func (p *jsonParser) op(r *Request, sp jsonSpan) error {
	if sp.e == 0 {
		return errorf(CodeBadRequest, `missing %q`, fieldOp)
	}
	s, err := p.str(fieldOp, sp)
	if err != nil {
		return err
	}
	if r.Op = ParseOp(s); r.Op == OpInvalid {
		return errorf(CodeUnknownOp, "unknown op %q", s)
	}
	return nil
}

// batch sets r.Ops from the "ops" array at sp, decoded into bt.
func (p *jsonParser) batch(r *Request, sp jsonSpan, bt *jsonBatch) error {
	switch {
	case p.b[sp.s] != '[':
		return errorf(CodeBadRequest, `%q must be an array`, fieldOps)
	case bt.n > p.lim.MaxBatchOps:
		return errorf(CodeTooLarge, "%v of %d ops exceeds the limit of %d", OpBatch, bt.n, p.lim.MaxBatchOps)
	case bt.err != nil:
		return bt.err
	}
	r.Ops = bt.ops
	return nil
}

// ops parses the top-level "ops" array, decoding its elements into bt.
func (p *jsonParser) ops(bt *jsonBatch, depth int) bool {
	// A repeated "ops" replaces the earlier one.
	*bt = jsonBatch{ops: bt.ops[:0]}
	// The loop of elements, without its call per element.
	if empty, ok := p.open(depth, ']'); empty || !ok {
		if bt.ops == nil {
			bt.ops = []Request{} // "ops":[] is a BATCH of nothing, not none
		}
		return ok
	}
	if bt.ops == nil {
		// At most one past the limit: that one makes the error.
		bt.ops = make([]Request, 0, p.arrayGuess(depth+1, p.lim.MaxBatchOps+1))
	}
	for {
		if p.i >= len(p.b) {
			return p.syntax("looking for beginning of value")
		}
		if !p.batchElement(bt, depth) {
			return false
		}
		if more, ok := p.next(']', "after array element"); !more {
			return ok
		}
	}
}

// arrayGuess guesses, with p.i at the first element of an array at
// nesting depth depth, how many elements the array holds, for the
// capacity of the slice they are decoded into: the bytes left over the
// length of the first element (skipped over; p.i is left where it was),
// at most limit. The elements of a bulk BATCH or a page are alike, so it
// is close; a wrong guess costs only a larger slice or a regrowth. Growing
// from a small slice instead cost a BATCH of 512 PUTs nine copies of its
// requests, under write barriers, and a SCAN page of 10,000 entries grown
// from 64 a third of a rebalancer's CPU.
func (p *jsonParser) arrayGuess(depth, limit int) int {
	start := p.i
	defer func() { p.i, p.err = start, nil }()
	if !p.value(depth) {
		return 1 // the caller's parse meets the error
	}
	first := p.i - start + 1 // and its comma
	return min(limit, 1+(len(p.b)-p.i)/first)
}

// batchElement parses one element of the "ops" array at depth+1 and
// decodes it into bt, unless the batch is already too long or failed.
func (p *jsonParser) batchElement(bt *jsonBatch, depth int) bool {
	idx := bt.n
	bt.n++
	switch {
	case bt.n > p.lim.MaxBatchOps || bt.err != nil:
		return p.value(depth + 1)
	case p.b[p.i] == '{':
		var f jsonFields
		if !p.object(&f, depth+1, nil) {
			return false
		}
		bt.ops = append(bt.ops, Request{})
		if err := p.request(&bt.ops[idx], &f, true, nil); err != nil {
			pe := AsError(err)
			bt.err = errorf(pe.Code, "%v[%d]: %s", fieldOps, idx, pe.Message)
		}
		return true
	default:
		if !p.value(depth + 1) {
			return false
		}
		bt.err = errorf(CodeBadRequest, "%v[%d]: request must be a JSON object", fieldOps, idx)
		return true
	}
}
