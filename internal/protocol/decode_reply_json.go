package protocol

// fastJSONReply decodes the JSON replies clients read in bulk (SCAN and
// GET_ALL pages, DIGEST, DELETE_PARTITIONS, GET_ONE, writes, errors)
// without reflection: one pass that checks the syntax and keeps the spans
// of raw values, so a SCAN page costs no allocation per entry beyond its
// Entry. Strings without escapes and raw values (ID, Value) alias msg.
// ok is false for anything it does not handle exactly as the
// encoding/json-based decoder does — a field it does not know (results,
// stats, node, protocol, or any other spelling), a value of an unexpected
// type (null included), a string that is not valid UTF-8 — and the caller
// falls back to that decoder. FuzzDecodeReplyJSONDiff checks the two agree.
func fastJSONReply(msg []byte) (r Reply, ok bool) {
	p := jsonParser{b: msg}
	p.ws()
	if p.i >= len(msg) || msg[p.i] != '{' {
		return Reply{}, false
	}
	var code, message string
	ok = p.fields(1, func(name string) bool {
		switch name {
		case "status":
			return p.replyString(&r.Status)
		case "error":
			return p.replyString(&code)
		case "message":
			return p.replyString(&message)
		case "key":
			return p.replyString(&r.Key)
		case "cursor":
			return p.replyString(&r.Cursor)
		case "token":
			return p.replyString(&r.Token)
		case "id":
			return p.rawValue(&r.ID, 2)
		case "value":
			return p.rawValue(&r.Value, 2)
		case "deleted":
			return p.replyBool(&r.Deleted)
		case "count":
			return p.replyInt(&r.Count)
		case "collection":
			return p.collection(&r.Collection)
		case "digests":
			return p.digests(&r.Digests)
		}
		return false
	})
	if !ok {
		return Reply{}, false
	}
	p.ws()
	if p.i != len(msg) {
		return Reply{}, false
	}
	switch r.Status {
	case StatusOK:
	case StatusError:
		r.Err = &Error{Code: Code(code), Message: message}
	default:
		return Reply{}, false // the standard decoder words the error
	}
	return r, true
}

// fields parses the object at p.i, calling field with each field name
// (unescaped) with p.i at its value; field parses the value or returns
// false.
func (p *jsonParser) fields(depth int, field func(name string) bool) bool {
	if depth > maxJSONDepth {
		return false
	}
	p.i++
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == '}' {
		p.i++
		return true
	}
	for {
		if p.i >= len(p.b) || p.b[p.i] != '"' {
			return false
		}
		ks := p.i
		esc, ok := p.skipString()
		if !ok {
			return false
		}
		name := p.b[ks+1 : p.i-1]
		if esc {
			name = unescape(nil, name)
		}
		p.ws()
		if p.i >= len(p.b) || p.b[p.i] != ':' {
			return false
		}
		p.i++
		p.ws()
		if !field(aliasString(name)) {
			return false
		}
		p.ws()
		if p.i >= len(p.b) {
			return false
		}
		switch p.b[p.i] {
		case ',':
			p.i++
			p.ws()
		case '}':
			p.i++
			return true
		default:
			return false
		}
	}
}

// replyString parses a string into *dst.
func (p *jsonParser) replyString(dst *string) bool {
	s := p.i
	if s >= len(p.b) || p.b[s] != '"' {
		return false
	}
	if _, ok := p.skipString(); !ok {
		return false
	}
	v, err := p.str("", jsonSpan{s, p.i})
	*dst = v
	return err == nil
}

// rawValue parses any value, at nesting depth depth, into *dst, as its raw
// bytes.
func (p *jsonParser) rawValue(dst *[]byte, depth int) bool {
	s := p.i
	if !p.value(depth) {
		return false
	}
	*dst = p.b[s:p.i:p.i]
	return true
}

func (p *jsonParser) replyBool(dst *bool) bool {
	switch {
	case len(p.b)-p.i >= 4 && string(p.b[p.i:p.i+4]) == "true":
		*dst = true
		p.i += 4
	case len(p.b)-p.i >= 5 && string(p.b[p.i:p.i+5]) == "false":
		*dst = false
		p.i += 5
	default:
		return false
	}
	return true
}

// replyUint parses a number without sign, fraction or exponent.
func (p *jsonParser) replyUint(dst *uint64) bool {
	s := p.i
	if s >= len(p.b) || !isDigit(p.b[s]) || !p.number() {
		return false
	}
	u, _, ok := p.digits(jsonSpan{s, p.i})
	*dst = u
	return ok
}

func (p *jsonParser) replyInt(dst *int) bool {
	var u uint64
	if !p.replyUint(&u) || u > MaxPartitions*1024 {
		return false // (counts are bounded by a page; anything else is odd)
	}
	*dst = int(u)
	return true
}

// collection parses [{"key":k,"value":v},...], or raw entries
// {"key":k,"raw_value":b64,"value_codec":c}.
func (p *jsonParser) collection(dst *[]Entry) bool {
	if p.i >= len(p.b) || p.b[p.i] != '[' {
		return false
	}
	out := make([]Entry, 0, 64)
	ok := p.elements(func() bool {
		if p.b[p.i] != '{' {
			return false
		}
		var e Entry
		var raw, codec string
		haveRaw, haveCodec := false, false
		if !p.fields(3, func(name string) bool {
			switch name {
			case "key":
				return p.replyString(&e.Key)
			case "value":
				return p.rawValue(&e.Value, 4)
			case "raw_value":
				haveRaw = true
				return p.replyString(&raw)
			case "value_codec":
				haveCodec = true
				return p.replyString(&codec)
			}
			return false
		}) {
			return false
		}
		if haveRaw || haveCodec {
			if !haveRaw || !haveCodec || e.Value != nil {
				return false
			}
			b, err := decodeBase64("raw_value", aliasBytes(raw))
			if e.Codec = ParseCodec(codec); err != nil || e.Codec == 0 {
				return false
			}
			e.Value = b
		}
		out = append(out, e)
		return true
	})
	*dst = out
	return ok
}

// digests parses [[partition,keys,sum],...].
func (p *jsonParser) digests(dst *[]Digest) bool {
	if p.i >= len(p.b) || p.b[p.i] != '[' {
		return false
	}
	out := make([]Digest, 0, 64)
	ok := p.elements(func() bool {
		if p.b[p.i] != '[' {
			return false
		}
		var v [3]uint64
		n := 0
		if !p.elements(func() bool {
			if n == 3 || !p.replyUint(&v[n]) {
				return false
			}
			n++
			return true
		}) || n != 3 || v[0] >= MaxPartitions {
			return false
		}
		out = append(out, Digest{Partition: int(v[0]), Keys: v[1], Sum: v[2]})
		return true
	})
	*dst = out
	return ok
}

// elements parses the array at p.i, calling elem with p.i at each element
// (never at the end of the input).
func (p *jsonParser) elements(elem func() bool) bool {
	p.i++
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == ']' {
		p.i++
		return true
	}
	for {
		if p.i >= len(p.b) || !elem() {
			return false
		}
		p.ws()
		if p.i >= len(p.b) {
			return false
		}
		switch p.b[p.i] {
		case ',':
			p.i++
			p.ws()
		case ']':
			p.i++
			return true
		default:
			return false
		}
	}
}
