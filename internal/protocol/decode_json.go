package protocol

import (
	"bytes"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// The JSON request decoder. It is hand-written (like the msgpack one) so a
// request costs one pass over the message and almost no allocations, and it
// accepts and rejects exactly what the encoding/json-based decoder it
// replaced did, with the same error codes and messages (FuzzDecodeJSONDiff
// checks that against the old decoder, kept in decode_json_std_test.go):
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
//     partitions, bitmap, raw, token, timeout_ms, ops; the first bad one is
//     reported. (The old decoder used Go's map order, so which of
//     several bad fields it reported was random.)
//   - "id" and "value" are the raw bytes of the JSON value as sent, inside
//     whitespace included, outside whitespace not. Invalid UTF-8 inside them
//     is kept as is.
//   - Strings ("op", "key", "cursor", "bitmap", "token", "raw_value",
//     "value_codec") must be JSON strings whose
//     bytes are valid UTF-8; escapes are decoded like encoding/json does: a
//     \uXXXX surrogate pair is one rune, a lone surrogate becomes U+FFFD.
//     An unescaped string aliases the message, like msgpack strings do.
//   - "limit", "partitions" and "timeout_ms" must be JSON numbers without fraction or
//     exponent in the int range, "hash_from" and "hash_to" the same in the
//     uint64 range ("-0" is an int but not a uint64); null is rejected.
//   - "ops" is decoded only at the top level; in a BATCH element it is
//     ignored (validate rejects a nested BATCH). Elements beyond
//     Limits.MaxBatchOps are checked for syntax but not decoded.

// maxJSONDepth is encoding/json's nesting limit: an object or array nested
// deeper is a syntax error.
const maxJSONDepth = 10000

// Known fields, in the order decodeJSON checks them after "op".
const (
	fOp = iota
	fID
	fKey
	fValue
	fRawValue
	fValueCodec
	fIfAbsent
	fCursor
	fLimit
	fHashFrom
	fHashTo
	fPartitions
	fBitmap
	fRaw
	fToken
	fTimeoutMS
	fOps
	numFields
)

// jsonSpan is where the value of a field lies in the message; e == 0 means
// the field is absent (no value can end at offset 0).
type jsonSpan struct{ s, e int }

// jsonFields holds the span of the last occurrence of each known field.
type jsonFields [numFields]jsonSpan

// jsonBatch collects the decoded elements of a top-level "ops" array.
type jsonBatch struct {
	ops []Request
	n   int    // elements seen, including those not decoded
	err *Error // error of the first element that failed, prefixed with its index
}

type jsonParser struct {
	b   []byte
	i   int
	lim Limits
	err *Error // the syntax error that stopped the parse
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

// request fills *r from the fields of one parsed object.
func (p *jsonParser) request(r *Request, f *jsonFields, nested bool, bt *jsonBatch) error {
	sp := f[fOp]
	if sp.e == 0 {
		return errorf(CodeBadRequest, `missing "op"`)
	}
	s, err := p.str("op", sp)
	if err != nil {
		return err
	}
	if r.Op = ParseOp(s); r.Op == OpInvalid {
		return errorf(CodeUnknownOp, "unknown op %q", s)
	}
	if sp := f[fID]; sp.e != 0 {
		r.ID = p.b[sp.s:sp.e:sp.e]
	}
	if sp := f[fKey]; sp.e != 0 {
		if r.Key, err = p.str("key", sp); err != nil {
			return err
		}
	}
	if sp := f[fValue]; sp.e != 0 {
		r.Value = p.b[sp.s:sp.e:sp.e]
	}
	var raw []byte
	if sp := f[fRawValue]; sp.e != 0 {
		s, err := p.str("raw_value", sp)
		if err != nil {
			return err
		}
		if raw, err = decodeBase64("raw_value", aliasBytes(s)); err != nil {
			return err
		}
	}
	var vc Codec
	if sp := f[fValueCodec]; sp.e != 0 {
		s, err := p.str("value_codec", sp)
		if err != nil {
			return err
		}
		if vc, err = parseValueCodec(s); err != nil {
			return err
		}
	}
	if err := setRawValue(r, raw, vc); err != nil {
		return err
	}
	if sp := f[fIfAbsent]; sp.e != 0 {
		if r.IfAbsent, err = p.bool("if_absent", sp); err != nil {
			return err
		}
	}
	if sp := f[fCursor]; sp.e != 0 {
		if r.Cursor, err = p.str("cursor", sp); err != nil {
			return err
		}
	}
	if sp := f[fLimit]; sp.e != 0 {
		if r.Limit, err = p.int("limit", sp); err != nil {
			return err
		}
	}
	if sp := f[fHashFrom]; sp.e != 0 {
		if r.HashFrom, err = p.uint64("hash_from", sp); err != nil {
			return err
		}
	}
	if sp := f[fHashTo]; sp.e != 0 {
		if r.HashTo, err = p.uint64("hash_to", sp); err != nil {
			return err
		}
	}
	if sp := f[fPartitions]; sp.e != 0 {
		if r.Partitions, err = p.int("partitions", sp); err != nil {
			return err
		}
	}
	if sp := f[fBitmap]; sp.e != 0 {
		s, err := p.str("bitmap", sp)
		if err != nil {
			return err
		}
		if r.Bitmap, err = decodeBase64("bitmap", aliasBytes(s)); err != nil {
			return err
		}
	}
	if sp := f[fRaw]; sp.e != 0 {
		if r.Raw, err = p.bool("raw", sp); err != nil {
			return err
		}
	}
	if sp := f[fToken]; sp.e != 0 {
		if r.Token, err = p.str("token", sp); err != nil {
			return err
		}
	}
	if sp := f[fTimeoutMS]; sp.e != 0 {
		if r.TimeoutMS, err = p.int("timeout_ms", sp); err != nil {
			return err
		}
	}
	if sp := f[fOps]; sp.e != 0 && !nested {
		switch {
		case p.b[sp.s] != '[':
			return errorf(CodeBadRequest, `"ops" must be an array`)
		case bt.n > p.lim.MaxBatchOps:
			return errorf(CodeTooLarge, "BATCH of %d ops exceeds the limit of %d", bt.n, p.lim.MaxBatchOps)
		case bt.err != nil:
			return bt.err
		}
		r.Ops = bt.ops
	}
	return validate(r, p.lim, nested)
}

// str returns the string field at sp.
func (p *jsonParser) str(name string, sp jsonSpan) (string, error) {
	raw := p.b[sp.s:sp.e]
	if raw[0] != '"' {
		return "", errorf(CodeBadRequest, "%q must be a string", name)
	}
	if !utf8.Valid(raw) {
		return "", errorf(CodeBadRequest, "%q is not valid UTF-8", name)
	}
	body := raw[1 : len(raw)-1]
	if bytes.IndexByte(body, '\\') < 0 {
		return aliasString(body), nil
	}
	return string(unescape(make([]byte, 0, len(body)), body)), nil
}

// bool returns the boolean field at sp.
func (p *jsonParser) bool(name string, sp jsonSpan) (bool, error) {
	switch string(p.b[sp.s:sp.e]) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, errorf(CodeBadRequest, "%q must be true or false", name)
}

// digits returns the magnitude and sign of the integer number at sp; ok is
// false unless it is a JSON number without fraction or exponent whose
// magnitude fits in a uint64.
func (p *jsonParser) digits(sp jsonSpan) (u uint64, neg, ok bool) {
	raw := p.b[sp.s:sp.e]
	if raw[0] == '-' {
		neg, raw = true, raw[1:]
	}
	if len(raw) == 0 {
		return 0, false, false
	}
	for _, c := range raw {
		if c < '0' || c > '9' {
			return 0, false, false
		}
		d := uint64(c - '0')
		if u > (math.MaxUint64-d)/10 {
			return 0, false, false
		}
		u = u*10 + d
	}
	return u, neg, true
}

func (p *jsonParser) int(name string, sp jsonSpan) (int, error) {
	u, neg, ok := p.digits(sp)
	switch {
	case !ok:
	case !neg && u <= math.MaxInt:
		return int(u), nil
	case neg && u == 0:
		return 0, nil
	case neg && u-1 <= math.MaxInt:
		return -int(u-1) - 1, nil
	}
	return 0, errorf(CodeBadRequest, "%q must be an integer", name)
}

func (p *jsonParser) uint64(name string, sp jsonSpan) (uint64, error) {
	u, neg, ok := p.digits(sp)
	if !ok || neg {
		return 0, errorf(CodeBadRequest, "%q must be an unsigned 64-bit integer", name)
	}
	return u, nil
}

// Syntax checking. Each function starts at the first byte of its value and
// leaves p.i right after it; on a syntax error it sets p.err and returns
// false. The error messages are those of encoding/json's scanner.

func (p *jsonParser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// syntax reports the byte at p.i as unexpected; at the end of the input it
// reports "unexpected end of JSON input".
func (p *jsonParser) syntax(context string) bool {
	if p.i >= len(p.b) {
		p.err = errorf(CodeBadRequest, "invalid JSON: unexpected end of JSON input")
		return false
	}
	p.err = errorf(CodeBadRequest, "invalid JSON: invalid character %s %s", quoteChar(p.b[p.i]), context)
	return false
}

// syntaxInToken is syntax inside a literal, number or escape, where
// encoding/json reports the end of the input as an unexpected space.
func (p *jsonParser) syntaxInToken(context string) bool {
	c := byte(' ')
	if p.i < len(p.b) {
		c = p.b[p.i]
	}
	p.err = errorf(CodeBadRequest, "invalid JSON: invalid character %s %s", quoteChar(c), context)
	return false
}

// object parses an object at nesting depth depth. When f is not nil it
// records the spans of known fields; when bt is not nil as well, an "ops"
// array is decoded into it.
func (p *jsonParser) object(f *jsonFields, depth int, bt *jsonBatch) bool {
	if depth > maxJSONDepth {
		return p.syntaxInToken("exceeded max depth")
	}
	p.i++
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == '}' {
		p.i++
		return true
	}
	for {
		if p.i >= len(p.b) || p.b[p.i] != '"' {
			return p.syntax("looking for beginning of object key string")
		}
		ks := p.i
		esc, ok := p.skipString()
		if !ok {
			return false
		}
		field := -1
		if f != nil {
			field = fieldIndex(p.b[ks+1:p.i-1], esc)
		}
		p.ws()
		if p.i >= len(p.b) || p.b[p.i] != ':' {
			return p.syntax("after object key")
		}
		p.i++
		p.ws()
		vs := p.i
		if field == fOps && bt != nil && p.i < len(p.b) && p.b[p.i] == '[' {
			ok = p.ops(bt, depth+1)
		} else {
			ok = p.value(depth + 1)
		}
		if !ok {
			return false
		}
		if field >= 0 {
			f[field] = jsonSpan{vs, p.i}
		}
		p.ws()
		if p.i < len(p.b) {
			switch p.b[p.i] {
			case ',':
				p.i++
				p.ws()
				continue
			case '}':
				p.i++
				return true
			}
		}
		return p.syntax("after object key:value pair")
	}
}

// ops parses the top-level "ops" array, decoding its elements into bt.
func (p *jsonParser) ops(bt *jsonBatch, depth int) bool {
	if depth > maxJSONDepth {
		return p.syntaxInToken("exceeded max depth")
	}
	// A repeated "ops" replaces the earlier one.
	if bt.ops == nil {
		bt.ops = make([]Request, 0, 8)
	}
	*bt = jsonBatch{ops: bt.ops[:0]}
	p.i++
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == ']' {
		p.i++
		return true
	}
	for {
		idx := bt.n
		bt.n++
		switch {
		case bt.n > p.lim.MaxBatchOps || bt.err != nil:
			if !p.value(depth + 1) {
				return false
			}
		case p.i < len(p.b) && p.b[p.i] == '{':
			var f jsonFields
			if !p.object(&f, depth+1, nil) {
				return false
			}
			bt.ops = append(bt.ops, Request{})
			if err := p.request(&bt.ops[idx], &f, true, nil); err != nil {
				pe := AsError(err)
				bt.err = errorf(pe.Code, "ops[%d]: %s", idx, pe.Message)
			}
		default:
			if !p.value(depth + 1) {
				return false
			}
			bt.err = errorf(CodeBadRequest, "ops[%d]: request must be a JSON object", idx)
		}
		p.ws()
		if p.i < len(p.b) {
			switch p.b[p.i] {
			case ',':
				p.i++
				p.ws()
				continue
			case ']':
				p.i++
				return true
			}
		}
		return p.syntax("after array element")
	}
}

// value parses any value (after whitespace) at nesting depth depth.
func (p *jsonParser) value(depth int) bool {
	if p.i >= len(p.b) {
		return p.syntax("looking for beginning of value")
	}
	switch c := p.b[p.i]; {
	case c == '"':
		_, ok := p.skipString()
		return ok
	case c == '{':
		return p.object(nil, depth, nil)
	case c == '[':
		return p.array(depth)
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	case c == 't':
		return p.literal("true")
	case c == 'f':
		return p.literal("false")
	case c == 'n':
		return p.literal("null")
	}
	return p.syntax("looking for beginning of value")
}

func (p *jsonParser) array(depth int) bool {
	if depth > maxJSONDepth {
		return p.syntaxInToken("exceeded max depth")
	}
	p.i++
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == ']' {
		p.i++
		return true
	}
	for {
		if !p.value(depth + 1) {
			return false
		}
		p.ws()
		if p.i < len(p.b) {
			switch p.b[p.i] {
			case ',':
				p.i++
				p.ws()
				continue
			case ']':
				p.i++
				return true
			}
		}
		return p.syntax("after array element")
	}
}

// plainStringByte reports the bytes a string holds as they are.
var plainStringByte = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// skipString parses a string; esc reports whether it has escapes.
func (p *jsonParser) skipString() (esc, ok bool) {
	b := p.b
	i := p.i + 1
	for {
		for i < len(b) && plainStringByte[b[i]] {
			i++
		}
		if i >= len(b) {
			p.i = i
			return false, p.syntax("in string literal")
		}
		switch b[i] {
		case '"':
			p.i = i + 1
			return esc, true
		case '\\':
			esc = true
			i++
			if i >= len(b) {
				p.i = i
				return false, p.syntaxInToken("in string escape code")
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				i++
				for range 4 {
					if i >= len(b) || unhex(b[i]) < 0 {
						p.i = i
						return false, p.syntaxInToken(`in \u hexadecimal character escape`)
					}
					i++
				}
			default:
				p.i = i
				return false, p.syntaxInToken("in string escape code")
			}
		default: // a control character
			p.i = i
			return false, p.syntax("in string literal")
		}
	}
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func (p *jsonParser) number() bool {
	b, i := p.b, p.i
	if b[i] == '-' {
		i++
		if i >= len(b) || !isDigit(b[i]) {
			p.i = i
			return p.syntaxInToken("in numeric literal")
		}
	}
	if b[i] == '0' {
		i++
	} else {
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !isDigit(b[i]) {
			p.i = i
			return p.syntaxInToken("after decimal point in numeric literal")
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			p.i = i
			return p.syntaxInToken("in exponent of numeric literal")
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	p.i = i
	return true
}

// literal parses true, false or null; p.b[p.i] is already w[0].
func (p *jsonParser) literal(w string) bool {
	for k := 1; k < len(w); k++ {
		if i := p.i + k; i >= len(p.b) || p.b[i] != w[k] {
			p.i = i
			return p.syntaxInToken("in literal " + w + " (expecting '" + w[k:k+1] + "')")
		}
	}
	p.i += len(w)
	return true
}

// fieldIndex returns the known field named by the string body name (esc:
// it has escapes), or -1.
func fieldIndex(name []byte, esc bool) int {
	if esc {
		// Known names are short and ASCII; anything else cannot match.
		var buf [16]byte
		if len(name) > 6*len(buf) {
			return -1
		}
		for _, c := range name {
			if c >= utf8.RuneSelf {
				return -1
			}
		}
		u := unescape(buf[:0], name)
		if len(u) > len(buf) {
			return -1
		}
		name = u
	}
	switch string(name) {
	case "op":
		return fOp
	case "id":
		return fID
	case "key":
		return fKey
	case "value":
		return fValue
	case "raw_value":
		return fRawValue
	case "value_codec":
		return fValueCodec
	case "if_absent":
		return fIfAbsent
	case "cursor":
		return fCursor
	case "limit":
		return fLimit
	case "hash_from":
		return fHashFrom
	case "hash_to":
		return fHashTo
	case "partitions":
		return fPartitions
	case "bitmap":
		return fBitmap
	case "raw":
		return fRaw
	case "token":
		return fToken
	case "timeout_ms":
		return fTimeoutMS
	case "ops":
		return fOps
	}
	return -1
}

// unescape appends the body of a syntactically valid JSON string, its
// escapes decoded as encoding/json decodes them, to dst.
func unescape(dst, s []byte) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		switch e := s[i+1]; e {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := hex4(s[i+2:])
			i += 6
			if utf16.IsSurrogate(r) {
				if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
					if d := utf16.DecodeRune(r, hex4(s[i+2:])); d != utf8.RuneError {
						dst = utf8.AppendRune(dst, d)
						i += 6
						continue
					}
				}
				r = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default: // '"', '\\', '/'
			dst = append(dst, e)
		}
		i += 2
	}
	return dst
}

// hex4 decodes the four hex digits at the start of s, which must be there.
func hex4(s []byte) rune {
	return rune(unhex(s[0])<<12 | unhex(s[1])<<8 | unhex(s[2])<<4 | unhex(s[3]))
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// quoteChar formats c like encoding/json's syntax errors do.
func quoteChar(c byte) string {
	switch c {
	case '\'':
		return `'\''`
	case '"':
		return `'"'`
	}
	s := strconv.Quote(string(rune(c)))
	return "'" + s[1:len(s)-1] + "'"
}
