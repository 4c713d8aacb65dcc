package protocol

import (
	"strings"

	"github.com/zshard/zshard/internal/hlc"
)

// fastJSONReply decodes the JSON replies clients read in bulk (SCAN and
// GET_ALL pages, DIGEST, DELETE_PARTITIONS, GET_ONE, writes, errors,
// BATCHes of GET_ONE and writes, with or without versions) without
// reflection: one pass that checks the syntax and keeps the spans of raw
// values, so a SCAN page costs no allocation per entry beyond its Entry.
// Strings without escapes and raw values (ID, Value) alias msg; an error's
// code and message are copied, since errors outlive replies.
// ok is false for anything it does not handle exactly as the
// encoding/json-based decoder does — a field it does not know (stats,
// node, protocol, or any other spelling; a collection, digests or results
// inside a BATCH's results), a value of an unexpected type (null
// included), a string that is not valid UTF-8 — and the caller falls back
// to that decoder. FuzzDecodeReplyJSONDiff checks the two agree.
func fastJSONReply(msg []byte) (r Reply, ok bool) {
	p := jsonParser{b: msg}
	p.ws()
	if !p.reply(&r, 1) {
		return Reply{}, false
	}
	p.ws()
	if p.i != len(msg) {
		return Reply{}, false
	}
	return r, true
}

// reply parses the reply object at p.i, at nesting depth depth (1 for a
// message, 3 for a result of a BATCH: inside the object and the array),
// into *r.
func (p *jsonParser) reply(r *Reply, depth int) bool {
	if p.i >= len(p.b) || p.b[p.i] != '{' {
		return false
	}
	var e Error
	if !p.replyMembers(r, &e, depth) {
		return false
	}
	switch r.Status {
	case StatusOK:
		r.Status = StatusOK // not aliasing msg
	case StatusError:
		r.Status = StatusError
		r.Err = &Error{Code: ownCode(e.Code), Message: strings.Clone(e.Message)}
	default:
		return false // the standard decoder words the error
	}
	return true
}

// replyMembers parses the members of a reply object at nesting depth
// depth into r, the code and message of an error reply into e: one case
// per field fastJSONReply decodes, each parsing straight into its member.
// The collections (collection, digests, results) are parsed only at the
// top (depth 1): their parsers count nesting from there.
func (p *jsonParser) replyMembers(r *Reply, e *Error, depth int) bool {
	if empty, ok := p.open(depth, '}'); empty || !ok {
		return ok
	}
	top := depth == 1
	for {
		name, esc, ok := p.name()
		if !ok {
			return false
		}
		switch f := jsonFieldNamed(name, esc, false); {
		case f == fieldStatus:
			ok = p.replyString(&r.Status)
		case f == fieldError:
			ok = p.replyString((*string)(&e.Code))
		case f == fieldMessage:
			ok = p.replyString(&e.Message)
		case f == fieldID:
			ok = p.rawValue(&r.ID, depth+1)
		case f == fieldKey:
			ok = p.replyString(&r.Key)
		case f == fieldValue:
			ok = p.rawValue(&r.Value, depth+1)
		case f == fieldCursor:
			ok = p.replyString(&r.Cursor)
		case f == fieldToken:
			ok = p.replyString(&r.Token)
		case f == fieldDeleted:
			ok = p.replyBool(&r.Deleted)
		case f == fieldSuperseded:
			ok = p.replyBool(&r.Superseded)
		case f == fieldVersion:
			ok = p.replyVersion(&r.Version)
		case f == fieldCount:
			ok = p.replyInt(&r.Count)
		case f == fieldCollection && top:
			ok = p.collection(&r.Collection)
		case f == fieldDigests && top:
			ok = p.digests(&r.Digests)
		case f == fieldResults && top:
			ok = p.results(&r.Results)
		default:
			return false
		}
		if !ok {
			return false
		}
		if more, ok := p.next('}', "after object key:value pair"); !more {
			return ok
		}
	}
}

// results parses the results of a BATCH reply, [reply,...].
func (p *jsonParser) results(dst *[]Reply) bool {
	return replyArray(p, dst, func(r *Reply) bool { return p.reply(r, 3) })
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
	v, err := p.str(fieldStatus, jsonSpan{s, p.i})
	*dst = v
	return err == nil
}

