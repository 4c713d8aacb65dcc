package protocol

import (
	"bytes"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// The JSON scanner both JSON decoders (requests and replies) read with: it
// checks RFC 8259 syntax in one pass, with encoding/json's error messages
// and nesting limit, and reads the values of fields in place.

// maxJSONDepth is encoding/json's nesting limit: an object or array nested
// deeper is a syntax error.
const maxJSONDepth = 10000

// jsonSpan is where the value of a field lies in the message; e == 0 means
// the field is absent (no value can end at offset 0).
type jsonSpan struct{ s, e int }

// jsonParser scans one JSON message.
type jsonParser struct {
	b   []byte
	i   int
	lim Limits
	err *Error // the syntax error that stopped the parse
}

// Reading values in place: each reads the value of field f at sp, which
// the scanner has checked for syntax.

// str returns the string field at sp.
func (p *jsonParser) str(f field, sp jsonSpan) (string, error) {
	raw := p.b[sp.s:sp.e]
	if raw[0] != '"' {
		return "", errorf(CodeBadRequest, "%q must be a string", f)
	}
	if !utf8.Valid(raw) {
		return "", errorf(CodeBadRequest, "%q is not valid UTF-8", f)
	}
	body := raw[1 : len(raw)-1]
	if bytes.IndexByte(body, '\\') < 0 {
		return aliasString(body), nil
	}
	return string(unescape(make([]byte, 0, len(body)), body)), nil
}

// bool returns the boolean field at sp.
func (p *jsonParser) bool(f field, sp jsonSpan) (bool, error) {
	switch string(p.b[sp.s:sp.e]) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, errorf(CodeBadRequest, "%q must be true or false", f)
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

func (p *jsonParser) int(f field, sp jsonSpan) (int, error) {
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
	return 0, errorf(CodeBadRequest, "%q must be an integer", f)
}

func (p *jsonParser) uint64(f field, sp jsonSpan) (uint64, error) {
	u, neg, ok := p.digits(sp)
	if !ok || neg {
		return 0, errorf(CodeBadRequest, "%q must be an unsigned 64-bit integer", f)
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

// members parses the object at p.i at nesting depth depth. It calls member
// with the body of each member's name (esc: it has escapes) and p.i at the
// member's value, which member parses (p.i is possibly at the end of the
// input); a nil member parses every value as any value.
func (p *jsonParser) members(depth int, member func(name []byte, esc bool) bool) bool {
	if empty, ok := p.open(depth, '}'); empty || !ok {
		return ok
	}
	for {
		name, esc, ok := p.name()
		if !ok {
			return false
		}
		if member == nil {
			ok = p.value(depth + 1)
		} else {
			ok = member(name, esc)
		}
		if !ok {
			return false
		}
		if more, ok := p.next('}', "after object key:value pair"); !more {
			return ok
		}
	}
}

// name reads the name of an object member and the colon after it, leaving
// p at the member's value; esc says whether the name has escapes.
func (p *jsonParser) name() (name []byte, esc, ok bool) {
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		return nil, false, p.syntax("looking for beginning of object key string")
	}
	ks := p.i
	if esc, ok = p.skipString(); !ok {
		return nil, false, false
	}
	name = p.b[ks+1 : p.i-1]
	p.ws()
	if p.i >= len(p.b) || p.b[p.i] != ':' {
		return nil, false, p.syntax("after object key")
	}
	p.i++
	p.ws()
	return name, esc, true
}

// elements parses the array at p.i at nesting depth depth. It calls elem
// with p.i at each element (never at the end of the input), which elem
// parses; a nil elem parses every element as any value.
func (p *jsonParser) elements(depth int, elem func() bool) bool {
	if empty, ok := p.open(depth, ']'); empty || !ok {
		return ok
	}
	for {
		var ok bool
		switch {
		case elem == nil:
			ok = p.value(depth + 1)
		case p.i >= len(p.b):
			ok = p.syntax("looking for beginning of value")
		default:
			ok = elem()
		}
		if !ok {
			return false
		}
		if more, ok := p.next(']', "after array element"); !more {
			return ok
		}
	}
}

// open enters the object or array at p.i, at nesting depth depth; empty
// reports that it closed at once, with the byte end.
func (p *jsonParser) open(depth int, end byte) (empty, ok bool) {
	if depth > maxJSONDepth {
		return false, p.syntaxInToken("exceeded max depth")
	}
	p.i++
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == end {
		p.i++
		return true, true
	}
	return false, true
}

// next parses what follows a member or element: a comma, and more follow,
// or the closing byte end; anything else is a syntax error (context: after
// what).
func (p *jsonParser) next(end byte, context string) (more, ok bool) {
	p.ws()
	if p.i < len(p.b) {
		switch p.b[p.i] {
		case ',':
			p.i++
			p.ws()
			return true, true
		case end:
			p.i++
			return false, true
		}
	}
	return false, p.syntax(context)
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
		return p.members(depth, nil)
	case c == '[':
		return p.elements(depth, nil)
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
	ok := true
	if i < len(b) && b[i] == '.' {
		i, ok = p.digitRun(i+1, "after decimal point in numeric literal")
	}
	if ok && i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		i, ok = p.digitRun(i, "in exponent of numeric literal")
	}
	if !ok {
		return false
	}
	p.i = i
	return true
}

// digitRun parses the one or more digits at i that a fraction or an
// exponent needs (context: which), returning the index after them.
func (p *jsonParser) digitRun(i int, context string) (int, bool) {
	b := p.b
	if i >= len(b) || !isDigit(b[i]) {
		p.i = i
		return i, p.syntaxInToken(context)
	}
	for i < len(b) && isDigit(b[i]) {
		i++
	}
	return i, true
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

// jsonFieldNamed returns the field named by the string body name (esc: it
// has escapes), or noField; with request, only a request field.
func jsonFieldNamed(name []byte, esc, request bool) field {
	if esc {
		// Field names are short and ASCII; anything else cannot match.
		var buf [16]byte
		if len(name) > 6*len(buf) {
			return noField
		}
		for _, c := range name {
			if c >= utf8.RuneSelf {
				return noField
			}
		}
		u := unescape(buf[:0], name)
		if len(u) > len(buf) {
			return noField
		}
		name = u
	}
	if request {
		return requestFieldNamed(name)
	}
	return fieldNamed(name)
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
