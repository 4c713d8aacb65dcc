package protocol

// The encoding/json-based request decoder this package used before the
// hand-written one in request_json.go. It is kept as the oracle of
// FuzzDecodeJSONDiff, unchanged but for two things: it iterates the fields
// in a fixed order (stdFieldOrder) instead of Go's random map order, so that
// a request with several bad fields reports the same one on every run, and
// it decodes the fields added since ("if_absent", "partitions", "bitmap",
// "raw_value", "value_codec", "raw", "version", "versions").

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

func decodeJSONStd(msg []byte, lim Limits, nested bool) (Request, error) {
	trimmed := bytes.TrimLeft(msg, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return Request{}, errorf(CodeBadRequest, "request must be a JSON object")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(msg, &fields); err != nil {
		return Request{}, errorf(CodeBadRequest, "invalid JSON: %v", err)
	}
	var r Request
	if raw, ok := fields["op"]; ok {
		s, err := stdString("op", raw)
		if err != nil {
			return Request{}, err
		}
		if r.Op = ParseOp(s); r.Op == OpInvalid {
			return Request{}, errorf(CodeUnknownOp, "unknown op %q", s)
		}
	} else {
		return Request{}, errorf(CodeBadRequest, `missing "op"`)
	}
	var rv rawValue
	for _, name := range stdFieldOrder {
		if name == "if_absent" {
			if err := rv.setIn(&r); err != nil {
				return Request{}, err
			}
		}
		raw, ok := fields[name]
		if !ok {
			continue
		}
		var err error
		switch name {
		case "id":
			r.ID = raw
		case "key":
			r.Key, err = stdString(name, raw)
		case "value":
			r.Value = raw
		case "raw_value":
			var b string
			if b, err = stdString(name, raw); err == nil {
				rv.b, err = decodeBase64(fieldRawValue, []byte(b))
			}
		case "value_codec":
			var b string
			if b, err = stdString(name, raw); err == nil {
				rv.c, err = parseValueCodec(b)
			}
		case "if_absent":
			r.IfAbsent, err = stdBool(name, raw)
		case "raw":
			r.Raw, err = stdBool(name, raw)
		case "cursor":
			r.Cursor, err = stdString(name, raw)
		case "limit":
			r.Limit, err = stdInt(name, raw)
		case "hash_from":
			r.HashFrom, err = stdUint(name, raw)
		case "hash_to":
			r.HashTo, err = stdUint(name, raw)
		case "partitions":
			r.Partitions, err = stdInt(name, raw)
		case "bitmap":
			var b string
			if b, err = stdString(name, raw); err == nil {
				r.Bitmap, err = decodeBase64(fieldBitmap, []byte(b))
			}
		case "token":
			r.Token, err = stdString(name, raw)
		case "timeout_ms":
			r.TimeoutMS, err = stdInt(name, raw)
		case "version":
			var b string
			if b, err = stdString(name, raw); err == nil {
				r.Version, err = parseVersion(fieldVersion, []byte(b))
			}
		case "versions":
			r.Versions, err = stdBool(name, raw)
		case "ops":
			if nested {
				break // rejected by validate as a nested BATCH
			}
			r.Ops, err = stdOps(raw, lim)
		}
		if err != nil {
			return Request{}, err
		}
	}
	if err := validate(&r, &lim, nested); err != nil {
		return Request{}, err
	}
	return r, nil
}

func stdString(name string, raw json.RawMessage) (string, error) {
	if len(raw) == 0 || raw[0] != '"' {
		return "", errorf(CodeBadRequest, "%q must be a string", name)
	}
	if !utf8.Valid(raw) {
		return "", errorf(CodeBadRequest, "%q is not valid UTF-8", name)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", errorf(CodeBadRequest, "%q: %v", name, err)
	}
	return s, nil
}

func stdBool(name string, raw json.RawMessage) (bool, error) {
	var b bool
	if err := json.Unmarshal(raw, &b); err != nil || bytes.Equal(raw, []byte("null")) {
		return false, errorf(CodeBadRequest, "%q must be true or false", name)
	}
	return b, nil
}

func stdInt(name string, raw json.RawMessage) (int, error) {
	var n int
	if err := json.Unmarshal(raw, &n); err != nil || bytes.Equal(raw, []byte("null")) {
		return 0, errorf(CodeBadRequest, "%q must be an integer", name)
	}
	return n, nil
}

func stdUint(name string, raw json.RawMessage) (uint64, error) {
	var n uint64
	if err := json.Unmarshal(raw, &n); err != nil || bytes.Equal(raw, []byte("null")) {
		return 0, errorf(CodeBadRequest, "%q must be an unsigned 64-bit integer", name)
	}
	return n, nil
}

func stdOps(raw json.RawMessage, lim Limits) ([]Request, error) {
	if len(raw) == 0 || raw[0] != '[' {
		return nil, errorf(CodeBadRequest, `"ops" must be an array`)
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil {
		return nil, errorf(CodeBadRequest, `"ops": %v`, err)
	}
	if len(elems) > lim.MaxBatchOps {
		return nil, errorf(CodeTooLarge, "BATCH of %d ops exceeds the limit of %d", len(elems), lim.MaxBatchOps)
	}
	ops := make([]Request, len(elems))
	for i, e := range elems {
		r, err := decodeJSONStd(e, lim, true)
		if err != nil {
			pe := AsError(err)
			return nil, errorf(pe.Code, "ops[%d]: %s", i, pe.Message)
		}
		ops[i] = r
	}
	return ops, nil
}

// stdFieldOrder is the order in which decodeJSONStd checks the fields after
// "op"; decodeJSON checks them in the same order.
var stdFieldOrder = []string{"id", "key", "value", "raw_value", "value_codec", "if_absent", "cursor", "limit", "hash_from", "hash_to",
	"partitions", "bitmap", "raw", "token", "timeout_ms", "version", "versions", "ops"}