// replyVersion parses a version, a string of 32 hex digits, into *dst.
func (p *jsonParser) replyVersion(dst *hlc.Version) bool {
	var s string
	if !p.replyString(&s) {
		return false
	}
	v, err := parseVersion(fieldVersion, aliasBytes(s))
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
// {"key":k,"raw_value":b64,"value_codec":c}, or tombstones
// {"key":k,"deleted":true}, each with its "version" or not.
func (p *jsonParser) collection(dst *[]Entry) bool {
	return replyArray(p, dst, func(e *Entry) bool { return p.b[p.i] == '{' && p.entry(e) })
}

// entry parses one entry of a collection into *e.
func (p *jsonParser) entry(e *Entry) bool {
	var raw, codec string
	haveRaw, haveCodec := false, false
	if !p.members(3, func(name []byte, esc bool) bool {
		switch jsonFieldNamed(name, esc, false) {
		case fieldKey:
			return p.replyString(&e.Key)
		case fieldValue:
			return p.rawValue(&e.Value, 4)
		case fieldRawValue:
			haveRaw = true
			return p.replyString(&raw)
		case fieldValueCodec:
			haveCodec = true
			return p.replyString(&codec)
		case fieldDeleted:
			return p.replyBool(&e.Deleted)
		case fieldVersion:
			return p.replyVersion(&e.Version)
		}
		return false
	}) {
		return false
	}
	if isRaw, ok := entryShape(e, haveRaw, haveCodec); !isRaw || !ok {
		return ok
	}
	b, err := decodeBase64(fieldRawValue, aliasBytes(raw))
	if e.Codec = ParseCodec(codec); err != nil || e.Codec == 0 {
		return false
	}
	e.Value = b
	return true
}

// entryShape checks the fields a hand-written decoder found in a
// collection entry: a tombstone carries no value, and a raw value comes as
// both "raw_value" and "value_codec", without "value". isRaw reports that
// the entry's value is the raw one, still to be set; ok false leaves the
// entry to the standard decoder, which words the error.
func entryShape(e *Entry, haveRaw, haveCodec bool) (isRaw, ok bool) {
	switch {
	case e.Deleted && (e.Value != nil || haveRaw || haveCodec):
		return false, false
	case !haveRaw && !haveCodec:
		return false, true
	case !haveRaw || !haveCodec || e.Value != nil:
		return false, false
	}
	return true, true
}

// digests parses [[partition,keys,sum],...].
func (p *jsonParser) digests(dst *[]Digest) bool {
	return replyArray(p, dst, p.digest)
}

// digest parses one [partition,keys,sum] into *d.
func (p *jsonParser) digest(d *Digest) bool {
	if p.b[p.i] != '[' {
		return false
	}
	var v [3]uint64
	n := 0
	if !p.elements(3, func() bool {
		if n == 3 || !p.replyUint(&v[n]) {
			return false
		}
		n++
		return true
	}) || n != 3 {
		return false
	}
	var ok bool
	*d, ok = digestOf(v)
	return ok
}

// maxArrayGuess bounds replyArray's guess of an array's length, so an
// odd first element (short, then long ones) costs at most this many
// elements of memory; a longer array grows past it.
const maxArrayGuess = 1 << 14

// replyArray parses an array of a reply's top-level field into *dst, each
// element with elem (p.i at it), into a slice sized by arrayGuess at the
// first element.
func replyArray[T any](p *jsonParser, dst *[]T, elem func(*T) bool) bool {
	if p.i >= len(p.b) || p.b[p.i] != '[' {
		return false
	}
	var out []T
	ok := p.elements(2, func() bool {
		if out == nil {
			out = make([]T, 0, p.arrayGuess(3, maxArrayGuess))
		}
		// Parsed in place: a T of its own would escape to the heap.
		var zero T
		out = append(out, zero)
		return elem(&out[len(out)-1])
	})
	if out == nil {
		out = []T{} // an empty array
	}
	*dst = out
	return ok
}
