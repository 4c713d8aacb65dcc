package protocol

import "unicode/utf8"

// validate checks a decoded request, whatever its codec: the rules that
// do not depend on one field (op, nesting), then the fields in checkOrder,
// each as the field table says (must, checked, only).
func validate(r *Request, lim *Limits, nested bool) error {
	if r.Op == OpInvalid {
		return errorf(CodeBadRequest, `missing %q`, fieldOp)
	}
	if nested {
		if r.Op == OpBatch {
			return errorf(CodeBadRequest, "%v cannot contain %v", OpBatch, OpBatch)
		}
		if r.ID != nil {
			return errorf(CodeBadRequest, `an operation inside %v cannot carry %q`, OpBatch, fieldID)
		}
	}
	if valid(r, lim) {
		return nil
	}
	return firstFault(r, lim)
}

// firstFault returns the error of the first check of r's op, in
// checkOrder, that r fails, or nil.
func firstFault(r *Request, lim *Limits) error {
	for _, c := range opChecks[r.Op] {
		if c.must && !r.carries(c.f) {
			return errorf(CodeBadRequest, fields[c.f].missing, r.Op, c.f, fields[c.f].pair)
		}
		if c.refused && r.carried().has(c.f) {
			return errorf(CodeBadRequest, `%v cannot carry %q`, r.Op, c.f)
		}
		if c.checked {
			if err := r.check(c.f, lim); err != nil {
				return err
			}
		}
	}
	return nil
}

// fieldCheck is what validate does with one field of a request of a
// given op: whether the op must carry it, whether its value is checked,
// and whether the op refuses it.
type fieldCheck struct {
	f                      field
	must, checked, refused bool
}

// refuses reports whether the requests of op may not carry field f.
func refuses(op Op, f field) bool { return fields[f].only != 0 && !fields[f].only.has(op) }

// opChecks lists, per op, the checks of validate in checkOrder, as the
// field table says: one for each field the op must carry, checks or
// refuses.
var opChecks = func() (t [numOps][]fieldCheck) {
	for _, op := range Ops {
		for _, f := range checkOrder {
			c := fieldCheck{f: f, must: fields[f].must.has(op), checked: fields[f].checked.has(op), refused: refuses(op, f)}
			if c.must || c.checked || c.refused {
				t[op] = append(t[op], c)
			}
		}
	}
	return t
}()

// opMasks holds, per op, the fields of the field table its requests must
// carry, those whose values are checked and those it refuses, as sets.
var opMasks = func() (t [numOps]struct{ must, checked, refused fieldSet }) {
	for _, op := range Ops {
		for f := range numRequestFields {
			t[op].must.addIf(f, fields[f].must.has(op))
			t[op].checked.addIf(f, fields[f].checked.has(op))
			t[op].refused.addIf(f, refuses(op, f))
		}
	}
	return t
}()

// valid reports whether the request r of a valid op passes the checks of
// its op: the fast path of validate, which then words no error. It tests
// the same conditions as carries and check, each only where the op's
// masks hold its field, in any order (validate's loop picks the error
// that wins when one fails). A raw value is left to validate.
func valid(r *Request, lim *Limits) bool {
	m := &opMasks[r.Op]
	var have fieldSet
	have.addIf(fieldKey, r.Key != "")
	have.addIf(fieldValue, r.Value != nil)
	have.addIf(fieldPartitions, r.Partitions != 0)
	have.addIf(fieldToken, r.Token != "")
	have.addIf(fieldOps, r.Ops != nil)
	have.addIf(fieldVersion, !r.Version.IsZero())
	have.addIf(fieldVersions, r.Versions)
	// carries holds any other field some op must carry; only the fields
	// above are refused by some op.
	const tested = fieldSet(1<<fieldKey | 1<<fieldValue | 1<<fieldPartitions | 1<<fieldToken | 1<<fieldOps)
	if m.must&tested&^have != 0 || m.refused&have != 0 {
		return false
	}
	c := m.checked
	switch {
	case c.has(fieldID) && len(r.ID) > MaxIDBytes,
		c.has(fieldKey) && (len(r.Key) > lim.MaxKeyBytes || !utf8.ValidString(r.Key)),
		c.has(fieldValue) && (len(r.Value) > lim.MaxValueBytes || r.ValueCodec != 0),
		c.has(fieldPartitions) && (r.Partitions != 0 || r.Bitmap != nil) && checkPartitions(r) != nil,
		c.has(fieldLimit) && (r.Limit < 0 || r.Limit > lim.MaxScanLimit),
		c.has(fieldHashTo) && r.HashTo != 0 && r.HashTo <= r.HashFrom,
		c.has(fieldToken) && len(r.Token) > MaxTokenBytes,
		c.has(fieldTimeoutMS) && r.TimeoutMS < 0:
		return false
	}
	return true
}

