package protocol

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

func fuzzSeeds(f *testing.F) {
	for _, s := range []string{
		`{"op":"PUT","key":"k","value":"v"}`,
		`{"op":"GET_ONE","key":"k"}`,
		`{"op":"GET_ALL"}`,
		`{"op":"DELETE","key":"k","id":1}`,
		`{"op":"SCAN","cursor":"00000000000000ffk","limit":2,"hash_from":1,"hash_to":99}`,
		`{"op":"BATCH","ops":[{"op":"PUT","key":"a","value":{"x":[1,2]}},{"op":"GET_ONE","key":"a"}]}`,
		`{"op":"SYNC","token":"t","timeout_ms":10}`,
		` {"op":"PING"}`,
		`{"op":"STATS","unknown":[{}]}`,
		`{"op":"SCAN","partitions":12,"bitmap":"AQg=","limit":5}`,
		`{"op":"BATCH","ops":[{"op":"PUT","key":"a","value":1,"if_absent":true}]}`,
		`{"op":"DIGEST","partitions":4,"bitmap":"Cg==","hash_from":1,"hash_to":99}`,
		`{"op":"DELETE_PARTITIONS","partitions":1,"bitmap":"AQ==","cursor":"00000000000000ffk","limit":6}`,
		`{"op":"PUT","key":"k","raw_value":"xAL/AA==","value_codec":"msgpack","if_absent":true}`,
		`{"op":"BATCH","ops":[{"op":"PUT","key":"a","raw_value":"MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkw","value_codec":"json"}]}`,
		`{"op":"BATCH","ops":[{"op":"PUT","key":"a","raw_value":"xAL/AA==","value_codec":"msgpack"}]}`,
		`{"op":"SCAN","raw":true,"partitions":12,"bitmap":"AQg=","limit":5}`,
		`{"op":"DIGEST","raw":true,"partitions":4,"bitmap":"Cg=="}`,
		`{"op":"PUT","key":"k","value":"v","version":"0000018c6d4a3b2c0001a1b2c3d4e5f6"}`,
		`{"op":"DELETE","key":"k","version":"0000018C6D4A3B2C0001A1B2C3D4E5F6"}`,
		`{"op":"GET_ONE","key":"k","versions":true}`,
		`{"op":"SCAN","versions":true,"raw":true,"partitions":12,"bitmap":"AQg=","limit":5}`,
		`{"op":"DIGEST","versions":true,"partitions":4,"bitmap":"Cg=="}`,
		`{"op":"BATCH","version":"0000018c6d4a3b2c0001a1b2c3d4e5f6","ops":[{"op":"PUT","key":"a","value":1},` +
			`{"op":"DELETE","key":"b","version":"0000018c6d4a3b300001a1b2c3d4e5f6"},{"op":"SYNC","token":"t"}]}`,
		`{"op":"GET_ONE","key":"k","version":"0000018c6d4a3b2c0001a1b2c3d4e5f6"}`,
		`{"op":"PUT","key":"k","value":"v","version":"0000018c6d4a3b2c0001a1b2c3d4e5fx"}`,
		`[]`, `{`, `{"op":7}`, "",
	} {
		f.Add([]byte(s))
	}
	f.Add([]byte{0x83, 0xa2, 'o', 'p', 0xa3, 'P', 'U', 'T', 0xa3, 'k', 'e', 'y', 0xa1, 'k', 0xa5, 'v', 'a', 'l', 'u', 'e', 0x92, 0x01, 0xcb, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0x82, 0xa2, 'o', 'p', 0xa5, 'B', 'A', 'T', 'C', 'H', 0xa3, 'o', 'p', 's', 0x91, 0x81, 0xa2, 'o', 'p', 0xa4, 'P', 'I', 'N', 'G'})
	f.Add([]byte{0xdf, 0xff, 0xff, 0xff, 0xff})
	// {"op":"PUT","key":"k","raw_value":bin(c4 02 ff 00),"value_codec":"msgpack"}
	f.Add([]byte{0x84, 0xa2, 'o', 'p', 0xa3, 'P', 'U', 'T', 0xa3, 'k', 'e', 'y', 0xa1, 'k',
		0xa9, 'r', 'a', 'w', '_', 'v', 'a', 'l', 'u', 'e', 0xc4, 0x04, 0xc4, 0x02, 0xff, 0x00,
		0xab, 'v', 'a', 'l', 'u', 'e', '_', 'c', 'o', 'd', 'e', 'c', 0xa7, 'm', 's', 'g', 'p', 'a', 'c', 'k'})
	// {"op":"SCAN","raw":true}
	f.Add([]byte{0x82, 0xa2, 'o', 'p', 0xa4, 'S', 'C', 'A', 'N', 0xa3, 'r', 'a', 'w', 0xc3})
	// Versions in msgpack: a PUT, a GET_ONE and a SCAN that ask for them,
	// a BATCH with a base version.
	for _, r := range []Request{
		{Op: OpPut, Key: "k", Value: []byte{0xa1, 'v'}, Version: testVersion},
		{Op: OpGetOne, Key: "k", Versions: true},
		{Op: OpScan, Versions: true, Raw: true, Limit: 5},
		{Op: OpBatch, Version: testVersion, Ops: []Request{{Op: OpPut, Key: "a", Value: []byte{0x01}}, {Op: OpDelete, Key: "b", Version: testVersion.Add(4)}}},
	} {
		b, err := AppendRequest(nil, Msgpack, &r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// FuzzDecodeRequest checks that no input panics the decoder, that every
// failure is a protocol error, and that every accepted request survives an
// encode/decode round trip unchanged.
func FuzzDecodeRequest(f *testing.F) {
	fuzzSeeds(f)
	lim := Limits{MaxBatchOps: 64}
	f.Fuzz(func(t *testing.T, msg []byte) {
		r, c, err := DecodeRequest(msg, lim)
		if err != nil {
			pe, ok := err.(*Error)
			if !ok || !slices.Contains(Codes, pe.Code) || pe.Message == "" {
				t.Fatalf("error %#v is not a protocol error", err)
			}
			// The error reply must itself be well-formed.
			reply := ErrorReply(err)
			b, err := AppendReply(nil, c, &reply)
			if err != nil {
				t.Fatal(err)
			}
			if c == JSON && !json.Valid(b) {
				t.Fatalf("invalid JSON error reply %q", b)
			}
			if _, _, err := DecodeReply(b); err != nil {
				t.Fatalf("error reply %q does not decode: %v", b, err)
			}
			return
		}
		b, err := AppendRequest(nil, c, &r)
		if err != nil {
			t.Fatal(err)
		}
		r2, c2, err := DecodeRequest(b, Limits{MaxBatchOps: 64, MaxMessageBytes: 1 << 30})
		if err != nil {
			t.Fatalf("re-encoded request %q does not decode: %v", b, err)
		}
		if c2 != c {
			t.Fatalf("codec changed: %v -> %v", c, c2)
		}
		if !requestsEqual(r, r2) {
			t.Fatalf("round trip changed the request:\n%#v\n%#v", r, r2)
		}
		// An ingest BATCH re-encoded by BatchBuilder decodes the same
		// (BatchBuilder has no raw PUT and no versions).
		if r.Op != OpBatch || r.ID != nil || !r.Version.IsZero() {
			return
		}
		bb := NewBatchBuilder(c, nil)
		for _, op := range r.Ops {
			if !op.Version.IsZero() {
				return
			}
			switch op.Op {
			case OpPut:
				if op.ValueCodec != 0 {
					return
				}
				bb.Put(op.Key, op.Value)
			case OpDelete:
				bb.Delete(op.Key)
			case OpSync:
				bb.Sync(op.Token)
			default:
				return
			}
		}
		want := Request{Op: OpBatch, Ops: make([]Request, len(r.Ops))}
		for i, op := range r.Ops {
			want.Ops[i] = Request{Op: op.Op, Key: op.Key, Value: op.Value, Token: op.Token}
		}
		msg = bb.Bytes()
		r3, _, err := DecodeRequest(msg, Limits{MaxBatchOps: 64, MaxMessageBytes: 1 << 30})
		if err != nil || !requestsEqual(want, r3) {
			t.Fatalf("BatchBuilder re-encoding %q: %v\n%#v\n%#v", msg, err, want, r3)
		}
	})
}

func requestsEqual(a, b Request) bool {
	if a.Op != b.Op || !bytes.Equal(a.ID, b.ID) || a.Key != b.Key || !bytes.Equal(a.Value, b.Value) || a.ValueCodec != b.ValueCodec || a.Raw != b.Raw ||
		a.Cursor != b.Cursor || a.Limit != b.Limit || a.HashFrom != b.HashFrom || a.HashTo != b.HashTo ||
		a.IfAbsent != b.IfAbsent || a.Partitions != b.Partitions || !bytes.Equal(a.Bitmap, b.Bitmap) || (a.Bitmap == nil) != (b.Bitmap == nil) ||
		a.Token != b.Token || a.TimeoutMS != b.TimeoutMS || a.Version != b.Version || a.Versions != b.Versions || len(a.Ops) != len(b.Ops) {
		return false
	}
	for i := range a.Ops {
		if !requestsEqual(a.Ops[i], b.Ops[i]) {
			return false
		}
	}
	return true
}

// FuzzMsgpackSkip checks the hand-written msgpack skipper against the
// msgpack library: both accept the same first object with the same length.
func FuzzMsgpackSkip(f *testing.F) {
	fuzzSeeds(f)
	f.Add([]byte{0xc7, 0x01, 0x05, 0xaa})
	f.Add([]byte{0xd6, 0xff, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := mpReader{b: b}
		err := r.skip()
		dec := msgpack.NewDecoder(bytes.NewReader(b))
		raw, libErr := dec.DecodeRaw()
		switch {
		case err == nil && libErr == nil:
			if len(raw) != r.i {
				t.Fatalf("skip read %d bytes, library %d, of %x", r.i, len(raw), b)
			}
		case err == nil:
			t.Fatalf("skip accepted %x (%d bytes), library: %v", b, r.i, libErr)
		case libErr == nil:
			t.Fatalf("library accepted %x (%d bytes), skip: %v", b, len(raw), err)
		}
	})
}

// FuzzConvertValue checks cross-codec value conversion: it never panics,
// JSON output is valid JSON, and a converted value converts back.
func FuzzConvertValue(f *testing.F) {
	for _, s := range []string{`"v"`, `1`, `-1.5e300`, `[1,{"a":null}]`, `{"k":"\u00e9"}`, `18446744073709551616`} {
		f.Add([]byte(s), true)
	}
	f.Add([]byte{0x81, 0x01, 0xa1, 'x'}, false)
	f.Add([]byte{0xd6, 0xff, 0, 0, 0, 1}, false)
	f.Add([]byte{0xc4, 0x02, 0xff, 0x00}, false)
	f.Fuzz(func(t *testing.T, v []byte, fromJSON bool) {
		from, to := Msgpack, JSON
		if fromJSON {
			from, to = JSON, Msgpack
			if !json.Valid(v) {
				return
			}
		} else {
			r := mpReader{b: v}
			if r.skip() != nil || r.i != len(v) {
				return
			}
		}
		out, err := ConvertValue(v, from, to)
		if err != nil {
			if AsError(err).Code != CodeUnconvertible {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if to == JSON && !json.Valid(out) {
			t.Fatalf("invalid JSON %q from %x", out, v)
		}
		if to == Msgpack {
			r := mpReader{b: out}
			if r.skip() != nil || r.i != len(out) {
				t.Fatalf("invalid msgpack %x from %q", out, v)
			}
		}
		if _, err := ConvertValue(out, to, from); err != nil {
			t.Fatalf("%x converted to %x does not convert back: %v", v, out, err)
		}
	})
}

// FuzzDecodeReply checks that the client-side reply decoder never panics.
func FuzzDecodeReply(f *testing.F) {
	for _, s := range []string{`{"status":"OK"}`, `{"status":"OK","collection":[{"key":"k","value":1}]}`,
		`{"status":"error","error":"x","message":"m"}`, `{"status":"OK","results":[{"status":"OK"}]}`,
		`{"status":"OK","digests":[[3,2,18446744073709551615]]}`, `{"status":"OK","count":7,"cursor":""}`,
		`{"status":"OK","collection":[{"key":"k","raw_value":"xAL/AA==","value_codec":"msgpack"}],"cursor":""}`,
		`{"status":"OK","node":"n","protocol":1,"features":["raw","versions"]}`,
		`{"status":"OK","key":"k","value":1,"version":"0000018c6d4a3b2c0001a1b2c3d4e5f6"}`,
		`{"status":"error","error":"not_found","message":"m","version":"0000018c6d4a3b2c0001a1b2c3d4e5f6"}`,
		`{"status":"OK","superseded":true}`, `{"status":"OK","deleted":false,"superseded":true}`,
		`{"status":"OK","results":[{"status":"OK","superseded":true},{"status":"OK","key":"k","value":1,"version":"0000018c6d4a3b2c0001a1b2c3d4e5f6"}]}`,
		`{"status":"OK","collection":[{"key":"k","value":1,"version":"0000018c6d4a3b2c0001a1b2c3d4e5f6"},` +
			`{"key":"j","deleted":true,"version":"0000018c6d4a3b2d0001a1b2c3d4e5f6"},` +
			`{"key":"i","raw_value":"xAL/AA==","value_codec":"msgpack","version":"0000018c6d4a3b2e0001a1b2c3d4e5f6"}],"cursor":""}`} {
		f.Add([]byte(s))
	}
	for _, r := range versionedReplies(Msgpack, []byte{0x01}) {
		b, err := AppendReply(nil, Msgpack, &r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0x81, 0xa6, 's', 't', 'a', 't', 'u', 's', 0xa2, 'O', 'K'})
	// {"status":"OK","collection":[{"key":"k","raw_value":bin(01),"value_codec":"json"}]}
	f.Add([]byte{0x82, 0xa6, 's', 't', 'a', 't', 'u', 's', 0xa2, 'O', 'K', 0xaa, 'c', 'o', 'l', 'l', 'e', 'c', 't', 'i', 'o', 'n', 0x91,
		0x83, 0xa3, 'k', 'e', 'y', 0xa1, 'k', 0xa9, 'r', 'a', 'w', '_', 'v', 'a', 'l', 'u', 'e', 0xc4, 0x01, '1',
		0xab, 'v', 'a', 'l', 'u', 'e', '_', 'c', 'o', 'd', 'e', 'c', 0xa4, 'j', 's', 'o', 'n'})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, _, err := DecodeReply(b)
		if err == nil && r.Status != StatusOK && r.Status != StatusError {
			t.Fatalf("accepted status %q", r.Status)
		}
	})
}

// FuzzDecodeReplyJSONDiff checks the hand-written JSON reply decoder
// against the encoding/json-based one: whatever the fast one accepts, the
// other accepts with the same result.
func FuzzDecodeReplyJSONDiff(f *testing.F) {
	for _, s := range []string{`{"status":"OK"}`, `{"status":"OK","collection":[{"key":"k","value":1}],"cursor":"c"}`,
		`{"status":"OK","collection":[{"key":"a\u00e9","value":{"x":[1,null]}},{"value":"v","key":"b"}],"cursor":""}`,
		`{"status":"error","error":"x","message":"m","id":[1]}`, `{"status":"OK","key":"k","value":"v","id":7}`,
		`{"status":"OK","deleted":true}`, `{"status":"OK","token":"t"}`, `{"status":"OK","results":[{"status":"OK"}]}`,
		`{"status":"OK","digests":[[3,2,18446744073709551615],[4,1,0]]}`, `{"status":"OK","count":7,"cursor":"x"}`,
		`{"status":"OK","digests":[[3,2]]}`, `{"status":"OK","count":-1}`, `{"Status":"OK"}`, `{"status":"OK","value":null}`,
		` {"status" : "OK" , "collection" : [ ] } `, `{"status":"OK","collection":null}`, `{"status":"maybe"}`,
		`{"status":"OK","collection":[{"key":"k","raw_value":"xAL/AA==","value_codec":"msgpack"},{"key":"j","value":1}],"cursor":""}`,
		`{"status":"OK","collection":[{"key":"k","raw_value":"MQ==","value_codec":"json","value":1}]}`,
		`{"status":"OK","collection":[{"key":"k","raw_value":"MQ=","value_codec":"json"}]}`,
		`{"status":"OK","collection":[{"key":"k","raw_value":"MQ==","value_codec":"xml"}]}`,
		`{"status":"OK","collection":[{"key":"k","raw_value":"MQ=="}]}`,
		`{"status":"OK","collection":[{"key":"k","value_codec":"json"}]}`,
		`{"status":"OK","collection":[{"key":"k","raw_value":null,"value_codec":"json"}]}`,
		`{"status":"OK","key":"k","value":1,"version":"0000018c6d4a3b2c0001a1b2c3d4e5f6"}`,
		`{"status":"OK","key":"k","value":1,"version":"0000018C6D4A3B2C0001A1B2C3D4E5F6"}`,
		`{"status":"OK","key":"k","value":1,"version":"0000018c6d4a3b2c0001a1b2c3d4e5f"}`,
		`{"status":"OK","key":"k","value":1,"version":null}`,
		`{"status":"OK","key":"k","value":1,"Version":"0000018c6d4a3b2c0001a1b2c3d4e5f6"}`,
		`{"status":"error","error":"not_found","message":"m","version":"0000018c6d4a3b2c0001a1b2c3d4e5f6"}`,
		`{"status":"OK","superseded":true}`, `{"status":"OK","deleted":false,"superseded":true}`, `{"status":"OK","superseded":1}`,
		`{"status":"OK","collection":[{"key":"k","value":1,"version":"0000018c6d4a3b2c0001a1b2c3d4e5f6"},` +
			`{"key":"j","deleted":true,"version":"0000018c6d4a3b2d0001a1b2c3d4e5f6"},{"key":"h","deleted":true},` +
			`{"key":"i","raw_value":"xAL/AA==","value_codec":"msgpack","version":"0000018c6d4a3b2e0001a1b2c3d4e5f6"}],"cursor":""}`,
		`{"status":"OK","collection":[{"key":"j","deleted":true,"value":1}]}`,
		`{"status":"OK","collection":[{"key":"j","deleted":false,"value":1}]}`,
		`{"status":"OK","collection":[{"key":"j","deleted":true,"raw_value":"MQ==","value_codec":"json"}]}`,
		`{"status":"OK","collection":[{"key":"j","deleted":true,"value_codec":"json"}]}`,
		`{"status":"OK","collection":[{"key":"j","value":1,"version":"x"}]}`,
		`{"status":"OK","collection":[{"key":"j","value":1,"version":1}]}`,
		`{"status":"OK","id":7,"results":[{"status":"OK","key":"a","value":{"x":[1,2]}},` +
			`{"status":"error","error":"not_found","message":"no key \"b\""},{"status":"OK","deleted":true}]}`,
		`{"status":"OK","results":[]}`, `{"status":"OK","results":null}`, `{"status":"OK","results":[1]}`,
		`{"status":"OK","results":[{"status":"OK","results":[]}]}`,
		`{"status":"OK","results":[{"status":"OK","collection":[]}]}`,
		`{"status":"OK","results":[{"status":"weird"}]}`,
		`{"status":"OK","results":[{"status":"OK","version":"0000018c6d4a3b2c0001a1b2c3d4e5f6","superseded":true}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fast, std, ok := fastAndStd(t, b, JSON, fastJSONReply)
		if ok && !repliesEqual(fast, std) {
			t.Fatalf("%q:\nfast %#v\n std %#v", b, fast, std)
		}
	})
}

// fastAndStd decodes b with the hand-written reply decoder fast of codec
// c and, when it accepts b, with the standard one, which must accept it
// too; ok reports whether fast accepted b.
func fastAndStd(t *testing.T, b []byte, c Codec, fast func([]byte) (Reply, bool)) (got, std Reply, ok bool) {
	t.Helper()
	if got, ok = fast(b); !ok {
		return got, std, false
	}
	std, err := decodeReply(b, c)
	if err != nil {
		t.Fatalf("fast decoder accepted %q, standard one: %v", b, err)
	}
	return got, std, true
}

func repliesEqual(a, b Reply) bool {
	if a.Status != b.Status || (a.Err == nil) != (b.Err == nil) || (a.Err != nil && *a.Err != *b.Err) ||
		!bytes.Equal(a.ID, b.ID) || (a.ID == nil) != (b.ID == nil) || a.Key != b.Key || !bytes.Equal(a.Value, b.Value) ||
		(a.Value == nil) != (b.Value == nil) || a.Version != b.Version || a.Cursor != b.Cursor || a.Deleted != b.Deleted ||
		a.Superseded != b.Superseded || a.Token != b.Token ||
		a.Count != b.Count || len(a.Collection) != len(b.Collection) || (a.Collection == nil) != (b.Collection == nil) ||
		!slices.Equal(a.Digests, b.Digests) || (a.Digests == nil) != (b.Digests == nil) ||
		len(a.Results) != len(b.Results) || (a.Results == nil) != (b.Results == nil) {
		return false
	}
	for i := range a.Results {
		if !repliesEqual(a.Results[i], b.Results[i]) {
			return false
		}
	}
	for i := range a.Collection {
		if a.Collection[i].Key != b.Collection[i].Key || !bytes.Equal(a.Collection[i].Value, b.Collection[i].Value) ||
			a.Collection[i].Codec != b.Collection[i].Codec || a.Collection[i].Version != b.Collection[i].Version ||
			a.Collection[i].Deleted != b.Collection[i].Deleted {
			return false
		}
	}
	return true
}
