package protocol

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"

	"github.com/vmihailenco/msgpack/v5"
)

// MaxConvertDepth bounds the nesting depth of a value ConvertValue accepts.
const MaxConvertDepth = 1000

// ConvertValue returns the raw value v, encoded in codec from, re-encoded
// in codec to. When from == to it returns v itself: values are never
// re-encoded on the way through a node unless the codecs differ.
//
// JSON to msgpack: objects become maps (keys sorted), arrays arrays, strings
// str, true/false/null bool/nil, and numbers the smallest msgpack integer
// that holds them exactly when they are integers in the int64/uint64 range,
// else float64. msgpack to JSON: str and bin become strings (bin as base64),
// integers and floats numbers, the timestamp extension an RFC 3339 string.
// Maps with non-string keys, other extension types, NaN and infinities, and
// values nested deeper than MaxConvertDepth fail with CodeUnconvertible.
func ConvertValue(v []byte, from, to Codec) ([]byte, error) {
	if from == to {
		return v, nil
	}
	switch {
	case from == JSON && to == Msgpack:
		dec := json.NewDecoder(bytes.NewReader(v))
		dec.UseNumber()
		var x any
		if err := dec.Decode(&x); err != nil {
			return nil, errorf(CodeUnconvertible, "value is not valid JSON: %v", err)
		}
		x, err := fromJSONNumbers(x)
		if err != nil {
			return nil, err
		}
		var buf bytes.Buffer
		enc := msgpack.NewEncoder(&buf)
		enc.SetSortMapKeys(true)
		if err := enc.Encode(x); err != nil {
			return nil, errorf(CodeUnconvertible, "cannot encode value as msgpack: %v", err)
		}
		return buf.Bytes(), nil
	case from == Msgpack && to == JSON:
		if d, err := msgpackDepth(v); err != nil || d > MaxConvertDepth {
			return nil, errorf(CodeUnconvertible, "msgpack value is malformed or nested deeper than %d", MaxConvertDepth)
		}
		dec := msgpack.NewDecoder(bytes.NewReader(v))
		x, err := dec.DecodeInterface()
		if err != nil {
			return nil, errorf(CodeUnconvertible, "msgpack value has no JSON form: %v", err)
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(x); err != nil {
			return nil, errorf(CodeUnconvertible, "msgpack value has no JSON form: %v", err)
		}
		return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
	}
	return nil, errorf(CodeInternal, "cannot convert from %v to %v", from, to)
}

// fromJSONNumbers replaces json.Number by int64, uint64 or float64.
func fromJSONNumbers(x any) (any, error) {
	switch t := x.(type) {
	case json.Number:
		s := string(t)
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i, nil
		}
		if u, err := strconv.ParseUint(s, 10, 64); err == nil {
			return u, nil
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsInf(f, 0) {
			return nil, errorf(CodeUnconvertible, "number %s does not fit a float64", s)
		}
		return f, nil
	case map[string]any:
		for k, v := range t {
			nv, err := fromJSONNumbers(v)
			if err != nil {
				return nil, err
			}
			t[k] = nv
		}
	case []any:
		for i, v := range t {
			nv, err := fromJSONNumbers(v)
			if err != nil {
				return nil, err
			}
			t[i] = nv
		}
	}
	return x, nil
}

// msgpackDepth returns the maximum container nesting depth of one msgpack
// object, without recursion.
func msgpackDepth(v []byte) (int, error) {
	r := mpReader{b: v}
	var stack []int // objects still to read in each open container
	maxDepth := 0
	for {
		if n, ok, err := r.mapLen(); err != nil {
			return 0, err
		} else if ok {
			stack = append(stack, 2*n)
		} else if n, ok, err := r.arrayLen(); err != nil {
			return 0, err
		} else if ok {
			stack = append(stack, n)
		} else if err := r.skip(); err != nil {
			return 0, err
		} else if len(stack) == 0 {
			return maxDepth, nil
		} else {
			stack[len(stack)-1]--
		}
		maxDepth = max(maxDepth, len(stack))
		// Close every container that is complete.
		for len(stack) > 0 && stack[len(stack)-1] == 0 {
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				return maxDepth, nil
			}
			stack[len(stack)-1]--
		}
		if maxDepth > MaxConvertDepth {
			return maxDepth, nil
		}
	}
}