// carries reports whether r has field f, for the fields some op must
// carry: a key and a token must not be empty, partitions not 0.
func (r *Request) carries(f field) bool {
	switch f {
	case fieldKey:
		return r.Key != ""
	case fieldValue:
		return r.Value != nil
	case fieldPartitions:
		return r.Partitions != 0
	case fieldToken:
		return r.Token != ""
	case fieldOps:
		return r.Ops != nil
	}
	return true
}

// check checks the value of field f of r against the protocol's limits.
func (r *Request) check(f field, lim *Limits) error {
	switch f {
	case fieldID:
		if len(r.ID) > MaxIDBytes {
			return errorf(CodeTooLarge, `%q of %d bytes exceeds the limit of %d bytes`, fieldID, len(r.ID), MaxIDBytes)
		}
	case fieldKey:
		return checkKey(r.Key, lim)
	case fieldValue:
		return checkValue(r, lim)
	case fieldPartitions:
		return checkPartitions(r)
	case fieldLimit:
		if r.Limit < 0 {
			return errorf(CodeBadRequest, `%q must not be negative`, fieldLimit)
		}
		if r.Limit > lim.MaxScanLimit {
			return errorf(CodeTooLarge, `%q %d exceeds the limit of %d`, fieldLimit, r.Limit, lim.MaxScanLimit)
		}
	case fieldHashTo:
		if r.HashTo != 0 && r.HashTo <= r.HashFrom {
			return errorf(CodeBadRequest, `%q must be 0 or greater than %q`, fieldHashTo, fieldHashFrom)
		}
	case fieldToken:
		if len(r.Token) > MaxTokenBytes {
			return errorf(CodeTooLarge, "%v of %d bytes exceeds the limit of %d bytes", fieldToken, len(r.Token), MaxTokenBytes)
		}
	case fieldTimeoutMS:
		if r.TimeoutMS < 0 {
			return errorf(CodeBadRequest, `%q must not be negative`, fieldTimeoutMS)
		}
	}
	return nil
}

// checkKey checks a key that is there: its length and its encoding.
func checkKey(k string, lim *Limits) error {
	switch {
	case len(k) > lim.MaxKeyBytes:
		return errorf(CodeTooLarge, "%v of %d bytes exceeds the limit of %d bytes", fieldKey, len(k), lim.MaxKeyBytes)
	case !utf8.ValidString(k):
		return errorf(CodeBadRequest, `%q is not valid UTF-8`, fieldKey)
	}
	return nil
}

// checkValue checks the value of a PUT: its size and, when it came raw,
// that it is one well-formed value of its codec.
func checkValue(r *Request, lim *Limits) error {
	if len(r.Value) > lim.MaxValueBytes {
		return errorf(CodeTooLarge, "%v of %d bytes exceeds the limit of %d bytes", fieldValue, len(r.Value), lim.MaxValueBytes)
	}
	if r.ValueCodec != 0 && !wellFormed(r.Value, r.ValueCodec) {
		return errorf(CodeBadRequest, `%q is not one well-formed %v value`, fieldRawValue, r.ValueCodec)
	}
	return nil
}

// checkPartitions checks "partitions" and "bitmap" go together and agree.
func checkPartitions(r *Request) error {
	switch {
	case r.Partitions == 0 && r.Bitmap == nil:
		return nil
	case r.Partitions < 1 || r.Partitions > MaxPartitions:
		return errorf(CodeBadRequest, `%q must be in [1, %d]`, fieldPartitions, MaxPartitions)
	case r.Bitmap == nil:
		return errorf(CodeBadRequest, `%q needs %q`, fieldPartitions, fieldBitmap)
	case len(r.Bitmap) != (r.Partitions+7)/8:
		return errorf(CodeBadRequest, `%q of %d bytes does not fit %d partitions (%d bytes)`,
			fieldBitmap, len(r.Bitmap), r.Partitions, (r.Partitions+7)/8)
	}
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
